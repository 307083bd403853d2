/**
 * The warm-launch daemon: one long-lived node process per user and install that runs drop-in
 * launches for the native shim (native/launcher.c), so a launch costs a C exec plus one UNIX
 * socket round trip instead of a node start-up.
 *
 *   node dist/src/cli/launch-daemon.js --socket <runtime>/qtestd-<uid>/launch-<hash>.sock --root <install>
 *
 * The shim starts it (detached) when it finds no daemon. Per shim connection: one launch request
 * (argv, cwd, QTESTD_* env) → one `startLaunch` with its own Session; stderr text and the exit
 * code travel back as frames; a 'T' frame (the shim got SIGTERM/SIGINT/SIGHUP) terminates the
 * launch as the signal does in the cold launcher; the connection closing early (shim SIGKILLed,
 * parent death) terminates it too. A 'C' frame sends the shim down the cold path for argv the
 * daemon cannot serve from another process (stdio / fd chardevs, relative socket paths, -version).
 *
 * Exclusivity: an abstract-namespace UNIX socket named after the socket path is the lock (the
 * kernel releases it when the holder dies, so there is no stale lock); only the holder unlinks
 * and binds the socket path. A rebuilt qtestd (dist/.tsbuildinfo or this file changed) makes the
 * daemon answer 'C respawn', stop listening and exit once its launches have ended; the shim then
 * starts the new build's daemon. Idle for QTESTD_DAEMON_IDLE_SECONDS (default 600) → exit.
 *
 * Frames both ways: u32 LE length (type byte + payload), u8 type, payload.
 */
import { chmodSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, realpathSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { Logger } from '../base/log.js';
import { DEFAULT_PLUGINS } from '../machine/default-plugins.js';
import { QtestLog } from '../protocol/qtest/qtest-log.js';
import { Session } from '../session/session.js';
import type { ChardevAddress } from '../config/chardev-address.js';
import { parseArgv } from '../config/argv.js';
import type { LaunchOptions } from '../config/argv.js';
import { startLaunch } from './launch-session.js';
import type { LaunchHost, RunningLaunch } from './launch-session.js';
import { installProcessGuards } from './process-guard.js';
import { FrameReader, frame, MAX_REQUEST, parseRequest } from './launch-wire.js';
import type { LaunchRequest } from './launch-wire.js';

const TERMINATE_GRACE_MS = 500;

// ---------------------------------------------------------------------------------------------
// Which launches must run in the shim's own process (cold path)

const STDERR_LOGS = new Set([undefined, '/dev/fd/2', '/dev/stderr']);
const STDOUT_LOGS = new Set(['/dev/fd/1', '/dev/stdout']);

function needsOwnProcess(a: ChardevAddress): boolean {
  if (a.kind === 'stdio' || a.kind === 'fd') return true;
  // The daemon's cwd is not the shim's: relative socket paths would resolve elsewhere.
  if (a.kind === 'unix' && !a.path.startsWith('\0') && !isAbsolute(a.path)) return true;
  // A client socket that is not there: the dial fails, and openChardev does not report a failed
  // dial (see the report), so in the daemon the launch would wait forever; the cold launcher at
  // least ends when its event loop runs dry.
  if (a.kind === 'unix' && !a.server && !a.path.startsWith('\0') && !existsSync(a.path)) return true;
  return false;
}

/** Why this argv must take the cold path, or undefined. Argv errors are served warm. */
export function coldReason(argv: string[]): string | undefined {
  let opts: LaunchOptions;
  try {
    opts = parseArgv(argv);
  } catch {
    return undefined; // startLaunch reports it, with the same text the cold path prints
  }
  if (opts.info) return `-${opts.info} prints to stdout`;
  const all = [...(opts.qtest ? [opts.qtest] : []), ...opts.qmp, ...opts.otherSockets];
  for (const c of all) if (needsOwnProcess(c.address)) return `chardev ${c.spec} needs the launching process`;
  const log = opts.qtestLog;
  if (log !== undefined && log.startsWith('/dev/') && log !== '/dev/null' && !STDERR_LOGS.has(log) && !STDOUT_LOGS.has(log)) {
    return `-qtest-log ${log} names a descriptor of the launching process`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The daemon

export interface DaemonOptions {
  socketPath: string;
  idleMs: number;
  log: Logger;
  /** Returns a value that changes when qtestd is rebuilt. */
  stamp: () => string;
  /** Called once the daemon has stopped listening and every launch has ended. */
  onExit: (code: number) => void;
}

export interface Daemon {
  readonly server: Server;
  /** Number of shim connections being served. */
  active(): number;
  /** Stop listening (unlink the socket, release the lock), finish the running launches, exit. */
  drain(reason: string): void;
  /** Terminate every running launch (SIGTERM to the daemon), then exit. */
  shutdown(): void;
}

function lockName(socketPath: string): string {
  return `\0qtestd-launch-lock-${createHash('sha256').update(socketPath).digest('hex').slice(0, 32)}`;
}

function listenOn(server: Server, path: string): Promise<void> {
  return new Promise((res, rej) => {
    const onError = (e: Error): void => {
      server.off('listening', onListening);
      rej(e);
    };
    const onListening = (): void => {
      server.off('error', onError);
      res();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(path);
  });
}

/** Make the runtime dir (0700) and refuse one that is not ours or is open to others. */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = lstatSync(dir);
  const uid = process.getuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new Error(`${dir} must be a directory owned by uid ${uid} with mode 0700`);
  }
}

/**
 * Acquire the lock (retrying for `lockWaitMs`: a replaced daemon may still be letting go), then
 * bind the socket path. Resolves undefined when another daemon holds the lock.
 */
export async function startDaemon(opts: DaemonOptions, lockWaitMs = 500): Promise<Daemon | undefined> {
  const { log } = opts;
  ensurePrivateDir(dirname(opts.socketPath));
  const lock = createServer();
  const lockUntil = Date.now() + lockWaitMs;
  for (;;) {
    try {
      await listenOn(lock, lockName(opts.socketPath));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() >= lockUntil) {
        log.info({ err: e }, 'another launch daemon holds the lock; exiting');
        return undefined;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  lock.unref();
  try {
    unlinkSync(opts.socketPath); // stale (its daemon died) or left by a draining daemon
  } catch {
    /* none */
  }
  const connections = new Set<Connection>();
  const startStamp = opts.stamp();
  let draining = false;
  let idleTimer: NodeJS.Timeout | undefined;

  const server = createServer({ allowHalfOpen: false }, (socket) => {
    if (draining) {
      socket.destroy(); // closed before a request was taken: the shim goes cold
      return;
    }
    clearTimeout(idleTimer);
    const c = new Connection(socket, log, {
      isStale: () => opts.stamp() !== startStamp,
      onStale: () => drain('qtestd was rebuilt'),
      onClosed: () => {
        connections.delete(c);
        settle();
      },
    });
    connections.add(c);
  });
  server.on('error', (err) => log.error({ err }, 'launch socket error'));
  const oldMask = process.umask(0o077);
  try {
    await listenOn(server, opts.socketPath);
  } finally {
    process.umask(oldMask);
  }
  chmodSync(opts.socketPath, 0o600);
  const pidFile = opts.socketPath.replace(/\.sock$/, '') + '.pid';
  try {
    writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  } catch {
    /* informational only */
  }

  const armIdle = (): void => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => drain('idle'), opts.idleMs);
    idleTimer.unref?.();
  };
  const settle = (): void => {
    if (connections.size > 0) return;
    if (draining) opts.onExit(0);
    else armIdle();
  };
  const drain = (reason: string): void => {
    if (draining) return;
    draining = true;
    clearTimeout(idleTimer);
    log.info({ reason, running: connections.size }, 'launch daemon stops listening');
    // Unlink first, while we still hold the lock: a successor binds only after the lock is free.
    try {
      const st = statSync(opts.socketPath);
      if (st.isSocket()) unlinkSync(opts.socketPath);
    } catch {
      /* already gone */
    }
    try {
      unlinkSync(pidFile);
    } catch {
      /* already gone */
    }
    server.close();
    lock.close();
    settle();
  };
  armIdle();
  log.info({ socket: opts.socketPath, idleMs: opts.idleMs }, 'launch daemon listening');
  return {
    server,
    active: () => connections.size,
    drain,
    shutdown: () => {
      drain('signal');
      for (const c of connections) c.terminate('host-signal');
    },
  };
}

interface ConnectionHooks {
  isStale(): boolean;
  onStale(): void;
  onClosed(): void;
}

/** One shim connection = at most one launch. */
class Connection {
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
    socket.on('error', () => {});
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
    const reason = coldReason(req.argv);
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
    this.launch = startLaunch(req.argv, host);
  }

  private finish(code: number, message?: string): void {
    if (this.exited) return;
    if (message) this.send('E', message);
    this.send('X', String(code));
    this.exited = true;
    this.socket.end();
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

// ---------------------------------------------------------------------------------------------
// Entry point

const HERE = fileURLToPath(import.meta.url);

/**
 * A value that changes when the install at `root` is rebuilt: the mtimes of tsc's build info
 * (written by every build that emits) and of this file, looked up under the install root the shim
 * found, so the stamp follows that install even through symlinks.
 */
export function buildStamp(root: string): string {
  const parts: string[] = [];
  for (const f of [join(root, 'dist', '.tsbuildinfo'), join(root, 'dist', 'src', 'cli', 'launch-daemon.js')]) {
    try {
      parts.push(String(statSync(f).mtimeMs));
    } catch {
      parts.push('-');
    }
  }
  return parts.join(':');
}

/** Run a few launches' worth of parsing and machine building so the first real launch is JIT-warm. */
function warmUp(log: Logger): void {
  const silent = pino({ level: 'silent' });
  const machines = [['-machine', 'virt'], ['-machine', 'virt,acpi=off,gic-version=3,iommu=smmuv3', '-m', '512', '-cpu', 'max', '-device', 'iommu-testdev'], ['-machine', 'none']];
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) {
    for (const m of machines) {
      try {
        const opts = parseArgv(['-qtest', 'unix:/nonexistent/q.sock', '-display', 'none', ...m, '-accel', 'qtest']);
        coldReason(['-qtest', 'unix:/nonexistent/q.sock', ...m]);
        new Session(opts.machine, { log: silent, plugins: DEFAULT_PLUGINS }).dispose();
      } catch (err) {
        log.debug({ err }, 'warm-up launch failed');
        return;
      }
    }
  }
  log.info({ ms: Math.round(performance.now() - t0) }, 'warmed up');
}

function argValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

export async function runDaemon(argv: string[]): Promise<void> {
  let log: Logger | undefined;
  installProcessGuards(() => log);
  const socketPath = argValue(argv, '--socket') ?? process.env.QTESTD_DAEMON_SOCKET;
  if (!socketPath || !isAbsolute(socketPath)) {
    process.stderr.write('usage: launch-daemon.js --socket /abs/path/launch-XXXXXXXX.sock\n');
    process.exit(2);
  }
  const dir = dirname(socketPath);
  try {
    ensurePrivateDir(dir);
  } catch (e) {
    process.stderr.write(`qtestd launch daemon: ${(e as Error).message}\n`);
    process.exit(1);
  }
  const logPath = join(dir, socketPath.slice(dir.length + 1).replace(/\.sock$/, '') + '.log');
  try {
    if (statSync(logPath).size > 8 * 1024 * 1024) closeSync(openSync(logPath, 'w'));
  } catch {
    /* no log yet */
  }
  log = pino(
    { level: process.env.QTESTD_DAEMON_LOG_LEVEL ?? 'info', base: { pid: process.pid } },
    pino.destination({ dest: logPath, sync: true, mode: 0o600 }),
  );
  const idleSeconds = Number(process.env.QTESTD_DAEMON_IDLE_SECONDS ?? '600');
  const root = argValue(argv, '--root') ?? resolvePath(dirname(HERE), '..', '..', '..');
  const daemon = await startDaemon({
    socketPath,
    idleMs: (Number.isFinite(idleSeconds) && idleSeconds > 0 ? idleSeconds : 600) * 1000,
    log,
    stamp: () => buildStamp(root),
    onExit: (code) => {
      log?.info('launch daemon exits');
      process.exit(code);
    },
  });
  if (!daemon) process.exit(0);
  setImmediate(() => warmUp(log!));
  let signalled = false;
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(s, () => {
      if (signalled) return;
      signalled = true;
      daemon.shutdown();
      setTimeout(() => process.exit(0), 2000).unref();
    });
  }
}

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(HERE);
  } catch {
    return false;
  }
}

if (isMain()) void runDaemon(process.argv.slice(2));
