/**
 * A worker process of the warm-launch daemon (forked by launch-daemon-server.ts through a
 * WorkerPool): it is given the daemon's bound socket ('listen'), listens and accepts shim
 * connections on it itself (as do the other workers) and runs each as a LaunchConnection, so
 * launches in different workers never wait on each other and the primary process (lock, idle
 * timer, signals, worker replacement) never waits on a launch nor relays one. It tells the
 * primary each connection it accepted and closed. 'drain' closes its listener and the
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
import { DEFAULT_PLUGINS } from '../machine/default-plugins.js';
import { Session } from '../session/session.js';
import { attachQmp } from '../session/qmp-attach.js';
import { parseArgv, parseLaunchArgv } from '../config/argv.js';
import { WorkerChannel } from '../service/worker-channel.js';
import { coldReasonOf } from './launch-cold-path.js';
import { FrameReader, frame, parseRequest, requestFrame } from './launch-wire.js';
import { LaunchConnection } from './launch-daemon-connection.js';
import { OwnSocket } from './launch-daemon-own-socket.js';
import { buildStamp } from './launch-stamp.js';
import { installProcessGuards } from './process-guard.js';

/**
 * Run a few launches' worth of what a launch does before its sockets are dialled (the request
 * frame, the build stamp, argv parsing, the launch's logger, the Session) and machine building,
 * so the first real launches run JIT-compiled code: each of these runs once per launch, too
 * rarely to be optimised by the launches alone.
 */
function warmUp(log: Logger, root: string): void {
  const silent = pino({ level: 'silent' });
  const machines = [
    ['-machine', 'virt'],
    ['-machine', 'virt,acpi=off,gic-version=3,iommu=smmuv3', '-m', '512', '-cpu', 'max', '-device', 'iommu-testdev'],
    ['-machine', 'none'],
  ];
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) {
    for (const m of machines) {
      try {
        const argv = ['-qtest', 'unix:/nonexistent/q.sock', '-display', 'none', ...m, '-accel', 'qtest'];
        const [req] = new FrameReader(1 << 20).push(
          requestFrame({ pid: 1, cwd: '/', argv, env: { QTESTD_LOG_LEVEL: 'warn' } }),
        );
        buildStamp(root);
        coldReasonOf(parseLaunchArgv(parseRequest(req!.payload).argv));
        pino({ level: 'warn', base: { pid: 1 } }, { write: () => {} });
        frame('S');
        const opts = parseArgv(argv);
        new Session(opts.machine, { log: silent, plugins: DEFAULT_PLUGINS }).dispose();
      } catch (err) {
        log.debug({ err }, 'warm-up launch failed');
        return;
      }
    }
  }
  log.info({ ms: Math.round(performance.now() - t0) }, 'warmed up');
  setImmediate(() => warmMonitor(log, silent, 0));
}

const NO_LINK = { write: () => true, writeBytes: () => true, pause: () => {}, resume: () => {}, close: () => {} };

/**
 * What libqtest's qtest_init does on the QMP socket, through a fresh launch-like Session, one per
 * event-loop turn, 20 times: the monitor's greeting and `qmp_capabilities` (the first one in a
 * process makes the command registry from the captures: tens of ms that the first launch of a
 * worker would otherwise pay before its handshake returns). Then the qtest request path.
 */
function warmMonitor(log: Logger, silent: Logger, round: number): void {
  try {
    const session = new Session(
      parseArgv(['-machine', 'virt,acpi=off,gic-version=3,iommu=smmuv3', '-m', '512', '-accel', 'qtest']).machine,
      { log: silent, plugins: DEFAULT_PLUGINS, lazyMachine: true },
    );
    const monitor = attachQmp(session, NO_LINK, () => {});
    monitor.input(Buffer.from('{"execute": "qmp_capabilities"}\n'));
    monitor.end();
    session.dispose();
  } catch (err) {
    log.debug({ err }, 'monitor warm-up failed');
  }
  if (round + 1 < 20) setImmediate(() => warmMonitor(log, silent, round + 1));
  else setImmediate(() => warmRequests(log, silent, 0));
}

/** The qtest requests libqtest sends most, run through one session to warm the request path. */
const WARM_REQUESTS = Buffer.from(
  [
    'readl 0x40001000',
    'writel 0x40001000 0x12345678',
    'readq 0x40001000',
    'writeq 0x40001000 0x1122334455667788',
    'readb 0x40001000',
    'writew 0x40001000 0x1234',
    'read 0x40001000 0x100',
    'write 0x40001000 0x4 0x01020304',
    'b64read 0x40001000 0x100',
    'b64write 0x40001000 0x4 AQIDBA==',
    'memset 0x40001000 0x100 0x5a',
    'readl 0x4010000000',
    'clock_step 100',
    'endianness',
  ].join('\n') + '\n',
);

/**
 * Run WARM_REQUESTS through a session in slices of 20 rounds, one slice per event-loop turn (a
 * launch arriving meanwhile waits for one slice at most), so that the first launch's requests run
 * JIT-compiled code. Stops after 600 rounds (8,400 requests) or at the first failure.
 */
function warmRequests(log: Logger, silent: Logger, round: number, session?: Session): void {
  try {
    session ??= new Session(
      parseArgv(['-machine', 'virt,acpi=off,gic-version=3,iommu=smmuv3', '-m', '512', '-accel', 'qtest']).machine,
      // as launches build it (cli/launch-session.ts): the requests warm the same target code
      { log: silent, plugins: DEFAULT_PLUGINS, lazyMachine: true },
    );
    const endpoint = session.attachQtest(NO_LINK);
    for (let i = 0; i < 20; i++) endpoint.input(WARM_REQUESTS);
    endpoint.end();
  } catch (err) {
    log.debug({ err }, 'request warm-up failed');
    session?.dispose();
    return;
  }
  if (round + 20 < 600) setImmediate(() => warmRequests(log, silent, round + 20, session));
  else {
    session.dispose();
    log.info('request path warmed up');
  }
}

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
  const ownPath = env.QTESTD_DAEMON_SOCKET ? `${env.QTESTD_DAEMON_SOCKET}.${channel.index}` : undefined;
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
  setImmediate(() => warmUp(log, root));
}

main();
