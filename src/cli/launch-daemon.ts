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
 * Frames both ways: u32 LE length (type byte + payload), u8 type, payload (launch-wire.ts).
 *
 * This file is the entry point; the parts: launch-cold-path.ts (which argv go cold),
 * launch-daemon-server.ts (lock, socket, idle, drain), launch-daemon-connection.ts (one launch).
 */
import { closeSync, openSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { Logger } from '../base/log.js';
import { DEFAULT_PLUGINS } from '../machine/default-plugins.js';
import { Session } from '../session/session.js';
import { parseArgv } from '../config/argv.js';
import { installProcessGuards } from './process-guard.js';
import { coldReason } from './launch-cold-path.js';
import { ensurePrivateDir, startDaemon } from './launch-daemon-server.js';

export { coldReason } from './launch-cold-path.js';
export { ensurePrivateDir, startDaemon } from './launch-daemon-server.js';
export type { Daemon, DaemonOptions } from './launch-daemon-server.js';

// ---------------------------------------------------------------------------------------------
// Entry point

const HERE = fileURLToPath(import.meta.url);

/**
 * A value that changes when the install at `root` is rebuilt: the mtimes of tsc's build info
 * (written by every build that emits), of this file and of its bundle (scripts/bundle.mjs), looked up under the install root the shim
 * found, so the stamp follows that install even through symlinks.
 */
export function buildStamp(root: string): string {
  const parts: string[] = [];
  for (const f of [
    join(root, 'dist', '.tsbuildinfo'),
    join(root, 'dist', 'src', 'cli', 'launch-daemon.js'),
    join(root, 'dist', 'bundle', 'launch-daemon.code.cjs'),
  ]) {
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
  const machines = [
    ['-machine', 'virt'],
    ['-machine', 'virt,acpi=off,gic-version=3,iommu=smmuv3', '-m', '512', '-cpu', 'max', '-device', 'iommu-testdev'],
    ['-machine', 'none'],
  ];
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
  setImmediate(() => warmRequests(log, silent, 0));
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
      { log: silent, plugins: DEFAULT_PLUGINS },
    );
    const endpoint = session.attachQtest({ write: () => true, pause: () => {}, resume: () => {}, close: () => {} });
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
