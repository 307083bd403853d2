// The warm launch daemon dies in the middle of a session (its accepting process, or the worker
// process running the launch): the session ends as a QEMU that died — its sockets close, the
// shim exits non-zero and says why on stderr — and the launch is NOT run again on the cold path
// (that would dial the test's sockets a second time and truncate its -qtest-log).
import t from 'tap';
import type { Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonPid, exeOf, findCc, killQuietly, libqtestLaunch, makeInstall, waitFor } from './harness.js';
import type { Install } from './harness.js';

t.setTimeout(5 * 60_000);

const cc = findCc();
if (!cc) {
  process.stderr.write('tests/warm: SKIPPED - no C compiler (cc/gcc/clang); the warm launch shim cannot be built\n');
  t.test('daemon death', { skip: 'no C compiler: the warm launch shim (native/launcher.c) cannot be built' }, () => {});
} else {
  const made = makeInstall(cc);
  if (typeof made === 'string') t.fail(made);
  else run(made);
}

/** The pids of `pid`'s child processes (the daemon's workers). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return []; // gone
  }
}

function run(inst: Install): void {
  t.teardown(() => inst.cleanup());
  const logDir = mkdtempSync(join(tmpdir(), 'qtestd-death-'));
  t.teardown(() => rmSync(logDir, { recursive: true, force: true }));

  /** A warm launch that did some work, logged to its own -qtest-log file. */
  const warmSession = async (name: string) => {
    const log = join(logDir, `${name}.log`);
    const l = await libqtestLaunch(inst.shim, inst.env, { qtestLog: log });
    for (let i = 0; i < 5; i++) await l.qtest.request(`writel 0x40000000 0x${i}`);
    t.equal(await l.qtest.request('readl 0x40000000'), 'OK 0x0000000000000004');
    return { l, log };
  };

  const expectDeadQemu = async (
    t: Test,
    l: Awaited<ReturnType<typeof warmSession>>['l'],
    log: string,
    shimPid: number,
  ) => {
    const exit = await l.exited;
    t.equal(exit.signal, null, 'the shim was not killed');
    t.not(exit.code, 0, `the shim exits non-zero (${exit.code})`);
    t.match(l.stderr(), /launch daemon died during this launch/, 'and says why on stderr');
    t.ok(await l.qtest.closedWithin(60_000), 'the qtest socket is closed');
    t.ok(await l.qmp.closedWithin(60_000), 'the QMP socket is closed');
    t.notMatch(exeOf(shimPid), /node/, 'it never became the cold launcher');
    const text = readFileSync(log, 'latin1');
    t.match(text, /\] readl 0x40000000\n.*\] OK 0x0000000000000004\n/s, 'the -qtest-log keeps what the session did');
    t.equal(text.match(/OPENED/g)?.length, 1, 'the -qtest-log was opened once (not truncated by a second run)');
    await l.quit();
  };

  t.test('first launch starts the daemon', async (t) => {
    const first = await libqtestLaunch(inst.shim, inst.env);
    await first.quit();
    t.ok(await waitFor(() => daemonPid(inst), 60_000), 'a daemon runs');
  });

  t.test('the worker running the launch is killed', async (t) => {
    const pid = (await waitFor(() => daemonPid(inst), 60_000))!;
    const { l, log } = await warmSession('worker');
    const shimPid = l.child.pid!;
    t.equal(exeOf(shimPid), inst.shim, 'warm');
    const workers = childrenOf(pid);
    t.ok(workers.length > 0, `the daemon has workers (${workers.join(' ')})`);
    for (const w of workers) killQuietly(w, 'SIGKILL');
    await expectDeadQemu(t, l, log, shimPid);
    t.equal(daemonPid(inst), pid, 'the daemon itself lives on');
    const next = await libqtestLaunch(inst.shim, inst.env);
    t.equal(exeOf(next.child.pid!), inst.shim, 'and the next launch is warm again (workers replaced)');
    t.equal(await next.qtest.request('readl 0x4010000000'), 'OK 0x0000000000081b36');
    t.equal((await next.quit()).code, 0);
  });

  t.test('the daemon (accepting process) is killed', async (t) => {
    const pid = (await waitFor(() => daemonPid(inst), 60_000))!;
    const { l, log } = await warmSession('daemon');
    const shimPid = l.child.pid!;
    t.equal(exeOf(shimPid), inst.shim, 'warm');
    killQuietly(pid, 'SIGKILL');
    await expectDeadQemu(t, l, log, shimPid);
  });
}
