/**
 * The JIT warm-up a warm-launch daemon worker (launch-daemon-worker.ts) runs at start, so that the
 * first real launches it serves run optimised code. In order, each step in slices:
 *   1. warmPreDial: what a launch does before its sockets are dialled, and machine building;
 *   2. warmMonitor: the QMP greeting and `qmp_capabilities` through a Session, no socket;
 *   3. warmRequests: qtest requests many per chunk through a Session, no socket;
 *   4. warmLaunches: whole launches as a libqtest test makes them, through real UNIX sockets.
 * Slices run one per event-loop turn, between what launches do, so a launch's request arriving
 * meanwhile waits for at most one slice (one round of 1, one handshake of 2, the 340 requests of 3,
 * or one round trip of 4); the longest is logged. Waiting while a launch ran instead was tried:
 * with launches back to back from the daemon's start (as a test suite, or the benchmark, makes
 * them) the warm-up was put off into the launches' first requests, which got slower.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from '../base/log.js';
import { DEFAULT_PLUGINS } from '../machine/default-plugins.js';
import { Session } from '../session/session.js';
import { attachQmp } from '../session/qmp-attach.js';
import { parseArgv, parseLaunchArgv } from '../config/argv.js';
import { coldReasonOf } from './launch-cold-path.js';
import { FrameReader, frame, parseRequest, requestFrame } from './launch-wire.js';
import { buildStamp } from './launch-stamp.js';
import { LaunchConnection } from './launch-daemon-connection.js';

/** What the warm-up needs from its worker. */
export interface WarmUpHost {
  log: Logger;
  /** The install root (for the build stamp). */
  root: string;
}

interface Warm extends WarmUpHost {
  silent: Logger;
  /** worker CPU (µs, user + system) when the warm-up started */
  cpu0: number;
  /** the longest slice so far (ms): what a launch arriving meanwhile may wait */
  longestMs: number;
  /** the warm-up ended: every step ran (true) or one failed and the rest were skipped (false) */
  done(ok: boolean): void;
}

/** For a step's log line: the worker's CPU so far, and the step's longest slice (then reset). */
const progress = (w: Warm): { cpuMs: number; longestSliceMs: number } => {
  const u = process.cpuUsage();
  const longestSliceMs = Math.round(w.longestMs * 10) / 10;
  w.longestMs = 0;
  return { cpuMs: Math.round((u.user + u.system - w.cpu0) / 1000), longestSliceMs };
};

/**
 * Run `slice` on a later event-loop turn, timing it (its synchronous part: what a launch's
 * request arriving meanwhile waits for).
 */
function next(w: Warm, slice: () => void): void {
  setImmediate(() => {
    const t0 = performance.now();
    slice();
    w.longestMs = Math.max(w.longestMs, performance.now() - t0);
  });
}

/** The machines warmPreDial builds (as launches of them would, on their first request). */
const MACHINES = [
  ['-machine', 'virt'],
  ['-machine', 'virt,acpi=off,gic-version=3,iommu=smmuv3', '-m', '512', '-cpu', 'max', '-device', 'iommu-testdev'],
  ['-machine', 'none'],
];

/**
 * Warm a worker up (the steps: see the top of this file), starting on a later event-loop turn.
 * Resolves when the last step ended (false: a step failed, logged at debug level, and the rest
 * were skipped); it never rejects.
 */
export function warmUp(host: WarmUpHost): Promise<boolean> {
  const u = process.cpuUsage();
  let done: (ok: boolean) => void = () => {};
  const ended = new Promise<boolean>((resolve) => (done = resolve));
  const w: Warm = { ...host, silent: pino({ level: 'silent' }), cpu0: u.user + u.system, longestMs: 0, done };
  next(w, () => warmPreDial(w, 0));
  return ended;
}

/**
 * What a launch does before its sockets are dialled (the request frame, the build stamp, argv
 * parsing, the launch's logger, the Session) and machine building, one round of MACHINES per
 * slice, 5 rounds, so the first real launches run JIT-compiled code: each of these runs once per
 * launch, too rarely to be optimised by the launches alone.
 */
function warmPreDial(w: Warm, round: number): void {
  for (const m of MACHINES) {
    try {
      const argv = ['-qtest', 'unix:/nonexistent/q.sock', '-display', 'none', ...m, '-accel', 'qtest'];
      const [req] = new FrameReader(1 << 20).push(
        requestFrame({ pid: 1, cwd: '/', argv, env: { QTESTD_LOG_LEVEL: 'warn' } }),
      );
      buildStamp(w.root);
      coldReasonOf(parseLaunchArgv(parseRequest(req!.payload).argv));
      pino({ level: 'warn', base: { pid: 1 } }, { write: () => {} });
      frame('S');
      const opts = parseArgv(argv);
      new Session(opts.machine, { log: w.silent, plugins: DEFAULT_PLUGINS }).dispose();
    } catch (err) {
      w.log.debug({ err }, 'warm-up launch failed');
      w.done(false);
      return;
    }
  }
  if (round + 1 < 5) return next(w, () => warmPreDial(w, round + 1));
  w.log.info(progress(w), 'warmed up');
  next(w, () => warmMonitor(w, 0));
}

const NO_LINK = { write: () => true, writeBytes: () => true, pause: () => {}, resume: () => {}, close: () => {} };

/** The machine of the sessions the warm-up runs: the one most qtests of the virt board use. */
const WARM_MACHINE = ['-machine', 'virt,acpi=off,gic-version=3,iommu=smmuv3', '-cpu', 'max', '-smp', '1', '-m', '512'];

/**
 * What libqtest's qtest_init does on the QMP socket, through a fresh launch-like Session, one per
 * event-loop turn, 20 times: the monitor's greeting and `qmp_capabilities` (the first one in a
 * process makes the command registry from the captures: tens of ms that the first launch of a
 * worker would otherwise pay before its handshake returns). Then the qtest request path.
 */
function warmMonitor(w: Warm, round: number): void {
  let session: Session | undefined;
  try {
    session = new Session(parseArgv([...WARM_MACHINE, '-accel', 'qtest']).machine, {
      log: w.silent,
      plugins: DEFAULT_PLUGINS,
      lazyMachine: true,
    });
    const monitor = attachQmp(session, NO_LINK, () => {});
    monitor.input(Buffer.from('{"execute": "qmp_capabilities"}\n'));
    monitor.end();
  } catch (err) {
    w.log.debug({ err }, 'monitor warm-up failed');
  } finally {
    session?.dispose();
  }
  if (round + 1 < 20) next(w, () => warmMonitor(w, round + 1));
  else next(w, () => warmRequests(w));
}

/**
 * The qtest requests libqtest sends most: RAM never written (a fresh launch's first reads), RAM
 * and MMIO (PCI config space through ECAM) by word, bulk transfers, the clock.
 */
const WARM_LINES = [
  'readl 0x40001000',
  'readq 0x40201000',
  'writel 0x40001000 0x12345678',
  'readl 0x40001000',
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
  'writew 0x4010000004 0x0006',
  'clock_step 100',
  'endianness',
];
const WARM_REQUESTS = Buffer.from(WARM_LINES.join('\n') + '\n');

/**
 * Run WARM_REQUESTS through a session, 20 rounds (340 requests) in one event-loop turn, many per
 * input chunk as a client that pipelines sends them (warmLaunches sends one per chunk, as libqtest
 * does, through real sockets: that is where the serial request path is warmed).
 */
function warmRequests(w: Warm): void {
  const session = new Session(
    parseArgv([...WARM_MACHINE, '-accel', 'qtest']).machine,
    // as launches build it (cli/launch-session.ts): the requests warm the same target code
    { log: w.silent, plugins: DEFAULT_PLUGINS, lazyMachine: true },
  );
  try {
    const endpoint = session.attachQtest(NO_LINK);
    for (let i = 0; i < 20; i++) endpoint.input(WARM_REQUESTS);
    endpoint.end();
  } catch (err) {
    w.log.debug({ err }, 'request warm-up failed');
    w.done(false);
    return;
  } finally {
    session.dispose();
  }
  w.log.info(progress(w), 'request path warmed up');
  next(w, () => void warmLaunches(w));
}

/** Launches warmLaunches makes, and serial qtest requests in each (after `endianness`). */
const LAUNCH_REQUESTS = [1500, 1500];

/**
 * Whole launches through the code a real one runs: a LaunchConnection on a UNIX socket that gets
 * a launch request as the shim sends it, with libqtest's argv (tests/qtest/libqtest.c, qtest_init)
 * for sockets this worker listens on; the QMP handshake; `endianness`, then WARM_LINES one per
 * round trip, as libqtest sends them; the shim's 'T' frame (SIGTERM) ends it. This warms what the
 * socket-less steps cannot: the direct-socket reads, the socket link, node's socket writes, and
 * the session's objects as a launch makes them. Two launches, as a worker's first two real ones
 * were (--trace-opt / --trace-deopt): the first one's requests get the path optimised for its
 * qtest socket, its end (SHUTDOWN on QMP, the shim's frames, the sockets closing) deoptimises the
 * write path, and the second's requests optimise it again for every kind of socket a launch
 * writes to, so a real launch finds it optimised and does not deoptimise it. Fewer requests per
 * launch (750, or 100 then 1,200-2,000) left a real first launch 1.5-2x slower. Everything is made
 * in a private directory that is removed at the end.
 */
async function warmLaunches(w: Warm): Promise<void> {
  for (const n of LAUNCH_REQUESTS) {
    try {
      await warmLaunch(w, n);
    } catch (err) {
      w.log.debug({ err }, 'launch warm-up failed');
      w.done(false);
      return;
    }
  }
  w.log.info(progress(w), 'launch path warmed up');
  w.done(true);
}

/** Reads newline-terminated replies from a socket; `line()` resolves at the next one. */
class Replies {
  private pending = 0;
  private waiter: ((ok: boolean) => void) | undefined;
  private closed = false;
  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) this.pending++;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }
  private wake(): void {
    const waiter = this.waiter;
    if (waiter === undefined || (this.pending === 0 && !this.closed)) return;
    this.waiter = undefined;
    if (this.pending > 0) this.pending--;
    else return waiter(false);
    waiter(true);
  }
  /** The next line has arrived (throws if the socket closed first). */
  async line(): Promise<void> {
    if (this.pending > 0) {
      this.pending--;
      return;
    }
    if (this.closed) throw new Error('warm-up socket closed');
    const ok = await new Promise<boolean>((resolve) => (this.waiter = resolve));
    if (!ok) throw new Error('warm-up socket closed');
  }
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function accepted(server: Server, sockets: Socket[]): Promise<Socket> {
  return new Promise((resolve) =>
    server.once('connection', (socket: Socket) => {
      sockets.push(socket);
      socket.on('error', () => {}); // a reset shows as 'close', which the warm-up reads
      resolve(socket);
    }),
  );
}

async function warmLaunch(w: Warm, n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-warmup-'));
  const servers = [createServer(), createServer(), createServer()];
  const [shimServer, qtestServer, qmpServer] = servers as [Server, Server, Server];
  const sockets: Socket[] = [];
  try {
    const [shimPath, qtestPath, qmpPath] = ['l.sock', 'q.sock', 'm.sock'].map((f) => join(dir, f)) as [
      string,
      string,
      string,
    ];
    await Promise.all([listen(shimServer, shimPath), listen(qtestServer, qtestPath), listen(qmpServer, qmpPath)]);
    const daemonSide = accepted(shimServer, sockets);
    const qtestSide = accepted(qtestServer, sockets);
    const qmpSide = accepted(qmpServer, sockets);
    const shim = connect(shimPath);
    sockets.push(shim);
    shim.on('error', () => {}); // see accepted()
    shim.on('data', () => {}); // the 'S' and 'X' frames
    const shimClosed = new Promise((resolve) => shim.once('close', resolve));
    shim.write(
      requestFrame({
        pid: process.pid,
        cwd: dir,
        argv: [
          ...['-qtest', `unix:${qtestPath}`, '-qtest-log', '/dev/null'],
          ...['-chardev', `socket,path=${qmpPath},id=char0`, '-mon', 'chardev=char0,mode=control'],
          ...['-display', 'none', '-audio', 'none', '-run-with', 'exit-with-parent=on'],
          ...WARM_MACHINE,
          ...['-net', 'none', '-accel', 'qtest'],
        ],
        env: {},
      }),
    );
    const launchClosed = new Promise<void>((onClosed) => {
      void daemonSide.then(
        (socket) => new LaunchConnection(socket, w.silent, { isStale: () => false, onStale: () => {}, onClosed }),
      );
    });
    const qmp = await qmpSide;
    const qmpReplies = new Replies(qmp);
    const qtest = await qtestSide;
    const replies = new Replies(qtest);
    const requests = WARM_LINES.map((l) => Buffer.from(l + '\n'));
    await qmpReplies.line(); // the greeting
    qmp.write('{"execute": "qmp_capabilities"}\n');
    await qmpReplies.line();
    qtest.write('endianness\n');
    await replies.line();
    for (let i = 0; i < n; i++) {
      qtest.write(requests[i % requests.length]!);
      await replies.line();
    }
    shim.write(frame('T')); // as the shim does on SIGTERM: SHUTDOWN, the sockets close, 'X'
    await Promise.all([shimClosed, launchClosed]);
  } finally {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
