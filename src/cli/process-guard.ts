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
  // Node makes process.stdout/stderr on first use (~0.5 ms for a pipe or a terminal, and most
  // launches never use them): the handler is added when the stream is made.
  for (const name of ['stdout', 'stderr'] as const) onStdioStream(name, (s) => s.on('error', () => {}));
}

/** Run `fn` on process[name] when node makes it (at once if it exists or cannot be watched). */
function onStdioStream(name: 'stdout' | 'stderr', fn: (s: NodeJS.WriteStream) => void): void {
  const own = Object.getOwnPropertyDescriptor(process, name);
  const make = own?.get;
  if (!own?.configurable || !make) {
    fn(process[name]);
    return;
  }
  Object.defineProperty(process, name, {
    configurable: true,
    enumerable: own.enumerable,
    get() {
      const stream = make.call(process) as NodeJS.WriteStream;
      Object.defineProperty(process, name, { configurable: true, enumerable: own.enumerable, get: () => stream });
      fn(stream);
      return stream;
    },
  });
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
