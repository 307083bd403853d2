/**
 * The warm-launch daemon's server side (the "primary"): the lock (an abstract-namespace UNIX
 * socket named after the socket path; the kernel releases it when the holder dies), the private
 * runtime dir, the listening socket and its pid file, the idle timer, and draining (stop
 * listening, let running launches end, then exit).
 *
 * The primary never accepts. It binds the socket and gives the bound handle to every worker of
 * the pool (and to each replacement of a dead one); the workers listen on it and accept shim
 * connections themselves (launch-daemon-worker.ts), so a launch costs no hop through this
 * process. The primary keeps its own copy of the socket open without polling it: while every
 * worker is restarting, connections wait in the kernel's backlog for the next one. No message
 * crosses per launch: when the idle timer expires, the primary asks the workers what they did
 * since. A drain unlinks the path, closes the primary's copy and has every worker close its
 * listener; connections a worker accepted but has not read a request from are closed then (the
 * shim sees nothing and goes cold, as it did when the primary refused them); each worker
 * acknowledges ('drained') once its running launches have ended, and the primary exits when all
 * have (or died).
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import net from 'node:net';
import type { Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../base/log.js';
import { WorkerPool } from '../service/worker-pool.js';
import { ownSocketPath } from './launch-daemon-own-socket.js';

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
  /** The worker pids. */
  workerPids(): number[];
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
/** Workers in a row that may die before they are ready before the daemon gives up. */
const WORKER_START_TRIES = 3;

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

/** A libuv pipe handle bound by node's own server code (not listening: the workers listen). */
interface BoundHandle {
  close(): void;
}

/**
 * Bind a UNIX stream socket at `path` without listening on it (so this process never polls or
 * accepts on it): node's net module's own handle factory, the one its cluster primary uses to
 * bind a handle for its workers. Returns the handle or a negative libuv error code.
 */
function bindHandle(path: string): BoundHandle | number {
  const factory = (net as unknown as { _createServerHandle?: (a: string, p: number, t: number) => unknown })
    ._createServerHandle;
  if (typeof factory !== 'function') return -38; // ENOSYS: this node has no such factory
  return factory(path, -1, -1) as BoundHandle | number;
}

/**
 * Acquire the lock (retrying for `lockWaitMs`: a replaced daemon may still be letting go), then
 * bind the socket and start the workers. Resolves undefined when another daemon holds the lock.
 */
export async function startDaemon(opts: DaemonOptions, lockWaitMs = 500): Promise<Daemon | undefined> {
  const { log } = opts;
  const dir = dirname(opts.socketPath);
  ensurePrivateDir(dir);
  const lock = net.createServer();
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

  // Bound under a private name and renamed over the socket path once a worker listens: the path
  // never names a socket nobody accepts on, and a stale one (its daemon died) is replaced at once.
  // A name that does not fit a socket address falls back to binding the path itself.
  const oldMask = process.umask(0o077);
  let bindPath = join(dir, `.${process.pid}.bind`); // not *.sock: only published sockets are
  let handle: BoundHandle | number;
  try {
    try {
      unlinkSync(bindPath); // a previous daemon with our pid died between bind and rename
    } catch {
      // nothing left over: the usual case
    }
    handle = bindHandle(bindPath);
    if (typeof handle === 'number') {
      log.debug({ code: handle, path: bindPath }, 'cannot bind the private name; binding the socket path');
      try {
        unlinkSync(opts.socketPath); // stale (its daemon died) or left by a draining daemon
      } catch {
        // nothing stale to remove; a real problem with the path shows in the bind below
      }
      bindPath = opts.socketPath;
      handle = bindHandle(bindPath);
    }
  } finally {
    process.umask(oldMask);
  }
  if (typeof handle === 'number') {
    log.error({ code: handle, socket: opts.socketPath }, 'cannot bind the launch socket; exiting');
    lock.close();
    return undefined;
  }
  chmodSync(bindPath, 0o600);
  const bound = handle;
  const pidFile = opts.socketPath.replace(/\.sock$/, '') + '.pid';

  /** Workers given the listener that have not acknowledged a drain (nor died). */
  const listening = new Set<number>();
  let published = false;
  let draining = false;
  let idleTimer: NodeJS.Timeout | undefined;
  let idleRound = 0;

  /**
   * The idle timer: when it expires, ask the workers what they did (launches running, when they
   * last accepted or closed one); any launch since → wait the rest of the period from then. So
   * the timer sees every launch without a message per launch. A worker that does not answer in
   * time is busy (blocked in a launch), which is not idleness.
   */
  const armIdle = (ms = opts.idleMs): void => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => void checkIdle(), Math.max(1, ms));
    idleTimer.unref?.();
  };
  const checkIdle = async (): Promise<void> => {
    const round = ++idleRound;
    const live = pool.pids().length;
    const answers = await pool.ask<{ round: number; active: number; lastMs: number }>('activity', 2000, { round });
    if (draining || round !== idleRound) return;
    const fresh = answers.filter((a) => a && a.round === round);
    if (fresh.length < live || fresh.some((a) => a.active > 0)) return armIdle();
    const last = Math.max(0, ...fresh.map((a) => a.lastMs));
    const left = last + opts.idleMs - Date.now();
    if (left > 0) return armIdle(left);
    drain('idle');
  };
  const settle = (): void => {
    if (draining && listening.size === 0) opts.onExit(0);
  };

  /** The first worker listens: the socket path now names a socket somebody accepts on. */
  const publish = (): void => {
    if (published || draining) return;
    published = true;
    if (bindPath !== opts.socketPath) renameSync(bindPath, opts.socketPath);
    try {
      writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
    } catch (err) {
      log.debug({ err, pidFile }, 'cannot write the pid file (informational only)');
    }
    log.info({ socket: opts.socketPath, idleMs: opts.idleMs }, 'launch daemon listening');
    armIdle(); // idle from when the workers can serve (start-up is not idleness)
  };

  const startStamp = opts.stamp();
  const module = workerModule(opts.root);
  /** Workers that died before saying ready, since one last did: a broken or removed install. */
  let deadAtStart = 0;
  const readyPids = new Set<number>();
  /**
   * After a worker died: a daemon whose install was removed or rebuilt, or whose workers keep
   * dying before they are ready, stops (its shims go cold) rather than start workers forever.
   */
  const afterWorkerDeath = (pid: number): void => {
    if (!readyPids.delete(pid)) deadAtStart++;
    if (!existsSync(module)) drain('qtestd was removed');
    else if (opts.stamp() !== startStamp) drain('qtestd was rebuilt');
    else if (deadAtStart >= WORKER_START_TRIES) drain('launch workers die before they are ready');
  };
  const pool = new WorkerPool({
    module,
    size: opts.workers,
    env: {
      QTESTD_DAEMON_ROOT: opts.root,
      QTESTD_DAEMON_STAMP: startStamp,
      ...(opts.logPath ? { QTESTD_DAEMON_LOG: opts.logPath } : {}),
      // each worker's own socket is next to it (ownSocketPath, launch-daemon-own-socket.ts)
      QTESTD_DAEMON_SOCKET: opts.socketPath,
      // long-lived workers must not write coverage files into a test run's tree (native/launcher.c
      // drops it for the daemon it starts; this covers a daemon started some other way)
      NODE_V8_COVERAGE: undefined,
    },
    log,
    onReady: (index) => {
      // a new worker, or the replacement of a dead one, takes its share of the listener
      const pid = pool.pids()[index]!;
      readyPids.add(pid);
      deadAtStart = 0;
      if (draining) return;
      if (pool.share(index, { t: 'listen' }, bound)) listening.add(pid);
    },
    onMessage: (_index, msg) => {
      const pid = Number(msg.pid);
      if (msg.t === 'listening') {
        try {
          publish();
        } catch (err) {
          log.error({ err }, 'cannot publish the launch socket');
          drain('cannot publish the socket');
        }
      } else if (msg.t === 'drained') {
        listening.delete(pid);
        settle();
      } else if (msg.t === 'stale') drain('qtestd was rebuilt');
    },
    onExit: (index, code, signal) => {
      // its launches ended with it (their shims saw the connection close after 'S'), and its
      // copy of the listener closed: connections it had not accepted wait for the others
      const pid = pool.pids()[index]!;
      listening.delete(pid);
      if (!draining) {
        log.error({ worker: index, code, signal }, 'launch worker died');
        afterWorkerDeath(pid);
      }
      settle();
    },
  });

  const drain = (reason: string): void => {
    if (draining) return;
    draining = true;
    clearTimeout(idleTimer);
    log.info({ reason }, 'launch daemon stops listening');
    // Unlink first, while we still hold the lock: a successor binds only after the lock is free.
    const own = Array.from({ length: opts.workers }, (_, i) => ownSocketPath(opts.socketPath, i));
    for (const path of new Set([opts.socketPath, bindPath, ...own])) {
      try {
        if (statSync(path).isSocket()) unlinkSync(path);
      } catch {
        // already gone (a successor's socket is never ours to remove: we still hold the lock)
      }
    }
    try {
      unlinkSync(pidFile);
    } catch {
      // already gone, or never written (logged then)
    }
    // Our copy of the socket goes; the workers close theirs and acknowledge. Once the last copy is
    // closed, connections still in the backlog are refused and their shims go cold.
    bound.close();
    pool.post({ t: 'drain' });
    lock.close();
    settle();
  };

  return {
    workerPids: () => pool.pids(),
    drain,
    shutdown: () => {
      drain('signal');
      pool.post({ t: 'terminate' });
    },
  };
}
