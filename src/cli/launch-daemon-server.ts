/**
 * The warm-launch daemon's server side: the lock (an abstract-namespace UNIX socket named after
 * the socket path; the kernel releases it when the holder dies), the private runtime dir, the
 * listening socket and its pid file, the idle timer, and draining (stop listening, let running
 * launches end, then exit). Each shim connection is handed (its descriptor) to a worker process
 * of the pool, where it is a LaunchConnection (launch-daemon-worker.ts).
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../base/log.js';
import { WorkerPool } from '../service/worker-pool.js';

export interface DaemonOptions {
  socketPath: string;
  idleMs: number;
  log: Logger;
  /** Returns a value that changes when qtestd is rebuilt. */
  stamp: () => string;
  /** The install root (the workers compute the stamp from it). */
  root: string;
  /** The daemon's log file (the workers append to it). */
  logPath?: string;
  workers: number;
  /** Called once the daemon has stopped listening and every launch has ended. */
  onExit: (code: number) => void;
}

export interface Daemon {
  readonly server: Server;
  /** The worker pids. */
  workerPids(): number[];
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

/**
 * The worker's entry point: next to this file when it runs from dist/src (or from the sources
 * under a loader), else (bundled) the install's dist/src copy.
 */
function workerModule(root: string): string {
  const here = fileURLToPath(import.meta.url);
  const sibling = here.replace(/launch-daemon-server\.(ts|js)$/, 'launch-daemon-worker.$1');
  if (sibling !== here && existsSync(sibling)) return sibling;
  return join(root, 'dist', 'src', 'cli', 'launch-daemon-worker.js');
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
    // nothing stale to remove; a real problem with the path shows in listenOn() below
  }
  /** Shim connections handed to a worker and not reported closed. */
  let active = 0;
  const startStamp = opts.stamp();
  let draining = false;
  let idleTimer: NodeJS.Timeout | undefined;
  const closed = (): void => {
    active = Math.max(0, active - 1);
    settle();
  };
  const pool = new WorkerPool({
    module: workerModule(opts.root),
    size: opts.workers,
    env: {
      QTESTD_DAEMON_ROOT: opts.root,
      QTESTD_DAEMON_STAMP: startStamp,
      ...(opts.logPath ? { QTESTD_DAEMON_LOG: opts.logPath } : {}),
    },
    log,
    onMessage: (index, msg) => {
      if (msg.t === 'closed') {
        perWorker[index] = Math.max(0, perWorker[index]! - 1);
        closed();
      } else if (msg.t === 'stale') drain('qtestd was rebuilt');
    },
    onExit: (index, code, signal) => {
      // its launches ended with it (their shims saw the connection close after 'S')
      const lost = perWorker[index] ?? 0;
      perWorker[index] = 0;
      for (let i = 0; i < lost; i++) closed();
      if (!draining) log.error({ worker: index, code, signal, launches: lost }, 'launch worker died');
    },
  });
  const perWorker = new Array<number>(opts.workers).fill(0);

  const server = createServer({ allowHalfOpen: false, pauseOnConnect: true }, (socket) => {
    if (draining) {
      socket.destroy(); // closed before a request was taken: the shim goes cold
      return;
    }
    clearTimeout(idleTimer);
    const index = pool.pick();
    active++;
    perWorker[index]!++;
    if (pool.hand({ t: 'conn' }, socket, index) < 0) {
      perWorker[index]!--;
      socket.destroy(); // no worker: nothing was read, the shim goes cold
      closed();
    }
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
  } catch (err) {
    log.debug({ err, pidFile }, 'cannot write the pid file (informational only)');
  }

  const armIdle = (): void => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => drain('idle'), opts.idleMs);
    idleTimer.unref?.();
  };
  const settle = (): void => {
    if (active > 0) return;
    if (draining) opts.onExit(0);
    else armIdle();
  };
  const drain = (reason: string): void => {
    if (draining) return;
    draining = true;
    clearTimeout(idleTimer);
    log.info({ reason, running: active }, 'launch daemon stops listening');
    // Unlink first, while we still hold the lock: a successor binds only after the lock is free.
    try {
      const st = statSync(opts.socketPath);
      if (st.isSocket()) unlinkSync(opts.socketPath);
    } catch {
      // already gone (a successor's socket is never ours to remove: we still hold the lock)
    }
    try {
      unlinkSync(pidFile);
    } catch {
      // already gone, or never written (logged then)
    }
    server.close();
    lock.close();
    settle();
  };
  // idle from when the workers can serve (their start-up is not idleness)
  void pool.ready().then(() => {
    if (!draining && active === 0) armIdle();
  });
  log.info({ socket: opts.socketPath, idleMs: opts.idleMs }, 'launch daemon listening');
  return {
    server,
    workerPids: () => pool.pids(),
    active: () => active,
    drain,
    shutdown: () => {
      drain('signal');
      pool.post({ t: 'terminate' });
    },
  };
}
