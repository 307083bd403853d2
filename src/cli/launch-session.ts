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
import type { Socket } from 'node:net';
import { describeOpenError, openChardev } from '../transport/chardev-open.js';
import type { OpenedChardev } from '../transport/chardev-open.js';
import { bindSocket } from '../transport/socket-link.js';
import { ArgvError, parseLaunchArgv } from '../config/argv.js';
import type { InfoRequest, LaunchOptions } from '../config/argv.js';
import { PHASES } from '../config/launch-plan.js';
import type { DeferredError, PlannedSocket } from '../config/launch-plan.js';
import { traceOutputModule } from './trace-output.lazy.js';
import type { TraceFile } from './trace-output.js';
import { announceShutdown, attachQmp } from '../session/qmp-attach.js';
import { qmpCapturesProblem } from '../protocol/qmp/schema/captures.js';

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
  /** Undefined for a launch that is failing (it opens sockets, then exits 1). */
  session?: Session;
  /** SIGTERM: emit SHUTDOWN on every QMP monitor, close the sockets. */
  terminate(reason: string): Promise<void>;
}

export const PROGRAM = process.env.QTESTD_ARGV0 ? basename(process.env.QTESTD_ARGV0) : 'qemu-system-aarch64';

/** The text QEMU prints when a planned backend cannot be opened. */
function openFailure(sock: PlannedSocket, err: Error): string {
  const why = describeOpenError(sock.address!, err);
  if (sock.failure === 'qtest') return `${why}\n${PROGRAM}: Failed to initialize device for qtest: "${sock.spec}"`;
  if (sock.failure === 'serial') {
    const value = sock.spec.replace(/^-+serial /, '');
    return `${sock.spec}: ${why}\n${PROGRAM}: ${sock.spec}: could not connect serial device to character backend '${value}'`;
  }
  return `${sock.spec}: ${why}`;
}

/**
 * Start a launch; returns undefined when it already ended (an option error, -version …). The
 * sockets are opened in QEMU's start-up order (config/launch-plan.ts), one after the other; a
 * launch that fails in a later phase (a bad -device) first opens what QEMU opens before that
 * phase, so libqtest's sockets see a connection and then EOF, never a connect timeout.
 */
export function startLaunch(
  argv: string[],
  host: LaunchHost,
  onInfo?: (info: InfoRequest) => void,
  /** `argv` already parsed (parseLaunchArgv), so a caller that looked at it does not parse twice */
  parsed?: LaunchOptions,
): RunningLaunch | undefined {
  const fail = (message: string, hint?: string): undefined => {
    host.stderr(`${PROGRAM}: ${message}\n${hint ? hint + '\n' : ''}`);
    host.exit(1);
    return undefined;
  };
  let opts: LaunchOptions;
  try {
    opts = parsed ?? parseLaunchArgv(argv);
  } catch (e) {
    if (e instanceof ArgvError) return fail(e.message, e.hint);
    throw e;
  }
  if (opts.info) {
    onInfo?.(opts.info);
    host.exit(0);
    return undefined;
  }
  let failure: DeferredError | undefined = opts.deferred;
  if (failure?.phase === 'machine-type') return fail(failure.message, failure.hint);
  // An install without the QMP captures would answer its monitor with nothing: fail now instead.
  if (opts.sockets.some((s) => s.roles.includes('qmp'))) {
    const problem = qmpCapturesProblem();
    if (problem !== undefined) return fail(`qtestd: ${problem}`);
  }
  for (const w of opts.warnings) host.stderr(`${PROGRAM}: warning: ${w}\n`);
  let traceOut: TraceFile | undefined;
  try {
    traceOut = opts.trace && traceOutputModule().openTraceOutput(opts.trace, host.cwd, (t) => host.stderr(t), host.log);
  } catch (e) {
    return fail(`${(e as Error).message}`);
  }
  let session: Session | undefined;
  if (!failure) {
    try {
      // Built on the first request that needs it when it cannot fail to build (the first reply,
      // `endianness`, does not).
      session = new Session(opts.machine, {
        log: host.log,
        plugins: host.plugins,
        trace: traceOut?.tracer,
        lazyMachine: true,
      });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      failure = { phase: e.phase ?? 'board', message: e.message, hint: e.hint };
    }
  }
  if (session) {
    if (opts.startStopped) session.pause(); // -S: paused before any monitor exists, so no event
    session.configureQmpHost((h) =>
      Object.assign(h, { guestName: opts.name, preconfig: opts.preconfig === true, startStopped: opts.startStopped }),
    );
    if (opts.preconfig === true) session.pause(); // x-exit-preconfig resumes it (RESUME) unless -S
  }

  let qtestLog: QtestLog | undefined;
  if (session) {
    try {
      const spec =
        opts.qtestLog && opts.qtestLog !== 'none' && !opts.qtestLog.startsWith('/dev/')
          ? resolvePath(host.cwd, opts.qtestLog)
          : opts.qtestLog;
      qtestLog = host.openQtestLog(spec);
    } catch (e) {
      session.dispose();
      return fail(`-qtest-log ${opts.qtestLog}: ${(e as Error).message}`);
    }
  }

  const opened: OpenedChardev[] = [];
  /** The chardevs by id, in creation order (query-chardev, query-yank). */
  const chardevs: Array<{ sock: PlannedSocket; chardev: OpenedChardev }> = [];
  session?.configureQmpHost((h) => {
    h.chardevs = () =>
      chardevs.map(({ sock, chardev }) => ({
        label: sock.id!,
        filename: chardev.filename(),
        frontendOpen: sock.roles.length > 0,
        yank: sock.address!.kind !== 'null' && sock.address!.kind !== 'stdio',
      }));
  });
  let ended = false;
  const end = (code: number): void => {
    if (ended) return;
    ended = true;
    for (const c of opened) c.close();
    qtestLog?.close();
    session?.dispose();
    traceOut?.close();
    host.exit(code);
  };
  const failNow = (text: string, hint?: string): void => {
    if (ended) return;
    host.stderr(`${PROGRAM}: ${text}\n${hint ? hint + '\n' : ''}`);
    end(1);
  };

  /** What a connection does: the role's protocol, or (no role, or a launch about to fail) nothing. */
  const serve = (sock: PlannedSocket, socket: Socket): void => {
    const role = session ? sock.roles[0] : undefined;
    if (role === 'qtest')
      bindSocket(socket, (link) => session!.attachQtest(link, { log: qtestLog }), {
        encoding: 'latin1',
        log: host.log,
      });
    else if (role === 'qmp')
      bindSocket(socket, (link) => attachQmp(session!, link, () => end(0)), { encoding: 'utf8', log: host.log });
    else if (session) {
      socket.on('data', () => {}); // nothing is modelled behind it: input is discarded
      socket.on('error', (err) => host.log.debug({ err, chardev: sock.spec }, 'unmodelled chardev socket error'));
    } else socket.on('error', (err) => host.log.debug({ err, chardev: sock.spec }, 'socket error before exit'));
  };
  /** Open one backend; resolves once it is up, or with the text QEMU prints when it cannot be. */
  const open = (sock: PlannedSocket): Promise<string | undefined> =>
    new Promise((resolve) => {
      let settled = false;
      const settle = (text?: string): void => {
        if (settled) {
          if (text) failNow(text); // a server socket failing after it listened
          return;
        }
        settled = true;
        resolve(text);
      };
      const chardev = openChardev(
        sock.address!,
        (socket) => serve(sock, socket),
        (err) => settle(openFailure(sock, err)),
        { onReady: () => settle() },
      );
      opened.push(chardev);
      if (sock.id !== undefined) chardevs.push({ sock, chardev });
    });

  const run = async (): Promise<void> => {
    for (const phase of PHASES) {
      for (const sock of opts.sockets.filter((s) => s.phase === phase)) {
        if (sock.error !== undefined) return failNow(sock.error);
        const why = await open(sock);
        if (ended) return;
        if (why !== undefined) return failNow(why);
      }
      if (failure?.phase === phase) return failNow(failure.message, failure.hint);
    }
  };
  run().catch((err) => {
    host.log.error({ err }, 'launch start-up failed');
    failNow(`qtestd: ${(err as Error).message}`);
  });
  return {
    options: opts,
    session,
    terminate: async (reason: string) => {
      if (session) await announceShutdown(session, reason);
      end(0);
    },
  };
}
