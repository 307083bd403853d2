/**
 * One shim connection of the warm-launch daemon = at most one launch: the 'L' request runs
 * `startLaunch` with its own Session, announced by an 'S' frame (or answers 'C' for the cold
 * path / 'C respawn' after a rebuild), stderr text and the exit code go back as 'E' / 'O' / 'X' frames, and a 'T' frame or
 * the shim going away terminates the launch as the signal does in the cold launcher.
 */
import type { Socket } from 'node:net';
import { pino } from 'pino';
import type { Logger } from '../base/log.js';
import { DEFAULT_PLUGINS } from '../machine/default-plugins.js';
import { QtestLog } from '../protocol/qtest/qtest-log.js';
import { startLaunch } from './launch-session.js';
import type { LaunchHost, RunningLaunch } from './launch-session.js';
import { FrameReader, frame, MAX_REQUEST, parseRequest } from './launch-wire.js';
import type { LaunchRequest } from './launch-wire.js';
import { coldReasonOf, STDERR_LOGS, STDOUT_LOGS } from './launch-cold-path.js';
import { ArgvError, parseLaunchArgv } from '../config/argv.js';
import type { LaunchOptions } from '../config/argv.js';

const TERMINATE_GRACE_MS = 500;

export interface ConnectionHooks {
  isStale(): boolean;
  onStale(): void;
  onClosed(): void;
}

/** One shim connection = at most one launch. */
export class LaunchConnection {
  private reader = new FrameReader(MAX_REQUEST);
  private launch: RunningLaunch | undefined;
  private requested = false;
  private exited = false;
  private terminating = false;

  constructor(
    private readonly socket: Socket,
    private readonly log: Logger,
    private readonly hooks: ConnectionHooks,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // ECONNRESET / EPIPE: the shim went away; 'close' follows and ends its launch
    socket.on('error', (err) => this.log.debug({ err }, 'shim connection error'));
    socket.on('close', () => this.onClose());
  }

  private send(type: string, payload: Buffer | string = ''): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(frame(type, payload));
  }

  private onData(chunk: Buffer): void {
    let frames;
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      this.log.warn({ err }, 'bad frame from a shim; closing');
      this.socket.destroy();
      return;
    }
    for (const f of frames) {
      try {
        if (f.type === 'L' && !this.requested) {
          this.requested = true;
          this.start(parseRequest(f.payload));
        } else if (f.type === 'T') {
          this.terminate('host-signal');
        }
      } catch (err) {
        this.log.error({ err }, 'launch request failed');
        if (!this.exited) this.finish(1, `qemu-system-aarch64: qtestd launch daemon: ${(err as Error).message}\n`);
      }
    }
  }

  private start(req: LaunchRequest): void {
    if (this.hooks.isStale()) {
      this.send('C', 'respawn');
      this.exited = true;
      this.socket.end();
      this.hooks.onStale();
      return;
    }
    // Parsed once here for both questions: must it go cold, and (startLaunch) what to run. An argv
    // error is served warm: startLaunch parses again and reports it as the cold path would.
    let parsed: LaunchOptions | undefined;
    try {
      parsed = parseLaunchArgv(req.argv);
    } catch (e) {
      if (!(e instanceof ArgvError)) throw e;
    }
    const reason = parsed && coldReasonOf(parsed);
    if (reason) {
      this.log.debug({ pid: req.pid, reason }, 'cold path');
      this.send('C');
      this.exited = true;
      this.socket.end();
      return;
    }
    const stderr = (text: string | Buffer): void => {
      if (!this.exited) this.send('E', text);
    };
    const stdout = (text: string | Buffer): void => {
      if (!this.exited) this.send('O', text);
    };
    // As the cold launcher: pino on the launching process's stderr, level from its environment.
    const launchLog: Logger = pino(
      { level: req.env.QTESTD_LOG_LEVEL ?? 'warn', base: { pid: req.pid } },
      { write: (s: string) => stderr(s) },
    );
    const host: LaunchHost = {
      stderr,
      exit: (code) => this.finish(code),
      cwd: req.cwd,
      openQtestLog: (spec) => {
        if (STDERR_LOGS.has(spec)) return relayedQtestLog(stderr);
        if (spec !== undefined && STDOUT_LOGS.has(spec)) return relayedQtestLog(stdout);
        return QtestLog.open(spec);
      },
      log: launchLog,
      plugins: DEFAULT_PLUGINS,
    };
    this.log.debug({ pid: req.pid, argv: req.argv }, 'launch');
    // From here on the launch is ours: if this process dies, the shim must not re-run it cold.
    this.send('S');
    this.launch = startLaunch(req.argv, host, undefined, parsed);
  }

  private finish(code: number, message?: string): void {
    if (this.exited) return;
    if (message) this.send('E', message);
    this.send('X', String(code));
    this.exited = true;
    this.socket.end();
  }

  /**
   * The daemon is draining: a connection whose request has not been taken is closed unanswered
   * (the shim, having received nothing, runs the launch cold); one with a launch is left to end.
   */
  abandon(): void {
    if (this.requested) return;
    this.requested = true; // a request still in flight is not taken
    this.exited = true;
    this.socket.destroy();
  }

  /** The shim was signalled (or is gone): SHUTDOWN, close the sockets, report exit 0. */
  terminate(reason: string): void {
    if (this.exited || this.terminating || !this.launch) return;
    this.terminating = true;
    const launch = this.launch;
    const grace = setTimeout(() => this.finish(0), TERMINATE_GRACE_MS);
    launch
      .terminate(reason)
      .catch((err) => this.log.error({ err }, 'terminate failed'))
      .finally(() => {
        clearTimeout(grace);
        this.finish(0);
      });
  }

  private onClose(): void {
    if (!this.exited) {
      this.log.debug('shim went away; ending its launch');
      this.terminate('host-signal');
      this.exited = true;
    }
    this.hooks.onClosed();
  }
}

/**
 * A -qtest-log that goes to the launching process's stderr (or stdout): the same writer as the
 * cold path, with its byte sink pointed at the relay instead of fd 2.
 */
function relayedQtestLog(write: (b: Buffer) => void): QtestLog | undefined {
  return QtestLog.toSink(write);
}
