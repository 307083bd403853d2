/**
 * Process-level safety for every qtestd entry point: no uncaught exception or unhandled rejection
 * may end the process (they are logged), stdout is never written, and termination signals run
 * one shutdown routine that exits 0 within a bounded time even if sockets stay open.
 */
import type { Logger } from '../base/log.js';

export function installProcessGuards(log: () => Logger | undefined): void {
  process.on('uncaughtException', (err) => {
    try {
      log()?.error({ err }, 'uncaught exception (ignored)');
    } catch {
      /* logging must not throw */
    }
  });
  process.on('unhandledRejection', (reason) => {
    try {
      log()?.error({ err: reason }, 'unhandled rejection (ignored)');
    } catch {
      /* logging must not throw */
    }
  });
  // EPIPE on stderr (reader went away) must not kill us, and there is nowhere left to report it.
  process.stderr.on('error', () => {});
  process.stdout.on('error', () => {});
}

/**
 * Call `shutdown(signal)` on SIGTERM/SIGINT/SIGHUP; it returns a promise of final work (flushing
 * QMP events). Exits 0 when it settles or after `graceMs`, whichever comes first.
 */
export function onTerminationSignals(shutdown: (signal: NodeJS.Signals) => Promise<void> | void, graceMs = 500): void {
  let exiting = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (exiting) return;
    exiting = true;
    const timer = setTimeout(() => process.exit(0), graceMs);
    timer.unref?.();
    Promise.resolve()
      .then(() => shutdown(signal))
      // we exit 0 either way (QEMU does on SIGTERM), and this guard has no logger to report to
      .catch(() => {})
      .finally(() => process.exit(0));
  };
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(s, handler);
}

/** Exit 0 when the parent process goes away (QEMU -run-with exit-with-parent=on). */
export function exitWithParent(onExit: () => void, pollMs = 250): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) onExit();
  }, pollMs);
  timer.unref();
}
