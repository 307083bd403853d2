/**
 * The warm-launch daemon's server side: the lock (an abstract-namespace UNIX socket named after
 * the socket path; the kernel releases it when the holder dies), the private runtime dir, the
 * listening socket and its pid file, the idle timer, and draining (stop listening, let running
 * launches end, then exit). Each shim connection is a LaunchConnection.
 */
import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../base/log.js';
import { LaunchConnection } from './launch-daemon-connection.js';

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
    // nothing stale to remove; a real problem with the path shows in listenOn() below
  }
  const connections = new Set<LaunchConnection>();
  const startStamp = opts.stamp();
  let draining = false;
  let idleTimer: NodeJS.Timeout | undefined;

  const server = createServer({ allowHalfOpen: false }, (socket) => {
    if (draining) {
      socket.destroy(); // closed before a request was taken: the shim goes cold
      return;
    }
    clearTimeout(idleTimer);
    const c = new LaunchConnection(socket, log, {
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
  } catch (err) {
    log.debug({ err, pidFile }, 'cannot write the pid file (informational only)');
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
