/**
 * `npm run fuzz -- --hostile [--seconds S] [--sessions N] [--seed S] [--stall-ms MS]
 * [--request-time S]`: the hostile
 * mixes of tests/fuzz/hostile-mixes.ts against a real `qtestd` service (bin/qtestd, --workers 2,
 * a temporary run dir, --max-line 4 MiB, --request-time 10 s). N connections loop over seeded mixes while a probe session sends `readl`
 * in a loop and a poller asks /healthz. The run lasts S seconds, and longer until every mix has run
 * at least once; then the rounds in flight are disconnected and the service gets SIGTERM.
 * Exit status 1 if the service died, the probe, /healthz or a hostile round got no answer within
 * the stall limit, the service did not exit 0 on SIGTERM, or it wrote to stdout.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { connectLines } from '../helpers/line-client.js';
import type { LineClient } from '../helpers/line-client.js';
import { SMMU_ARGS } from '../helpers/hardening/machine-driver.js';
import { sleep } from '../helpers/processes.js';
import { httpGet, startQtestd } from '../helpers/service-process.js';
import type { QtestdProcess } from '../helpers/service-process.js';
import { Rng } from './gen.js';
import { failReason, MIXES } from './hostile-mixes.js';

export interface HostileOptions {
  seconds: number;
  sessions: number;
  seed: number;
  stallMs: number;
  /** the service's --request-time: past it a request gets FAIL work budget exceeded */
  requestSeconds: number;
}

export interface HostileSummary {
  seed: number;
  elapsedMs: number;
  /** per mix: rounds run, request lines sent, replies received, rounds the service closed early */
  mixes: Array<{ name: string; rounds: number; requests: number; replies: number; closedEarly: number }>;
  /** the probe's replies after its first (`firstMs`: the first, which waits for the session to start too) */
  probe: { requests: number; slowestMs: number; medianMs: number; p99Ms: number; firstMs: number };
  healthz: { requests: number; slowestMs: number };
  peakRssMiB: number;
  fails: Record<string, number>;
  problems: string[];
  exit?: { code: number | null; signal: string | null };
}

export const DEFAULT_HOSTILE: HostileOptions = {
  seconds: 20,
  sessions: 4,
  seed: 1,
  stallMs: 60_000,
  requestSeconds: 10,
};

/** Flags after `--hostile` (which the caller strips). */
export function parseHostileArgs(argv: string[]): HostileOptions {
  const o = { ...DEFAULT_HOSTILE, seed: Date.now() % 1000000007 };
  for (let i = 0; i < argv.length; i++) {
    const v = Number(argv[i + 1]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`${argv[i]} needs a non-negative number`);
    i++;
    switch (argv[i - 1]) {
      case '--seconds':
        o.seconds = v;
        break;
      case '--sessions':
        o.sessions = Math.max(1, v);
        break;
      case '--seed':
        o.seed = v;
        break;
      case '--request-time':
        o.requestSeconds = Math.max(1, v);
        break;
      case '--stall-ms':
        o.stallMs = v;
        break;
      default:
        throw new Error(`unknown option ${argv[i - 1]} (with --hostile)`);
    }
  }
  return o;
}

/** VmRSS (bytes) of `pid` and of every process whose parent it is (the service's workers). */
function serviceRss(pid: number): number {
  const rssOf = (p: number | string): number => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  };
  let total = rssOf(pid);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // the fields after the command name (which may hold spaces) start with state, ppid
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) total += rssOf(entry);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }
  return total;
}

/** The `q` quantile of `xs` (0.5: the median). */
function quantile(xs: number[], q: number): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))]!;
}

export async function runHostile(o: HostileOptions, log: (l: string) => void = () => {}): Promise<HostileSummary> {
  const q: QtestdProcess = await startQtestd({
    args: ['--workers', '2', '--max-line', String(4 << 20), '--request-time', String(o.requestSeconds)],
    machineArgs: SMMU_ARGS.join(' '),
  });
  const t0 = performance.now();
  const s: HostileSummary = {
    seed: o.seed,
    elapsedMs: 0,
    mixes: MIXES.map((m) => ({ name: m.name, rounds: 0, requests: 0, replies: 0, closedEarly: 0 })),
    probe: { requests: 0, slowestMs: 0, medianMs: 0, p99Ms: 0, firstMs: 0 },
    healthz: { requests: 0, slowestMs: 0 },
    peakRssMiB: 0,
    fails: {},
    problems: [],
  };
  const problem = (p: string): void => {
    if (s.problems.length < 50) s.problems.push(p);
    log(p);
  };
  let stopping = false;
  const open = new Set<LineClient>();
  const dead = (): boolean => q.exitInfo !== undefined;
  const deadline = Date.now() + o.seconds * 1000;
  const everyMixRan = (): boolean => s.mixes.every((m) => m.rounds > 0);
  const withStall = <T>(p: Promise<T>, what: string): Promise<T> =>
    Promise.race([
      p,
      sleep(o.stallMs).then(() => {
        throw new Error(`${what}: no answer within ${o.stallMs} ms`);
      }),
    ]);

  const sampler = setInterval(() => {
    if (dead()) return;
    try {
      s.peakRssMiB = Math.max(s.peakRssMiB, Math.round(serviceRss(q.proc.pid!) / 1048576));
    } catch (e) {
      if (!dead()) problem(`RSS sample: ${(e as Error).message}`);
    }
  }, 200);

  let dispatched = 0;
  const hostile = async (k: number): Promise<void> => {
    const rng = new Rng(o.seed * 1009 + k + 1);
    for (let round = 0; !stopping && !dead(); round++) {
      // the first rounds (over all connections) take every mix in turn, then at random
      const m = dispatched < MIXES.length ? dispatched++ : rng.int(MIXES.length);
      const ctx = {
        rng,
        replyTimeoutMs: o.stallMs + o.requestSeconds * 1000,
        open: async () => {
          const c = await connectLines(rng.bool() ? q.tcpPort : q.unixPath);
          open.add(c);
          void c.closed.then(() => open.delete(c));
          return c;
        },
      };
      try {
        const r = await MIXES[m]!.run(ctx);
        if (stopping) break; // cut short by the end of the run: not a round
        const st = s.mixes[m]!;
        st.rounds++;
        st.requests += r.requests;
        st.replies += r.replies.length;
        if (r.closedEarly) st.closedEarly++;
        for (const l of r.replies)
          if (l.startsWith('FAIL') || l.startsWith('ERR')) s.fails[failReason(l)] = (s.fails[failReason(l)] ?? 0) + 1;
      } catch (e) {
        if (!stopping && !dead()) problem(`${MIXES[m]!.name}: ${(e as Error).message}`);
      }
    }
  };

  const probeTimes: number[] = [];
  const probe = async (): Promise<void> => {
    const c = await connectLines(q.tcpPort);
    open.add(c);
    while (!stopping && !dead()) {
      const a = performance.now();
      try {
        const reply = await withStall(c.request('readl 0x40000000', o.stallMs * 2), 'the probe session');
        if (!reply.startsWith('OK ')) problem(`the probe got ${reply.slice(0, 80)}`);
      } catch (e) {
        if (!stopping && !dead()) problem((e as Error).message);
        return;
      }
      probeTimes.push(performance.now() - a);
      s.probe.requests++;
    }
    c.destroy();
  };

  const healthz = async (): Promise<void> => {
    while (!stopping && !dead()) {
      const a = performance.now();
      try {
        const r = await withStall(httpGet(q.httpPort, '/healthz'), '/healthz');
        if (r.status !== 200) problem(`/healthz answered ${r.status}`);
      } catch (e) {
        if (!stopping && !dead()) problem((e as Error).message);
        return;
      }
      s.healthz.slowestMs = Math.max(s.healthz.slowestMs, performance.now() - a);
      s.healthz.requests++;
      await sleep(50);
    }
  };

  const watcher = (async () => {
    while (!stopping && !dead()) {
      await sleep(250);
      if (Date.now() > deadline && everyMixRan()) stopping = true;
      else if (Date.now() > deadline + 3 * o.stallMs) {
        const missing = s.mixes.filter((m) => !m.rounds).map((m) => m.name);
        problem(`no round finished within ${3 * o.stallMs} ms past the end: ${missing.join(', ')}`);
        stopping = true;
      }
    }
    if (!stopping) problem(`the service died: ${JSON.stringify(q.exitInfo)}`);
    stopping = true;
    // end the rounds in flight: disconnects with work buffered, one more time
    for (const c of open) c.destroy();
  })();
  await Promise.all([...Array.from({ length: o.sessions }, (_, k) => hostile(k)), probe(), healthz(), watcher]);
  clearInterval(sampler);
  s.elapsedMs = performance.now() - t0;
  s.probe.firstMs = probeTimes[0] ?? 0;
  const steady = probeTimes.slice(1);
  s.probe.slowestMs = steady.length ? Math.max(...steady) : 0;
  s.probe.medianMs = quantile(steady, 0.5);
  s.probe.p99Ms = quantile(steady, 0.99);
  if (!s.probe.requests) problem('the probe got no answer');
  if (!s.healthz.requests) problem('/healthz got no answer');
  if (!dead()) {
    const exit = await q.signal('SIGTERM');
    s.exit = { code: exit.code, signal: exit.signal };
    if (exit.code !== 0) problem(`on SIGTERM the service exited ${JSON.stringify(s.exit)}`);
  }
  if (q.stdout !== '') problem(`the service wrote ${q.stdout.length} bytes to stdout`);
  await q.dispose();
  return s;
}

export function formatHostile(s: HostileSummary): string {
  const ms = (x: number): string => `${x.toFixed(1)} ms`;
  const lines = [`hostile fuzz: seed ${s.seed}, ${(s.elapsedMs / 1000).toFixed(1)} s`, 'requests per mix:'];
  for (const m of s.mixes)
    lines.push(
      `  ${m.name}: ${m.rounds} rounds, ${m.requests} requests, ${m.replies} replies` +
        (m.closedEarly ? `, ${m.closedEarly} closed by the service` : ''),
    );
  lines.push(
    `probe (readl): ${s.probe.requests} replies; after the first: slowest ${ms(s.probe.slowestMs)}, p99 ${ms(s.probe.p99Ms)}, median ${ms(s.probe.medianMs)}; first (with the session's start) ${ms(s.probe.firstMs)}`,
    `/healthz: ${s.healthz.requests} answers, slowest ${ms(s.healthz.slowestMs)}`,
    `peak RSS (service + workers): ${s.peakRssMiB} MiB`,
    'FAIL/ERR lines by reason:',
  );
  const fails = Object.entries(s.fails).sort((a, b) => b[1] - a[1]);
  if (!fails.length) lines.push('  (none)');
  for (const [reason, n] of fails.slice(0, 20)) lines.push(`  ${n} × ${reason}`);
  if (fails.length > 20) lines.push(`  … ${fails.length - 20} more reasons`);
  if (s.exit) lines.push(`exit on SIGTERM: ${JSON.stringify(s.exit)}`);
  lines.push(s.problems.length ? `PROBLEMS:\n${s.problems.map((p) => `  ${p}`).join('\n')}` : 'no problems');
  return lines.join('\n');
}
