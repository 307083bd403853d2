// The daemon workers' JIT warm-up (src/cli/launch-daemon-warmup.ts) through the real daemon: a
// launch that arrives while the workers warm up is served; the warm-up then still runs to its end,
// leaves no socket or directory behind, and launches after it answer byte for byte as a cold
// launch does (it shares nothing with them: their sessions are fresh).
import t from 'tap';
import { mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { daemonPid, exeOf, findCc, libqtestLaunch, makeInstall, waitFor } from './harness.js';
import type { Install } from './harness.js';
import type { Test } from 'tap';

t.setTimeout(5 * 60_000);

const cc = findCc();
if (!cc) {
  process.stderr.write('tests/warm: SKIPPED - no C compiler (cc/gcc/clang); the warm launch shim cannot be built\n');
  t.test('warm-up', { skip: 'no C compiler: the warm launch shim (native/launcher.c) cannot be built' }, () => {});
} else {
  const made = makeInstall(cc);
  if (typeof made === 'string') t.fail(made);
  else run(made);
}

/**
 * What a test does first on a fresh machine: reads of RAM the warm-up wrote in its own sessions
 * (a fresh session reads zeros), writes, bulk reads, PCI config space, the clock, a bad command.
 */
const SCRIPT = [
  'endianness',
  'readl 0x40001000',
  'readq 0x40201000',
  'read 0x40001000 0x10',
  'writel 0x40001000 0xdeadbeef',
  'readl 0x40001000',
  'b64read 0x40001000 0x10',
  'memset 0x40001000 0x8 0x5a',
  'readq 0x40001000',
  'readl 0x4010000000',
  'readw 0x4010000004',
  'clock_step 100',
  'clock_step',
  'readl 0x1',
  'nosuchcommand 1',
];
const QMP_SCRIPT = ['{"execute": "query-status"}', '{"execute": "query-name"}'];

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return []; // gone
  }
}

/** Inodes of the UNIX sockets bound to a path under `dir` (/proc/net/unix). */
function socketInodesUnder(dir: string): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[7]!.startsWith(dir + '/')) out.add(f[6]!);
  }
  return out;
}

/** The socket inodes `pid` holds open. */
function socketInodesOf(pid: number): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed since the listing
    }
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) out.push(m[1]!);
  }
  return out;
}

function run(base: Install): void {
  // The workers make their warm-up sockets under TMPDIR: a private one shows what is left there.
  const tmp = join(base.tmp, 'tmp');
  mkdirSync(tmp, { mode: 0o700 });
  const inst: Install = { ...base, env: { ...base.env, TMPDIR: tmp } };
  t.teardown(() => base.cleanup());
  const cold = { ...inst.env, QTESTD_NO_DAEMON: '1' };

  /** A libqtest launch that runs SCRIPT and QMP_SCRIPT: the replies, and whether it ran warm. */
  const session = async (t: Test, env: NodeJS.ProcessEnv): Promise<{ replies: string[]; warm: boolean }> => {
    const l = await libqtestLaunch(inst.shim, env);
    const warm = exeOf(l.child.pid!) === inst.shim;
    const replies: string[] = [];
    for (const line of SCRIPT) replies.push(await l.qtest.request(line));
    for (const line of QMP_SCRIPT) replies.push(await l.qmp.request(line));
    const q = await l.quit();
    t.same({ code: q.code, signal: q.signal }, { code: 0, signal: null }, 'the launch exits 0 on SIGTERM');
    return { replies, warm };
  };

  /** The daemon log's messages, each with the worker that logged it. */
  const logged = (): Array<{ msg: string; worker?: number }> => {
    const file = readdirSync(inst.runDir).find((f) => f.endsWith('.log'));
    if (!file) return [];
    return readFileSync(join(inst.runDir, file), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; worker?: number });
  };
  const warmedWorkers = (): Set<number> =>
    new Set(logged().flatMap((e) => (e.msg === 'launch path warmed up' ? [e.worker ?? -1] : [])));

  t.test('a launch during the warm-up is served; the warm-up ends and leaves nothing behind', async (t) => {
    const first = await libqtestLaunch(inst.shim, inst.env);
    t.notOk(exeOf(first.child.pid!) === inst.shim, 'the first launch is cold');
    await first.quit();
    const pid = await waitFor(() => daemonPid(inst), 120_000);
    t.ok(pid, 'it started a daemon');
    // right away: the workers are (most likely) still warming up
    const early = await session(t, inst.env);
    t.equal(early.warm, true, 'the launch right after the daemon started is warm');
    t.comment(`workers warmed up when it ended: ${warmedWorkers().size} of ${childrenOf(pid!).length}`);
    const reference = await session(t, cold);
    t.equal(reference.warm, false, 'the reference launch is cold');
    t.same(early.replies, reference.replies, 'the early launch answers as a cold launch');

    const workers = childrenOf(pid!);
    t.ok(workers.length > 0, `the daemon has workers (${workers.join(' ')})`);
    const all = await waitFor(() => workers.length > 0 && warmedWorkers().size >= workers.length, 240_000);
    t.ok(all, 'every worker finished its warm-up');
    t.same(
      logged().filter((e) => /warm-up failed/.test(e.msg)),
      [],
      'no warm-up step failed',
    );
    t.same(readdirSync(tmp), [], 'no warm-up directory is left');
    const bound = socketInodesUnder(tmp);
    for (const w of workers) {
      t.same(
        socketInodesOf(w).filter((i) => bound.has(i)),
        [],
        `worker ${w} holds no socket of its warm-up`,
      );
    }

    const after = await session(t, inst.env);
    t.equal(after.warm, true, 'a launch after the warm-up is warm');
    t.same(after.replies, reference.replies, 'and answers byte for byte as the cold launch');
    t.equal(daemonPid(inst), pid, 'the same daemon served them');
  });
}
