/**
 * The service path (bin/qtestd: one process, a Session per connection) next to one QEMU process
 * per session:
 *   - session set-up: connect → reply to the first `endianness` (a new Session each), 1,000
 *     sessions one after another, all kept open; median ms and sessions/s;
 *   - memory: the service's RSS growth per idle session with 1,000 sessions live;
 *   - aggregate pipelined readl requests/s over 100 concurrent sessions: 100 connections to one
 *     service, next to 100 QEMU processes (one per session) driven the same way.
 *   - serial RTT: one session, one readl per round trip (`--serial-rtt ROOT N`: the service of the
 *     install at ROOT, so that an interleaved A/B of two builds can run this file twice).
 * The service's RSS is its accepting process plus its worker processes.
 * `node dist/bench/service.js` runs it alone; bench/run.ts calls serviceBenchmarks() too.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { disposeTargets, launch, LineClient, MACHINE_ARGS, median, rssKiB, targets } from './targets.js';
import type { Launched, Target } from './targets.js';

const SESSIONS = Number(process.env.BENCH_SERVICE_SESSIONS ?? 1000);
const CONCURRENT = Number(process.env.BENCH_SERVICE_CONCURRENT ?? 100);
const OPS_PER_SESSION = Number(process.env.BENCH_SERVICE_OPS ?? 20_000);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function dial(path: string): Promise<Socket> {
  return new Promise((res, rej) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.off('error', rej);
      res(s);
    });
    s.once('error', rej);
  });
}

/** RSS of `pid` and of its child processes (the service's workers), KiB. */
function treeRssKiB(pid: number): number {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    // gone, or no /proc: the process's own figure is all there is
  }
  return rssKiB(pid) + children.reduce((sum, c) => sum + rssKiB(c), 0);
}

async function startService(
  dir: string,
  root = '.',
): Promise<{ pid: number; sock: string; stop: () => Promise<void> }> {
  const sock = join(dir, 'qtest.sock');
  const child = spawn(
    process.execPath,
    [
      resolve(root, 'dist/src/cli/qtestd.js'),
      ...['--tcp', 'off', '--http', 'off', '--unix', sock, '--run-dir', join(dir, 'run')],
      ...[
        '--machine-args',
        [...MACHINE_ARGS, '-m', '512'].join(' '),
        '--max-sessions',
        String(SESSIONS + 10),
        '--idle-timeout',
        '0',
        '--log-level',
        'warn',
      ],
    ],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  for (let i = 0; i < 500; i++) {
    try {
      (await dial(sock)).destroy();
      break;
    } catch {
      await sleep(20);
    }
  }
  return {
    pid: child.pid!,
    sock,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Pipelined readl on every client at once; total replies per second. */
async function aggregate(clients: LineClient[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  await Promise.all(clients.map((c) => c.pipeline('readl 0x40001000', OPS_PER_SESSION, 64)));
  return (clients.length * OPS_PER_SESSION) / (Number(process.hrtime.bigint() - t0) / 1e9);
}

export async function serviceBenchmarks(qemu?: Target): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-bench-service-'));
  const service = await startService(dir);
  try {
    // one session first, so that the workers are up before the baseline is taken
    const first = new LineClient(await dial(service.sock));
    if ((await first.request('endianness')) !== 'OK little') throw new Error('no first session');
    await sleep(300);
    const rss0 = treeRssKiB(service.pid);
    const sockets: Socket[] = [];
    const clients: LineClient[] = [];
    const setup: number[] = [];
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < SESSIONS; i++) {
      const s0 = process.hrtime.bigint();
      const s = await dial(service.sock);
      const c = new LineClient(s);
      const reply = await c.request('endianness');
      setup.push(Number(process.hrtime.bigint() - s0) / 1e6);
      if (reply !== 'OK little') throw new Error(`service session ${i}: ${reply}`);
      sockets.push(s);
      clients.push(c);
    }
    out.serviceSessionSetupMs = median(setup);
    out.serviceSessionsPerSec = SESSIONS / (Number(process.hrtime.bigint() - t0) / 1e9);
    await sleep(500);
    const rss1 = treeRssKiB(service.pid);
    out[`serviceRssMiB_${SESSIONS}Sessions`] = rss1 / 1024;
    out.serviceIdleKiBPerSession = (rss1 - rss0) / SESSIONS;
    // Warm up, then measure the aggregate over CONCURRENT sessions.
    const some = clients.slice(0, CONCURRENT);
    await Promise.all(some.map((c) => c.pipeline('readl 0x40001000', 2000, 64)));
    out[`serviceAggregateOpsPerSec_${CONCURRENT}`] = await aggregate(some);
    for (const s of sockets) s.destroy();
  } finally {
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  if (qemu) {
    // One QEMU per session: launch CONCURRENT of them (sequentially, as a test runner would).
    const launched: Launched[] = [];
    try {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < CONCURRENT; i++) launched.push(await launch(qemu));
      out[`qemuSessionsPerSec_${CONCURRENT}`] = CONCURRENT / (Number(process.hrtime.bigint() - t0) / 1e9);
      await sleep(300);
      let rss = 0;
      for (const l of launched) rss += rssKiB(l.child.pid!);
      out[`qemuRssMiB_${CONCURRENT}Processes`] = rss / 1024;
      out.qemuIdleKiBPerSession = rss / CONCURRENT;
      const clients = launched.map((l) => new LineClient(l.qtest));
      await Promise.all(clients.map((c) => c.pipeline('readl 0x40001000', 2000, 64)));
      out[`qemuAggregateOpsPerSec_${CONCURRENT}`] = await aggregate(clients);
    } finally {
      // Stopped all at once: no figure depends on it, and one by one it took a minute.
      await Promise.all(launched.map((l) => l.stop()));
    }
  }
  return out;
}

/** Median and mean µs of `n` serial readl round trips on one session of the service at `root`. */
export async function serialRtt(root: string, n: number): Promise<{ medianUs: number; meanUs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-bench-rtt-'));
  const service = await startService(dir, root);
  try {
    const c = new LineClient(await dial(service.sock));
    if ((await c.request('endianness')) !== 'OK little') throw new Error('no session');
    for (let i = 0; i < 2000; i++) await c.request('readl 0x40001000');
    const rtts: number[] = [];
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const s0 = process.hrtime.bigint();
      await c.request('readl 0x40001000');
      rtts.push(Number(process.hrtime.bigint() - s0) / 1e3);
    }
    const meanUs = Number(process.hrtime.bigint() - t0) / 1e3 / n;
    return { medianUs: median(rtts), meanUs };
  } finally {
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const isMain = process.argv[1] && resolve(process.argv[1]) === resolve('dist/bench/service.js');
if (isMain && process.argv[2] === '--serial-rtt') {
  serialRtt(process.argv[3] ?? '.', Number(process.argv[4] ?? 20_000)).then(
    (r) => {
      process.stderr.write(`serialRttMedianUs | ${r.medianUs.toFixed(2)}\nserialRttMeanUs | ${r.meanUs.toFixed(2)}\n`);
      process.exit(0);
    },
    (e: Error) => {
      process.stderr.write(`bench serial RTT failed: ${e.stack}\n`);
      process.exit(1);
    },
  );
} else if (isMain) {
  serviceBenchmarks(targets().find((t) => t.name === 'qemu'))
    .then((r) => {
      for (const [k, v] of Object.entries(r)) process.stderr.write(`${k} | ${v.toFixed(2)}\n`);
      disposeTargets();
      process.exit(0);
    })
    .catch((e) => {
      process.stderr.write(`bench service failed: ${(e as Error).stack}\n`);
      disposeTargets();
      process.exit(1);
    });
}
