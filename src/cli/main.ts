/**
 * Entry point of the drop-in `qemu-system-aarch64` (bin/qemu-system-aarch64 execs node on this
 * file): parses QEMU's argv, builds one Session, dials or listens on the qtest and QMP chardevs,
 * and behaves as QEMU does as a process (silent on stdout, exit 0 on SIGTERM with a SHUTDOWN
 * event, exit with the parent when asked). Errors in argv are reported QEMU-style, exit 1.
 */
import { basename } from 'node:path';
import { pino } from 'pino';
import type { Logger } from '../log.js';
import { ConfigError } from '../machine/config.js';
import { DEFAULT_PLUGINS } from '../machine/default-plugins.js';
import { QtestLog } from '../protocol/qtest/qtest-log.js';
import { Session } from '../session.js';
import { openChardev } from '../transport/chardev-open.js';
import type { OpenedChardev } from '../transport/chardev-open.js';
import { bindSocket } from '../transport/socket-link.js';
import { ArgvError, parseArgv } from './argv.js';
import type { LaunchOptions } from './argv.js';
import { exitWithParent, installProcessGuards, onTerminationSignals } from './process-guard.js';
import { attachQmp } from './qmp-attach.js';
import type { QmpMonitor } from './qmp-attach.js';
import { printInfo } from './info.js';

const PROGRAM = process.env.QTESTD_ARGV0 ? basename(process.env.QTESTD_ARGV0) : 'qemu-system-aarch64';

function fail(message: string, hint?: string): never {
  process.stderr.write(`${PROGRAM}: ${message}\n${hint ? hint + '\n' : ''}`);
  process.exit(1);
}

export function runLauncher(argv: string[]): void {
  let log: Logger | undefined;
  installProcessGuards(() => log);
  let session: Session | undefined;
  const qmpMonitors: QmpMonitor[] = [];
  const opened: OpenedChardev[] = [];
  // Install the signal handlers before any socket is dialled: a kill can follow the handshake at once.
  onTerminationSignals(async () => {
    await Promise.all(qmpMonitors.map((m) => m.shutdown('host-signal')));
    for (const c of opened) c.close();
  });

  let opts: LaunchOptions;
  try {
    opts = parseArgv(argv);
  } catch (e) {
    if (e instanceof ArgvError) fail(e.message, e.hint);
    throw e;
  }
  if (opts.info) {
    printInfo(opts.info);
    process.exit(0);
  }
  log = pino({ level: process.env.QTESTD_LOG_LEVEL ?? 'warn', base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
  for (const w of opts.warnings) process.stderr.write(`${PROGRAM}: warning: ${w}\n`);
  try {
    session = new Session(opts.machine, { log, plugins: DEFAULT_PLUGINS });
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message, e.hint);
    throw e;
  }
  if (opts.startStopped) session.runState = 'paused';
  const s = session;

  let qtestLog: QtestLog | undefined;
  try {
    qtestLog = QtestLog.open(opts.qtestLog);
  } catch (e) {
    fail(`-qtest-log ${opts.qtestLog}: ${(e as Error).message}`);
  }

  if (opts.qtest) {
    const spec = opts.qtest.spec;
    opened.push(
      openChardev(
        opts.qtest.address,
        (socket) => bindSocket(socket, (link) => s.attachQtest(link, { log: qtestLog }), { encoding: 'latin1' }),
        () => fail(`Failed to initialize device for qtest: "${spec}"`),
      ),
    );
  }
  for (const q of opts.qmp) {
    opened.push(
      openChardev(
        q.address,
        (socket) =>
          bindSocket(
            socket,
            (link) => {
              const m = attachQmp(s, link, () => process.exit(0));
              qmpMonitors.push(m);
              return m;
            },
            { encoding: 'utf8' },
          ),
        (err) => fail(`-qmp ${q.spec}: Failed to connect to '${q.spec}': ${err.message}`),
      ),
    );
  }
  for (const o of opts.otherSockets) {
    opened.push(
      openChardev(
        o.address,
        (socket) => {
          socket.on('data', () => {});
          socket.on('error', () => {});
        },
        () => {},
      ),
    );
  }
  if (opts.exitWithParent) exitWithParent(() => process.exit(0));
}

runLauncher(process.argv.slice(2));
