/**
 * A worker process of the warm-launch daemon (forked by launch-daemon-server.ts through a
 * WorkerPool): it is given the daemon's bound socket ('listen'), listens and accepts shim
 * connections on it itself (as do the other workers) and runs each as a LaunchConnection, so
 * launches in different workers never wait on each other and the primary process (lock, idle
 * timer, signals, worker replacement) never waits on a launch nor relays one. The primary's
 * idle timer asks it for its activity ('activity': launches running, when one last began or
 * ended); nothing is sent per launch. 'drain' closes its listener and the
 * connections that have no launch yet, and is acknowledged ('drained'); 'terminate' (the daemon
 * got SIGTERM) ends every launch as the signal does in the cold launcher. If the primary dies,
 * so does the daemon: the worker exits at once and its launches' sockets close, as a QEMU that
 * died (the shims say so and exit non-zero: native/launcher.c).
 *
 * Environment: QTESTD_DAEMON_ROOT (the install), QTESTD_DAEMON_STAMP (its build stamp when the
 * daemon started), QTESTD_DAEMON_LOG (the daemon's log file), QTESTD_DAEMON_LOG_LEVEL.
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { pino } from 'pino';
import type { Logger } from '../base/log.js';
import { WorkerChannel } from '../service/worker-channel.js';
import { LaunchConnection } from './launch-daemon-connection.js';
import { OwnSocket, ownSocketPath } from './launch-daemon-own-socket.js';
import { buildStamp } from './launch-stamp.js';
import { installProcessGuards } from './process-guard.js';
import { warmUp } from './launch-daemon-warmup.js';

/**
 * The daemon's log file, shared with the accepting process. A worker forked while the daemon's
 * directory is being removed (the daemon is going away) cannot open it: it then runs silent rather
 * than dying on start-up, because the accepting process already logs why the daemon stops.
 */
function openDaemonLog(path: string | undefined, level: string | undefined, worker: number): Logger {
  if (!path) return pino({ level: 'silent' });
  try {
    return pino(
      { level: level ?? 'info', base: { pid: process.pid, worker } },
      pino.destination({ dest: path, sync: true, append: true, mode: 0o600 }),
    );
  } catch {
    return pino({ level: 'silent' }); // see above: nothing to log to, and nobody left to tell
  }
}

function main(): void {
  const env = process.env;
  const root = env.QTESTD_DAEMON_ROOT ?? '/';
  const startStamp = env.QTESTD_DAEMON_STAMP ?? '';
  const channel = new WorkerChannel(() => process.exit(1));
  const log: Logger = openDaemonLog(env.QTESTD_DAEMON_LOG, env.QTESTD_DAEMON_LOG_LEVEL, channel.index);
  installProcessGuards(() => log);
  // signals are the accepting process's (it sends 'terminate'); a group-wide one must not kill us
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => {});
  const pid = process.pid;
  const connections = new Set<LaunchConnection>();
  let draining = false;
  let listener: Server | undefined;
  /** When this worker last accepted or closed a connection (the primary's idle timer asks). */
  let lastMs = Date.now();
  const ownPath = env.QTESTD_DAEMON_SOCKET ? ownSocketPath(env.QTESTD_DAEMON_SOCKET, channel.index) : undefined;
  const own = ownPath ? new OwnSocket(ownPath, (socket) => serve(socket), log) : undefined;
  /** Draining, the listener closed and every connection ended: tell the primary (once). */
  const drained = (): void => {
    if (draining && connections.size === 0) channel.send({ t: 'drained', pid });
  };

  const serve = (socket: Socket): void => {
    if (draining) {
      socket.destroy(); // accepted as the drain came in: nothing read, the shim goes cold
      return;
    }
    lastMs = Date.now();
    const c = new LaunchConnection(socket, log, {
      isStale: () => buildStamp(root) !== startStamp,
      onStale: () => channel.send({ t: 'stale', pid }),
      onClosed: () => {
        lastMs = Date.now();
        connections.delete(c);
        if (connections.size === 0 && !draining) own?.open();
        drained();
      },
    });
    connections.add(c);
    own?.close(); // busy: the next shim dials another worker's own socket, or the shared one
  };

  channel
    .on('listen', (_msg, handle) => {
      // the daemon's bound socket (launch-daemon-server.ts): this worker accepts on it too
      if (!handle || draining || listener) return;
      const server = createServer({ allowHalfOpen: false }, serve);
      server.on('error', (err) => log.error({ err }, 'launch socket error'));
      server.listen(handle as unknown as { fd: number }, () => channel.send({ t: 'listening', pid }));
      listener = server;
    })
    .on('drain', () => {
      if (draining) return;
      draining = true;
      listener?.close();
      own?.dispose();
      // connections accepted but with no launch yet: closed unanswered, so their shims go cold
      for (const c of connections) c.abandon();
      drained();
    })
    .on('terminate', () => {
      for (const c of connections) c.terminate('host-signal');
    })
    .answer('activity', (msg) => ({ round: msg.round, active: connections.size, lastMs }));
  channel.ready();
  own?.open();
  setImmediate(() => void warmUp({ log, root }));
}

main();
