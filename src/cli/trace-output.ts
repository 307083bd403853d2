/**
 * Where a launch's trace events go (QEMU's log backend): the `-D` / `-trace file=` file, truncated
 * at start as QEMU opens it, else the launching process's stderr. Each line is written at once
 * (QEMU flushes after every event).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { Tracer } from '../base/trace.js';
import type { TraceOptions } from '../base/trace.js';
import type { Logger } from '../base/log.js';

export interface TraceFile {
  tracer: Tracer;
  close(): void;
}

/** Throws Error with QEMU's text when the file cannot be opened. */
export function openTraceOutput(
  opts: TraceOptions,
  cwd: string,
  stderr: (text: string) => void,
  log: Logger,
): TraceFile {
  if (opts.format === 'json') return { tracer: Tracer.fromPatterns(opts.patterns, { log }), close() {} };
  if (opts.file === undefined || opts.file === '/dev/stderr' || opts.file === '/dev/fd/2') {
    return { tracer: Tracer.fromPatterns(opts.patterns, { write: stderr, timestamp: opts.timestamp }), close() {} };
  }
  let fd: number;
  try {
    fd = openSync(resolve(cwd, opts.file), 'w');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code;
    throw new Error(`could not open log file '${opts.file}': ${why}`, { cause: e });
  }
  let open = true;
  const write = (text: string): void => {
    if (open) writeSync(fd, text);
  };
  return {
    tracer: Tracer.fromPatterns(opts.patterns, { write, timestamp: opts.timestamp }),
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}
