// The warm launch daemon's workers accept shim connections themselves (on the socket the daemon's
// primary process bound, and on their own sockets while they are free): a connection queued while
// the only worker restarts is served by its replacement; a worker stopped in the middle of a
// launch does not hold up the next launch; once the daemon drains, no launch is taken (a queued
// connection is closed unanswered, which sends a shim down the cold path); and the daemon the shim
// starts never carries NODE_V8_COVERAGE (it would write coverage files into a test run's tree
// long after the run).
import t from 'tap';
import type { Test } from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameReader, requestFrame } from '../../src/cli/launch-wire.js';
import {
  alive,
  daemonPid,
  exeOf,
  findCc,
  killQuietly,
  libqtestArgv,
  libqtestLaunch,
  LineClient,
  makeInstall,
  processState,
  waitFor,
} from './harness.js';
import type { Install } from './harness.js';

t.setTimeout(5 * 60_000); // a safety net only

const cc = findCc();
if (!cc) {
  process.stderr.write('tests/warm: SKIPPED - no C compiler (cc/gcc/clang); the warm launch shim cannot be built\n');
  t.test(
    'daemon accept',
    { skip: 'no C compiler: the warm launch shim (native/launcher.c) cannot be built' },
    () => {},
  );
} else {
  run();
}

/** The pids of `pid`'s child processes (the daemon's workers). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return []; // gone
  }
}

function environOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
}

/** The daemon's shared socket in `inst`'s runtime dir. */
function sharedSocket(inst: Install): string {
  return join(
    inst.runDir,
    readdirSync(inst.runDir).find((f) => f.startsWith('launch-') && f.endsWith('.sock'))!,
  );
}

/** A fresh install with its daemon started (the first launch goes cold and starts it) and warm. */
async function startedInstall(t: Test, env: NodeJS.ProcessEnv = {}): Promise<{ inst: Install; pid: number }> {
  const inst = makeInstall(cc!, env);
  if (typeof inst === 'string') throw new Error(inst);
  t.teardown(() => inst.cleanup());
  await (await libqtestLaunch(inst.shim, inst.env)).quit();
  const pid = (await waitFor(() => daemonPid(inst), 120_000))!;
  t.ok(pid, 'the first launch started a daemon');
  const warm = await libqtestLaunch(inst.shim, inst.env);
  t.equal(exeOf(warm.child.pid!), inst.shim, 'and the next launch is warm');
  await warm.quit();
  return { inst, pid };
}

/**
 * What the shim does, from the test: connect to `path` and send a launch request whose qtest and
 * QMP sockets this test listens on. `frames` collects the frame types the daemon sends back;
 * `closed` resolves when the daemon closes the connection.
 */
function rawLaunch(path: string, dir: string) {
  const qtest = listener(join(dir, 'qtest.sock'));
  const qmp = listener(join(dir, 'qtest.qmp'));
  const frames: string[] = [];
  const reader = new FrameReader(1 << 20);
  const sock = connect(path);
  const connected = new Promise<void>((res, rej) => {
    sock.once('connect', () => res());
    sock.once('error', rej);
  });
  sock.on('error', () => {}); // a reset is how a refused launch ends: 'close' reports it
  sock.on('data', (b: Buffer) => {
    for (const f of reader.push(b)) frames.push(f.type);
  });
  const closed = new Promise<void>((res) => sock.once('close', () => res()));
  const argv = libqtestArgv(dir, { exitWithParent: false });
  sock.write(requestFrame({ pid: process.pid, cwd: dir, argv, env: {} }));
  return { sock, connected, frames, closed, qtest, qmp };
}

function listener(path: string): { server: Server; conn: Promise<Socket> } {
  const server = createServer();
  const conn = new Promise<Socket>((res) => server.once('connection', res));
  server.listen(path);
  return { server, conn };
}

function run(): void {
  const scratch = mkdtempSync(join(tmpdir(), 'qtestd-accept-'));
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

  t.test('the daemon the shim starts has no NODE_V8_COVERAGE, nor do its workers', async (t) => {
    const cov = mkdtempSync(join(scratch, 'cov-'));
    const { inst, pid } = await startedInstall(t, { NODE_V8_COVERAGE: cov });
    const workers = childrenOf(pid);
    t.ok(workers.length > 0, `the daemon has workers (${workers.join(' ')})`);
    for (const p of [pid, ...workers]) {
      t.notOk(
        environOf(p).some((kv) => kv.startsWith('NODE_V8_COVERAGE=')),
        `process ${p} has no NODE_V8_COVERAGE`,
      );
    }
    t.ok(
      environOf(pid).some((kv) => kv.startsWith('XDG_RUNTIME_DIR=')),
      'while the rest of the environment is there',
    );
    killQuietly(pid, 'SIGTERM');
    t.ok(await waitFor(() => !alive(pid) && workers.every((w) => !alive(w)), 120_000), 'the daemon exits');
    const fromDaemon = readdirSync(cov).filter((f) => [pid, ...workers].some((p) => f.startsWith(`coverage-${p}-`)));
    t.same(fromDaemon, [], 'and wrote no coverage files');
    t.notOk(daemonPid(inst), 'nor left a pid file');
  });

  t.test('a connection queued while the only worker restarts is served by its replacement', async (t) => {
    const { inst, pid } = await startedInstall(t, { QTESTD_DAEMON_WORKERS: '1' });
    const [worker] = childrenOf(pid);
    t.ok(worker, `one worker (${worker})`);
    // a launch running in that worker, to be ended by its death
    const running = await libqtestLaunch(inst.shim, inst.env);
    t.equal(await running.qtest.request('readl 0x4010000000'), 'OK 0x0000000000081b36');
    killQuietly(worker!, 'SIGSTOP');
    t.ok(await waitFor(() => processState(worker!) === 'T', 60_000), 'the worker is stopped');
    const dir = mkdtempSync(join(scratch, 'queued-'));
    const queued = rawLaunch(sharedSocket(inst), dir);
    await queued.connected; // in the socket's backlog: nobody accepts while the worker is stopped
    killQuietly(worker!, 'SIGKILL');
    const exit = await running.exited;
    t.not(exit.code, 0, 'the launch the dead worker ran ends as a QEMU that died');
    t.ok(await running.qtest.closedWithin(60_000), 'its qtest socket is closed');
    await running.quit();
    // the replacement takes the queued connection and runs its launch
    const q = await LineClient.socket(await queued.qtest.conn, true);
    await queued.qmp.conn;
    t.equal(await q.request('endianness'), 'OK little', 'the queued launch is served');
    t.equal(queued.frames[0], 'S', 'announced as taken');
    t.not(childrenOf(pid)[0], worker, 'by a new worker');
    t.equal(daemonPid(inst), pid, 'the daemon itself lives on');
    queued.sock.write(Buffer.from([1, 0, 0, 0, 'T'.charCodeAt(0)])); // what a signalled shim sends
    await queued.closed;
    t.equal(queued.frames.at(-1), 'X', 'and ends with an exit frame');
    q.destroy();
    queued.qtest.server.close();
    queued.qmp.server.close();
  });

  t.test('a worker stopped in the middle of a launch does not hold up the next launch', async (t) => {
    const { inst, pid } = await startedInstall(t, { QTESTD_DAEMON_WORKERS: '2' });
    t.equal(childrenOf(pid).length, 2, 'two workers');
    t.ok(await waitFor(() => existsSync(`${sharedSocket(inst)}.0`), 60_000), "worker 0's own socket is there");
    // worker 0 takes launches one after another (the shim dials its own socket first); this one
    // keeps it busy, and it is stopped as if a heavy launch blocked it
    const busy = await libqtestLaunch(inst.shim, inst.env);
    const worker0 = childrenOf(pid).find((w) => environOf(w).includes('QTESTD_WORKER_INDEX=0'))!;
    killQuietly(worker0, 'SIGSTOP');
    t.ok(await waitFor(() => processState(worker0) === 'T', 60_000), 'worker 0 is stopped');
    const next = await libqtestLaunch(inst.shim, inst.env);
    t.equal(exeOf(next.child.pid!), inst.shim, 'the next launch is warm');
    t.equal(await next.qtest.request('readl 0x4010000000'), 'OK 0x0000000000081b36', 'and served');
    t.equal((await next.quit()).code, 0);
    killQuietly(worker0, 'SIGCONT');
    t.equal(await busy.qtest.request('readl 0x4010000000'), 'OK 0x0000000000081b36', 'the first one goes on');
    t.equal((await busy.quit()).code, 0);
  });

  t.test("a worker's own socket that closes on the shim unanswered: the shim asks the shared one", async (t) => {
    const { inst } = await startedInstall(t, { QTESTD_DAEMON_WORKERS: '1' });
    const own = `${sharedSocket(inst)}.0`;
    // a launch makes worker 0 busy (its own socket closed, the file left); once it has ended, the
    // worker binds a fresh socket there (another inode)
    const busy = await libqtestLaunch(inst.shim, inst.env);
    const busyIno = statSync(own).ino;
    await busy.quit();
    t.ok(await waitFor(() => statSync(own).ino !== busyIno, 60_000), "worker 0's own socket is back");
    // stands in for an own socket closed just as the shim's connection came in
    unlinkSync(own);
    let refused = 0;
    const closer = createServer((s) => {
      refused++;
      s.destroy();
    });
    await new Promise<void>((res) => closer.listen(own, res));
    t.teardown(() => closer.close());
    const l = await libqtestLaunch(inst.shim, inst.env);
    t.equal(refused, 1, 'the shim dialled the own socket first and got nothing');
    t.equal(exeOf(l.child.pid!), inst.shim, 'then the launch went warm through the shared socket');
    t.equal(await l.qtest.request('readl 0x4010000000'), 'OK 0x0000000000081b36');
    t.equal((await l.quit()).code, 0);
  });

  t.test('a daemon whose install is removed stops instead of starting workers forever', async (t) => {
    const { inst, pid } = await startedInstall(t, { QTESTD_DAEMON_WORKERS: '1' });
    const [worker] = childrenOf(pid);
    unlinkSync(join(inst.root, 'dist', 'src')); // the install's build goes (its worker module with it)
    killQuietly(worker!, 'SIGKILL'); // a replacement could not start now
    t.ok(await waitFor(() => !alive(pid), 120_000), 'the daemon exits');
    t.same(
      readdirSync(inst.runDir).filter((f) => f.includes('.sock')),
      [],
      'and leaves no socket behind',
    );
  });

  t.test('once the daemon drains, a queued connection is closed unanswered', async (t) => {
    const { inst, pid } = await startedInstall(t, { QTESTD_DAEMON_WORKERS: '1' });
    const [worker] = childrenOf(pid);
    const sock = sharedSocket(inst);
    killQuietly(worker!, 'SIGSTOP');
    t.ok(await waitFor(() => processState(worker!) === 'T', 60_000), 'the worker is stopped');
    const dir = mkdtempSync(join(scratch, 'drain-'));
    const queued = rawLaunch(sock, dir);
    await queued.connected;
    killQuietly(pid, 'SIGTERM'); // the daemon drains: nothing is taken from now on
    t.ok(await waitFor(() => !existsSync(sock), 60_000), 'the socket path is removed');
    killQuietly(worker!, 'SIGCONT');
    // The worker wakes with the queued connection and the drain both pending; which it sees first
    // is a race (the drain is posted after the socket path goes). Either way the launch is not
    // lost: closed unanswered (its shim runs it cold), or taken and served to its end.
    await waitFor(() => queued.frames.includes('S') || queued.sock.closed, 120_000);
    if (queued.frames.includes('S')) {
      const q = await LineClient.socket(await queued.qtest.conn, true);
      await queued.qmp.conn;
      t.equal(await q.request('endianness'), 'OK little', 'taken before the drain: the launch is served');
      queued.sock.write(Buffer.from([1, 0, 0, 0, 'T'.charCodeAt(0)])); // what a signalled shim sends
    } else {
      t.same(queued.frames, [], 'the queued connection got nothing (its shim runs the launch cold)');
    }
    await queued.closed;
    t.ok(await waitFor(() => !alive(pid) && !alive(worker!), 120_000), 'the daemon and its worker exit');
    t.same(
      readdirSync(inst.runDir).filter((f) => f.includes('.sock')),
      [],
      'and leave no socket (shared or own) behind',
    );
    const cold = await libqtestLaunch(inst.shim, inst.env);
    t.match(exeOf(cold.child.pid!), /node/, 'the next launch goes cold (and starts a new daemon)');
    t.equal((await cold.quit()).code, 0);
    queued.qtest.server.close();
    queued.qmp.server.close();
  });
}
