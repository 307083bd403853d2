/**
 * Entry point of the drop-in `qemu-system-aarch64` (cold path: bin/qemu-system-aarch64 execs node
 * on this file). One launch per process; behaves as QEMU does as a process: silent on stdout,
 * exit 0 on SIGTERM with a SHUTDOWN event, exit with the parent when asked, QEMU-style argv errors.
 *
 * Start-up cost matters here (every libqtest test case starts a process): pino and its
 * dependencies cost ~30 ms and ~7 MiB to load, and at the default level (warn) a healthy launch
 * never logs. So the logger is pino, loaded on the first message its level lets through.
 */
import { createRequire } from 'node:module';
import type { Logger } from '../base/log.js';
import type { MachinePlugins } from '../machine/machine-plugins.js';
import { QtestLog } from '../protocol/qtest/qtest-log.js';
import { defaultPluginsModule } from './default-plugins.lazy.js';
import { infoModule } from './info.lazy.js';
import { startLaunch } from './launch-session.js';
import type { RunningLaunch } from './launch-session.js';
import { exitWithParent, installProcessGuards, onTerminationSignals } from './process-guard.js';

/** pino's numeric levels. */
const LEVELS: Record<string, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};

type LogMethod = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/**
 * A Logger that is pino (same options, same output) but loads pino only when a message at or
 * above `level` is logged. Children are lazy too. Unknown levels load pino at once (it reports them).
 */
export function lazyPino(level: string, make: () => Logger): Logger {
  const threshold = LEVELS[level];
  if (threshold === undefined || threshold <= LEVELS.info) return make();
  let real: Logger | undefined;
  const get = (): Logger => (real ??= make());
  return lazyLogger(get, threshold);
}

function lazyLogger(get: () => Logger, threshold: number): Logger {
  const method = (name: LogMethod) =>
    LEVELS[name] < threshold ? () => {} : (...args: unknown[]) => (get()[name] as (...a: unknown[]) => void)(...args);
  const logger = {
    level: Object.keys(LEVELS).find((k) => LEVELS[k] === threshold),
    trace: method('trace'),
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    fatal: method('fatal'),
    isLevelEnabled: (l: string) => (LEVELS[l] ?? Infinity) >= threshold,
    child: (bindings: Record<string, unknown>, options?: unknown) => {
      let child: Logger | undefined;
      return lazyLogger(() => (child ??= get().child(bindings, options as never)), threshold);
    },
  };
  return logger as unknown as Logger;
}

/** The device models and the SMMU, loaded when the machine is built (a lazy module in the bundle). */
const plugins: MachinePlugins = {
  createSmmu: (deps) => defaultPluginsModule().DEFAULT_PLUGINS.createSmmu(deps),
  checkDriver: (name) => defaultPluginsModule().DEFAULT_PLUGINS.checkDriver(name),
  createDevice: (spec) => defaultPluginsModule().DEFAULT_PLUGINS.createDevice(spec),
};

export function runLauncher(argv: string[]): void {
  let log: Logger | undefined;
  let launch: RunningLaunch | undefined;
  installProcessGuards(() => log);
  // Signal handlers first: a kill can follow the handshake at once.
  onTerminationSignals(async () => {
    await launch?.terminate('host-signal');
  });
  const level = process.env.QTESTD_LOG_LEVEL ?? 'warn';
  log = lazyPino(level, () => {
    const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
    return pino({ level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
  });
  launch = startLaunch(
    argv,
    {
      stderr: (text) => process.stderr.write(text),
      exit: (code) => process.exit(code),
      cwd: process.cwd(),
      openQtestLog: (spec) => QtestLog.open(spec),
      log,
      plugins,
    },
    (info) => infoModule().printInfo(info),
  );
  if (launch?.options.exitWithParent) exitWithParent(() => process.exit(0));
}

runLauncher(process.argv.slice(2));
