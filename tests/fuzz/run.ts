/**
 * `npm run fuzz -- --hostile …`: the hostile mixes against a real service instead (tests/fuzz/hostile.ts).
 * `npm run fuzz -- [--requests N] [--smmu-programs N] [--qmp N] [--seconds S] [--seed S] [--sessions N]
 *                  [--watchdog-ms MS] [--max-rss-mib MIB]`
 * Runs the fuzz engine in a worker thread; the main thread is the watchdog for true hangs (no
 * progress for --stall-ms) and prints the summary. `--seconds S` alone fuzzes until S seconds pass.
 * Exit status 1 on any crash, hang or invariant violation.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { DEFAULT_FUZZ, formatSummary, runFuzz } from './engine.js';
import type { FuzzOptions, FuzzSummary } from './engine.js';

export function parseFuzzArgs(argv: string[]): FuzzOptions & { stallMs: number } {
  const o = { ...DEFAULT_FUZZ, seed: Date.now() % 1000000007, stallMs: 60000 };
  let counted = false;
  for (let i = 0; i < argv.length; i++) {
    const v = Number(argv[i + 1]);
    const need = () => {
      if (!Number.isFinite(v) || v < 0) throw new Error(`${argv[i]} needs a non-negative number`);
      i++;
      return v;
    };
    switch (argv[i]) {
      case '--requests':
        o.requests = need();
        counted = true;
        break;
      case '--smmu-programs':
        o.smmuPrograms = need();
        counted = true;
        break;
      case '--qmp':
        o.qmp = need();
        counted = true;
        break;
      case '--seconds':
        o.seconds = need();
        break;
      case '--seed':
        o.seed = need();
        break;
      case '--sessions':
        o.sessions = Math.max(1, need());
        break;
      case '--watchdog-ms':
        o.watchdogMs = need();
        break;
      case '--max-rss-mib':
        o.maxRssMiB = need();
        break;
      case '--stall-ms':
        o.stallMs = need();
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  if (o.seconds > 0 && !counted) {
    o.requests = Infinity;
    o.smmuPrograms = Infinity;
    o.qmp = Infinity;
  }
  return o;
}

/** Run in a worker with a stall watchdog; resolves with the summary (or a synthetic one on a hang/crash of the worker). */
export function fuzzInWorker(
  o: FuzzOptions & { stallMs: number },
  log: (s: string) => void = () => {},
): Promise<FuzzSummary> {
  return new Promise((resolve) => {
    const progress = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { o, progress } });
    let last = -1;
    let lastChange = Date.now();
    let done = false;
    const finish = (s: FuzzSummary) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      resolve(s);
    };
    const synthetic = (kind: 'hang' | 'crash', detail: string): FuzzSummary => ({
      seed: o.seed,
      qtestRequests: 0,
      smmuPrograms: 0,
      smmuRequests: 0,
      qmpMessages: 0,
      crashes: kind === 'crash' ? 1 : 0,
      hangs: kind === 'hang' ? 1 : 0,
      violations: [{ kind, phase: 'worker', input: `request #${Atomics.load(progress, 0)} (seed ${o.seed})`, detail }],
      maxRssMiB: 0,
      slowestMs: 0,
      slowestInput: '',
      elapsedMs: 0,
    });
    const timer = setInterval(() => {
      const p = Atomics.load(progress, 0);
      if (p !== last) {
        last = p;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > o.stallMs) {
        void worker.terminate();
        finish(synthetic('hang', `no progress for ${o.stallMs} ms after ~${p} requests`));
      }
    }, 500);
    worker.on('message', (m: { log?: string; summary?: FuzzSummary }) => {
      if (m.log) log(m.log);
      if (m.summary) finish(m.summary);
    });
    worker.on('error', (e) => finish(synthetic('crash', `worker died: ${e.stack ?? e.message}`)));
    worker.on('exit', (code) => finish(synthetic('crash', `worker exited with ${code} before reporting`)));
  });
}

if (!isMainThread && parentPort && (workerData as { o?: unknown })?.o) {
  const { o, progress } = workerData as { o: FuzzOptions; progress: Int32Array };
  const summary = runFuzz({
    ...o,
    onProgress: (n) => Atomics.store(progress, 0, n),
    log: (l) => parentPort!.postMessage({ log: l }),
  });
  parentPort.postMessage({ summary });
} else if (isMainThread && process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--hostile')) {
    const { formatHostile, parseHostileArgs, runHostile } = await import('./hostile.js');
    let ho;
    try {
      ho = parseHostileArgs(process.argv.slice(2).filter((a) => a !== '--hostile'));
    } catch (e) {
      process.stderr.write(`${(e as Error).message}\n`);
      process.exit(2);
    }
    process.stderr.write(`hostile fuzzing with seed ${ho.seed} for ${ho.seconds} s, ${ho.sessions} connections\n`);
    const hs = await runHostile(ho, (l) => process.stderr.write(l + '\n'));
    process.stdout.write(formatHostile(hs) + '\n');
    process.exit(hs.problems.length ? 1 : 0);
  }
  let opts;
  try {
    opts = parseFuzzArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(2);
  }
  process.stderr.write(`fuzzing with seed ${opts.seed}${opts.seconds ? ` for ${opts.seconds} s` : ''}\n`);
  const s = await fuzzInWorker(opts, (l) => process.stderr.write(l + '\n'));
  process.stdout.write(formatSummary(s) + '\n');
  process.exit(s.violations.length ? 1 : 0);
}
