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
 * Launches run in worker processes (QTESTD_DAEMON_WORKERS, default one per core) that accept
 * the shim connections themselves on the socket this process bound (launch-daemon-worker.ts), so
 * a launch never passes through this process and a heavy launch never stalls another one's, nor
 * the idle timer or the signals.
 *
 * This file is the entry point; the parts: launch-cold-path.ts (which argv go cold),
 * launch-daemon-server.ts (lock, socket, idle, drain, the pool), launch-daemon-worker.ts (a
 * worker), launch-daemon-connection.ts (one launch).
 */
import { closeSync, openSync, realpathSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { Logger } from '../base/log.js';
import { installProcessGuards } from './process-guard.js';
import { ensurePrivateDir, startDaemon } from './launch-daemon-server.js';
import { buildStamp } from './launch-stamp.js';

export { coldReason } from './launch-cold-path.js';
export { ensurePrivateDir, startDaemon } from './launch-daemon-server.js';
export type { Daemon, DaemonOptions } from './launch-daemon-server.js';

// ---------------------------------------------------------------------------------------------
// Entry point

const HERE = fileURLToPath(import.meta.url);

export { buildStamp } from './launch-stamp.js';

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
  const workers = Number(process.env.QTESTD_DAEMON_WORKERS ?? availableParallelism());
  const root = argValue(argv, '--root') ?? resolvePath(dirname(HERE), '..', '..', '..');
  const daemon = await startDaemon({
    socketPath,
    idleMs: (Number.isFinite(idleSeconds) && idleSeconds > 0 ? idleSeconds : 600) * 1000,
    log,
    root,
    logPath,
    workers: Number.isInteger(workers) && workers > 0 ? workers : 1,
    stamp: () => buildStamp(root),
    onExit: (code) => {
      log?.info('launch daemon exits');
      process.exit(code);
    },
  });
  if (!daemon) process.exit(0);
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
