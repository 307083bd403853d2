/**
 * Entry point of the drop-in `qemu-system-aarch64` (cold path: bin/qemu-system-aarch64 execs node
 * on this file). One launch per process; behaves as QEMU does as a process: silent on stdout,
 * exit 0 on SIGTERM with a SHUTDOWN event, exit with the parent when asked, QEMU-style argv errors.
 */
import { pino } from 'pino';
import type { Logger } from '../log.js';
import { DEFAULT_PLUGINS } from '../machine/default-plugins.js';
import { QtestLog } from '../protocol/qtest/qtest-log.js';
import { printInfo } from './info.js';
import { startLaunch } from './launch-session.js';
import type { RunningLaunch } from './launch-session.js';
import { exitWithParent, installProcessGuards, onTerminationSignals } from './process-guard.js';

export function runLauncher(argv: string[]): void {
  let log: Logger | undefined;
  let launch: RunningLaunch | undefined;
  installProcessGuards(() => log);
  // Signal handlers first: a kill can follow the handshake at once.
  onTerminationSignals(async () => {
    await launch?.terminate('host-signal');
  });
  log = pino({ level: process.env.QTESTD_LOG_LEVEL ?? 'warn', base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
  launch = startLaunch(
    argv,
    {
      stderr: (text) => process.stderr.write(text),
      exit: (code) => process.exit(code),
      cwd: process.cwd(),
      openQtestLog: (spec) => QtestLog.open(spec),
      log,
      plugins: DEFAULT_PLUGINS,
    },
    printInfo,
  );
  if (launch?.options.exitWithParent) exitWithParent(() => process.exit(0));
}

runLauncher(process.argv.slice(2));
