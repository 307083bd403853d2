/**
 * One drop-in launch: parse QEMU's argv, build the Session, dial or listen on the qtest/QMP
 * chardevs, and report back through a small LaunchHost (where stderr text goes, how to exit).
 * Used by the cold launcher (cli/main.ts, one process per launch) and by the warm-launch daemon
 * (many launches in one process, each owned by a native shim process).
 */
import { basename, resolve as resolvePath } from 'node:path';
import type { Logger } from '../base/log.js';
import { ConfigError } from '../machine/config.js';
import type { MachinePlugins } from '../machine/machine.js';
import { QtestLog } from '../protocol/qtest/qtest-log.js';
import { Session } from '../session/session.js';
import { openChardev } from '../transport/chardev-open.js';
import type { OpenedChardev } from '../transport/chardev-open.js';
import type { ChardevAddress } from '../config/chardev-address.js';
import { bindSocket } from '../transport/socket-link.js';
import { ArgvError, parseArgv } from '../config/argv.js';
import type { LaunchOptions } from '../config/argv.js';
import { announceShutdown, attachQmp } from '../session/qmp-attach.js';

export interface LaunchHost {
  /** Text for the launching process's stderr. */
  stderr(text: string): void;
  /** The launch is over: the owning process exits with `code`. */
  exit(code: number): void;
  /** Directory relative paths (qtest log file) are resolved against. */
  cwd: string;
  /** Open the qtest log (the host may redirect stderr-bound logs). */
  openQtestLog(spec: string | undefined): QtestLog | undefined;
  log: Logger;
  plugins: MachinePlugins;
}

export interface RunningLaunch {
  options: LaunchOptions;
  session: Session;
  /** SIGTERM: emit SHUTDOWN on every QMP monitor, close the sockets. */
  terminate(reason: string): Promise<void>;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ECONNREFUSED: 'Connection refused',
  EACCES: 'Permission denied',
  ENOTDIR: 'Not a directory',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
};

/** QEMU's wording for a client-mode chardev that cannot connect. */
function connectError(address: ChardevAddress, err: Error): string {
  const where =
    address.kind === 'unix' ? address.path : address.kind === 'tcp' ? `${address.host}:${address.port}` : address.kind;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return `Failed to connect to '${where}': ${ERRNO_TEXT[code] ?? err.message}`;
}

export const PROGRAM = process.env.QTESTD_ARGV0 ? basename(process.env.QTESTD_ARGV0) : 'qemu-system-aarch64';

/** Start a launch; returns undefined when it already ended (error or -version etc.). */
export function startLaunch(
  argv: string[],
  host: LaunchHost,
  onInfo?: (info: NonNullable<LaunchOptions['info']>) => void,
): RunningLaunch | undefined {
  const fail = (message: string, hint?: string): undefined => {
    host.stderr(`${PROGRAM}: ${message}\n${hint ? hint + '\n' : ''}`);
    host.exit(1);
    return undefined;
  };
  let opts: LaunchOptions;
  try {
    opts = parseArgv(argv);
  } catch (e) {
    if (e instanceof ArgvError) return fail(e.message, e.hint);
    throw e;
  }
  if (opts.info) {
    onInfo?.(opts.info);
    host.exit(0);
    return undefined;
  }
  for (const w of opts.warnings) host.stderr(`${PROGRAM}: warning: ${w}\n`);
  let session: Session;
  try {
    session = new Session(opts.machine, { log: host.log, plugins: host.plugins });
  } catch (e) {
    if (e instanceof ConfigError) return fail(e.message, e.hint);
    throw e;
  }
  if (opts.startStopped) session.pause(); // -S: paused before any monitor exists, so no event
  Object.assign(session.qmpHost, {
    guestName: opts.name,
    preconfig: opts.preconfig === true,
    startStopped: opts.startStopped,
  });
  if (opts.preconfig === true) session.pause(); // x-exit-preconfig resumes it (RESUME) unless -S

  let qtestLog: QtestLog | undefined;
  try {
    const spec =
      opts.qtestLog && opts.qtestLog !== 'none' && !opts.qtestLog.startsWith('/dev/')
        ? resolvePath(host.cwd, opts.qtestLog)
        : opts.qtestLog;
    qtestLog = host.openQtestLog(spec);
  } catch (e) {
    return fail(`-qtest-log ${opts.qtestLog}: ${(e as Error).message}`);
  }

  const opened: OpenedChardev[] = [];
  let ended = false;
  const end = (code: number): void => {
    if (ended) return;
    ended = true;
    for (const c of opened) c.close();
    qtestLog?.close();
    session.dispose();
    host.exit(code);
  };
  if (opts.qtest) {
    const spec = opts.qtest.spec;
    opened.push(
      openChardev(
        opts.qtest.address,
        (socket) =>
          bindSocket(socket, (link) => session.attachQtest(link, { log: qtestLog }), {
            encoding: 'latin1',
            log: host.log,
          }),
        (err) => {
          host.stderr(
            `${PROGRAM}: ${connectError(opts.qtest!.address, err)}\n${PROGRAM}: Failed to initialize device for qtest: "${spec}"\n`,
          );
          end(1);
        },
      ),
    );
  }
  for (const q of opts.qmp) {
    opened.push(
      openChardev(
        q.address,
        (socket) =>
          bindSocket(socket, (link) => attachQmp(session, link, () => end(0)), { encoding: 'utf8', log: host.log }),
        (err) => {
          host.stderr(`${PROGRAM}: ${q.spec}: ${connectError(q.address, err)}\n`);
          end(1);
        },
      ),
    );
  }
  for (const o of opts.otherSockets) {
    opened.push(
      openChardev(
        o.address,
        (socket) => {
          socket.on('data', () => {}); // nothing is modelled behind it: input is discarded
          socket.on('error', (err) => host.log.debug({ err, chardev: o.spec }, 'unmodelled chardev socket error'));
        },
        // as QEMU's chardev, whose peer we only connect to: a failed dial does not end the launch
        (err) => host.log.debug({ err, chardev: o.spec }, 'unmodelled chardev socket did not connect'),
      ),
    );
  }
  return {
    options: opts,
    session,
    terminate: async (reason: string) => {
      await announceShutdown(session, reason);
      end(0);
    },
  };
}
