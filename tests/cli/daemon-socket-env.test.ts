// QTESTD_DAEMON_SOCKET names the warm-launch daemon's socket for the native shim as it does for
// the daemon: the first launch goes cold and starts a daemon listening there, the next launch is
// served warm through it, and the default runtime directory is never used.
import t from 'tap';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { daemonPid, exeOf, findCc, killQuietly, libqtestLaunch, makeInstall, waitFor } from '../warm/harness.js';

const cc = findCc();
if (!cc) {
  process.stderr.write('tests/cli/daemon-socket-env: SKIPPED - no C compiler; the native shim cannot be built\n');
  t.test('QTESTD_DAEMON_SOCKET', { skip: 'no C compiler: native/launcher.c cannot be built' }, () => {});
} else {
  const made = makeInstall(cc);
  if (typeof made === 'string') t.fail(made);
  else {
    const inst = made;
    const ownDir = join(inst.tmp, 'own');
    mkdirSync(ownDir, { mode: 0o700 });
    const env = { ...inst.env, QTESTD_DAEMON_SOCKET: join(ownDir, 'd.sock') };
    t.teardown(() => {
      const pid = daemonPid({ runDir: ownDir });
      if (pid) killQuietly(pid, 'SIGTERM');
      inst.cleanup();
    });

    t.test('the shim and the daemon meet on QTESTD_DAEMON_SOCKET', async (t) => {
      const first = await libqtestLaunch(inst.shim, env);
      t.same(await first.qtest.request('readl 0x4010000000'), 'OK 0x0000000000081b36');
      t.same((await first.quit()).code, 0);
      const pid = await waitFor(() => daemonPid({ runDir: ownDir }), 60000);
      t.ok(pid, 'a daemon listens beside QTESTD_DAEMON_SOCKET (its pid file is there)');
      t.ok(existsSync(join(ownDir, 'd.sock')), 'on that very socket');
      const second = await libqtestLaunch(inst.shim, env);
      t.equal(exeOf(second.child.pid!), inst.shim, 'the next launch is warm (the shim stays the process)');
      t.same(await second.qtest.request('readl 0x4010000000'), 'OK 0x0000000000081b36');
      t.same((await second.quit()).code, 0);
      t.notOk(existsSync(inst.runDir), 'the default runtime directory was never used');
    });
  }
}
