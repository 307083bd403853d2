/**
 * The JIT warm-up a warm-launch daemon worker (launch-daemon-worker.ts) runs at start, so that the
 * first real launches it serves run optimised code.
 */
import { pino } from 'pino';
import type { Logger } from '../base/log.js';
import { DEFAULT_PLUGINS } from '../machine/default-plugins.js';
import { Session } from '../session/session.js';
import { attachQmp } from '../session/qmp-attach.js';
import { parseArgv, parseLaunchArgv } from '../config/argv.js';
import { coldReasonOf } from './launch-cold-path.js';
import { FrameReader, frame, parseRequest, requestFrame } from './launch-wire.js';
import { buildStamp } from './launch-stamp.js';

/**
 * Run a few launches' worth of what a launch does before its sockets are dialled (the request
 * frame, the build stamp, argv parsing, the launch's logger, the Session) and machine building,
 * so the first real launches run JIT-compiled code: each of these runs once per launch, too
 * rarely to be optimised by the launches alone.
 */
export function warmUp(log: Logger, root: string): void {
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
