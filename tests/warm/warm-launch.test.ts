// The warm launch path with real processes: the native shim (native/launcher.c) as libqtest runs
// it, the launch daemon it starts, and the cold fallbacks.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  REPO,
  runPlain,
  sleep,
  waitFor,
} from './harness.js';
import type { Install } from './harness.js';

t.setTimeout(10 * 60_000); // a safety net only: ~30 launches and daemon starts on a busy 2-core machine

const cc = findCc();
if (!cc) {
  process.stderr.write('tests/warm: SKIPPED - no C compiler (cc/gcc/clang); the warm launch shim cannot be built\n');
  t.test('warm launch', { skip: 'no C compiler: the warm launch shim (native/launcher.c) cannot be built' }, () => {});
} else {
  const made = makeInstall(cc);
  if (typeof made === 'string') {
    t.fail(made);
  } else {
    run(made);
  }
}

function run(inst: Install): void {
  t.teardown(() => inst.cleanup());

  /** Launch, check the handshake went to a warm shim (the pid runs the shim, not node), quit. */
  const isWarm = (pid: number | undefined): boolean => pid !== undefined && exeOf(pid) === inst.shim;

  t.test('first launch is cold and starts the daemon; the next ones are warm', async (t) => {
    t.equal(daemonPid(inst), undefined, 'no daemon at the start');
    const first = await libqtestLaunch(inst.shim, inst.env);
    t.match(exeOf(first.child.pid!), /node/, 'the first launch runs node (cold path)');
    t.same(await first.qtest.request('readl 0x4010000000'), 'OK 0x0000000000081b36');
    const q1 = await first.quit();
    t.same({ code: q1.code, signal: q1.signal }, { code: 0, signal: null }, 'cold launch exits 0 on SIGTERM');
    const pid = await waitFor(() => daemonPid(inst), 120000);
    t.ok(pid, 'the cold launch left a daemon behind');
    const st = statSync(inst.runDir);
    t.equal(st.mode & 0o777, 0o700, 'runtime dir is 0700');
    const sock = readdirSync(inst.runDir).find((f) => f.endsWith('.sock'))!;
    t.equal(statSync(join(inst.runDir, sock)).mode & 0o777, 0o600, 'socket is 0600');

    for (let i = 0; i < 3; i++) {
      const l = await libqtestLaunch(inst.shim, inst.env);
      t.ok(isWarm(l.child.pid), `launch ${i + 2} is warm (the process is the shim)`);
      const q = await l.quit();
      t.same({ code: q.code, signal: q.signal }, { code: 0, signal: null });
      t.equal(l.stdout(), '', 'nothing on stdout');
    }
    t.equal(daemonPid(inst), pid, 'the same daemon served them');
  });

  t.test('libqtest dialogue through the warm path; SIGTERM → exit 0 within 1 s, sockets open', async (t) => {
    await waitFor(() => daemonPid(inst), 120000);
    const l = await libqtestLaunch(inst.shim, inst.env);
    t.ok(isWarm(l.child.pid), 'warm');
    t.equal(
      await l.qtest.request('readl 0x4010000000'),
      'OK 0x0000000000081b36',
      'ECAM vendor/device of the host bridge',
    );
    t.equal(await l.qtest.request('writel 0x40000000 0x12345678'), 'OK');
    t.equal(await l.qtest.request('readl 0x40000000'), 'OK 0x0000000012345678', 'RAM round trip');
    t.equal(await l.qtest.request('inb 0x0'), 'OK 0x00ff');
    t.notOk(l.qtest.isClosed, 'qtest socket still open before SIGTERM');
    const q = await l.quit();
    t.same({ code: q.code, signal: q.signal }, { code: 0, signal: null }, 'exit status 0, not killed by the signal');
    t.ok(q.ms < 1000, `exited ${q.ms.toFixed(1)} ms after SIGTERM`);
    t.equal(l.stdout(), '');
    t.equal(l.stderr(), '', 'silent on stderr with -qtest-log /dev/null');
  });

  t.test('-qtest-log /dev/fd/2 is relayed to the shim stderr', async (t) => {
    const l = await libqtestLaunch(inst.shim, inst.env, { qtestLog: '/dev/fd/2' });
    t.ok(isWarm(l.child.pid), 'warm');
    await l.qtest.request('readb 0x40000000');
    const q = await l.quit();
    t.equal(q.code, 0);
    t.match(
      l.stderr(),
      /^\[I \d+\.\d{6}\] OPENED\n\[R \+\d+\.\d{6}\] endianness\n\[S \+\d+\.\d{6}\] OK little\n\[R \+\d+\.\d{6}\] readb 0x40000000\n\[S \+\d+\.\d{6}\] OK 0x0000000000000000\n/,
    );
  });

  t.test('argv error → exit 1 with the same QEMU-style stderr as the cold path', async (t) => {
    const argv = ['-machine', 'virt', '-m', 'abc'];
    const warm = await runPlain(inst.shim, argv, inst.env);
    const cold = await runPlain(inst.shim, argv, { ...inst.env, QTESTD_NO_DAEMON: '1' });
    t.equal(warm.code, 1);
    t.match(warm.stderr, /^qemu-system-aarch64: -m abc: Parameter 'size' expects a non-negative number below 2\^64\n/);
    t.equal(warm.stderr, cold.stderr, 'identical to the cold launcher');
    t.equal(warm.stdout, '');
    // A qtest socket that is not there: warm and cold must end the same way (and not hang).
    const badArgv = ['-qtest', 'unix:/nonexistent/dir/q.sock', '-machine', 'virt'];
    const badWarm = await runPlain(inst.shim, badArgv, inst.env);
    const badCold = await runPlain(inst.shim, badArgv, { ...inst.env, QTESTD_NO_DAEMON: '1' });
    t.same(badWarm, badCold, 'missing qtest socket: same outcome warm and cold');
  });

  t.test('-version goes the cold way and prints on stdout', async (t) => {
    const r = await runPlain(inst.shim, ['-version'], inst.env);
    t.equal(r.code, 0);
    t.match(r.stdout, /^QEMU emulator version 10\.2\.2/);
  });

  t.test('shim SIGKILLed → the daemon closes that launch', async (t) => {
    const pid = await waitFor(() => daemonPid(inst), 120000);
    const l = await libqtestLaunch(inst.shim, inst.env);
    t.ok(isWarm(l.child.pid), 'warm');
    l.child.kill('SIGKILL');
    t.ok(await l.qtest.closedWithin(120000), 'qtest socket closed by the daemon');
    t.ok(await l.qmp.closedWithin(120000), 'QMP socket closed by the daemon');
    t.equal(daemonPid(inst), pid, 'daemon still alive');
    t.same((await l.quit()).signal, 'SIGKILL');
    const next = await libqtestLaunch(inst.shim, inst.env);
    t.ok(isWarm(next.child.pid), 'and still serving');
    t.equal((await next.quit()).code, 0);
  });

  t.test('exit-with-parent: the shim exits 0 when its parent dies', async (t) => {
    await waitFor(() => daemonPid(inst), 120000);
    const dir = mkdtempSync(join(tmpdir(), 'qtestd-warm-ewp-'));
    const accepted = (path: string): Promise<Socket> =>
      new Promise((r) => {
        const s = createServer((c) => {
          s.close();
          r(c);
        });
        s.listen(path);
      });
    const qa = accepted(join(dir, 'qtest.sock'));
    const ma = accepted(join(dir, 'qtest.qmp'));
    // The parent: a shell that starts the shim in the background, reports its pid and waits.
    const parent = spawn('/bin/sh', ['-c', `${inst.shim} ${libqtestArgv(dir).join(' ')} & echo $!; exec sleep 60`], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: inst.env,
    });
    const shimPid = await new Promise<number>((r) =>
      parent.stdout!.once('data', (d: Buffer) => r(Number(d.toString().trim()))),
    );
    const qtest = await LineClient.socket(await qa, true);
    const qmp = await LineClient.socket(await ma, true);
    t.equal(await qtest.request('endianness'), 'OK little');
    t.ok(isWarm(shimPid), 'warm');
    parent.kill('SIGKILL');
    t.ok(await waitFor(() => !alive(shimPid), 120000), 'the shim went away after its parent died');
    t.ok(await qtest.closedWithin(120000), 'and its launch was closed');
    qmp.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  t.test('QTESTD_NO_DAEMON=1 → cold path, no daemon started', async (t) => {
    const other = makeInstall(cc!);
    if (typeof other === 'string') return t.fail(other);
    t.teardown(() => other.cleanup());
    const l = await libqtestLaunch(other.shim, { ...other.env, QTESTD_NO_DAEMON: '1' });
    t.match(exeOf(l.child.pid!), /node/, 'node runs the launch');
    t.equal((await l.quit()).code, 0);
    await sleep(300);
    t.notOk(existsSync(other.runDir), 'no runtime dir: no daemon was started');
    // The /bin/sh wrapper honours it too (and otherwise execs the shim).
    const viaScript = await libqtestLaunch(other.script, { ...other.env, QTESTD_NO_DAEMON: '1' });
    t.match(exeOf(viaScript.child.pid!), /node/);
    t.equal((await viaScript.quit()).code, 0);
  });

  t.test('two daemons never both serve', async (t) => {
    const other = makeInstall(cc!);
    if (typeof other === 'string') return t.fail(other);
    t.teardown(() => other.cleanup());
    const sockPath = join(other.runDir, 'launch-test.sock');
    const start = () =>
      spawn(
        process.execPath,
        [join(REPO, 'dist', 'src', 'cli', 'launch-daemon.js'), '--socket', sockPath, '--root', other.root],
        {
          stdio: 'ignore',
          env: other.env,
        },
      );
    const daemons = [start(), start(), start()];
    const exits = daemons.map((d) => new Promise<number | null>((r) => d.on('exit', (c) => r(c))));
    const survivors = await waitFor(() => {
      const live = daemons.filter((d) => alive(d.pid!));
      return live.length === 1 && existsSync(sockPath) ? live : undefined;
    }, 120000);
    t.equal(survivors?.length, 1, 'exactly one daemon keeps running');
    const winner = survivors![0]!;
    t.equal(daemonPid(other), winner.pid, 'the pid file names it');
    for (const [i, d] of daemons.entries()) if (d !== winner) t.equal(await exits[i], 0, 'the losers exit 0');
    // A late one cannot take over either.
    const late = start();
    t.equal(await new Promise((r) => late.on('exit', (c) => r(c))), 0, 'a later daemon exits too');
    t.ok(alive(winner.pid!), 'the first one still serves');
    winner.kill('SIGTERM');
    t.equal(await exits[daemons.indexOf(winner)], 0, 'the daemon exits 0 on SIGTERM');
    t.notOk(existsSync(sockPath), 'and removes its socket');
  });

  t.test('stale socket (daemon SIGKILLed) and rebuilt qtestd both lead to a fresh daemon', async (t) => {
    const first = await waitFor(() => daemonPid(inst), 120000);
    t.ok(first);
    killQuietly(first!, 'SIGKILL');
    await waitFor(() => !alive(first!), 120000);
    t.ok(
      readdirSync(inst.runDir).some((f) => f.endsWith('.sock')),
      'the dead daemon left its socket file',
    );
    const cold = await libqtestLaunch(inst.shim, inst.env);
    t.match(exeOf(cold.child.pid!), /node/, 'refused connection → cold');
    t.equal((await cold.quit()).code, 0);
    const second = await waitFor(() => daemonPid(inst), 120000);
    t.ok(second && second !== first, 'a new daemon replaced the stale socket');
    const warm = await libqtestLaunch(inst.shim, inst.env);
    t.ok(isWarm(warm.child.pid), 'warm again');
    t.equal((await warm.quit()).code, 0);

    // "Rebuild" this install: its build info changes.
    const future = new Date(Date.now() + 5000);
    utimesSync(join(inst.root, 'dist', '.tsbuildinfo'), future, future);
    const replaced = await libqtestLaunch(inst.shim, inst.env);
    t.match(exeOf(replaced.child.pid!), /node/, 'the stale daemon sends the launch cold');
    t.equal((await replaced.quit()).code, 0);
    t.ok(await waitFor(() => !alive(second!), 120000), 'the old daemon exits');
    const third = await waitFor(() => daemonPid(inst), 120000);
    t.ok(third && third !== second, 'and the rebuilt install has its own daemon');
    const warm2 = await libqtestLaunch(inst.shim, inst.env);
    t.ok(isWarm(warm2.child.pid), 'warm with the new daemon');
    t.equal((await warm2.quit()).code, 0);
  });

  t.test('idle daemon exits after QTESTD_DAEMON_IDLE_SECONDS', async (t) => {
    const other = makeInstall(cc!, { QTESTD_DAEMON_IDLE_SECONDS: '1' });
    if (typeof other === 'string') return t.fail(other);
    t.teardown(() => other.cleanup());
    const l = await libqtestLaunch(other.shim, other.env);
    t.equal((await l.quit()).code, 0);
    const pid = await waitFor(() => daemonPid(other), 120000);
    t.ok(pid, 'daemon started');
    t.ok(await waitFor(() => !alive(pid!), 120000), 'and exited when idle');
    t.notOk(
      readdirSync(other.runDir).some((f) => f.endsWith('.sock')),
      'removing its socket',
    );
  });
}
