/**
 * `-trace [enable=]PATTERN[,events=FILE][,file=FILE]`, `-D FILE` and `-msg timestamp=on|off` as
 * QEMU 10.2.2 parses them (trace/control.c trace_opt_parse, the log file of util/log.c): patterns
 * apply in command-line order, an events file contributes one pattern per line (empty lines and
 * `#` lines skipped), and `-trace file=` overrides `-D`. The result is plain data
 * (base/trace.ts TraceOptions) that the launcher turns into a Tracer.
 */
import { readFileSync } from 'node:fs';
import { parseBool, parseKeyVal } from '../base/keyval.js';
import type { TraceOptions } from '../base/trace.js';
import { ArgvError } from './argv-state.js';
import type { Occurrence, ParseState } from './argv-state.js';

/** The trace settings of a parse (created on first use). */
function traceOf(st: ParseState): TraceOptions {
  return (st.out.trace ??= { patterns: [] });
}

/** The lines of a QEMU events file as fgets + "drop the last character" reads them. */
export function eventsFileLines(text: string): string[] {
  const out: string[] = [];
  for (const chunk of text.match(/[^\n]*\n|[^\n]+$/g) ?? []) {
    if (chunk.length <= 1) continue;
    const line = chunk.slice(0, -1);
    if (!line.startsWith('#')) out.push(line);
  }
  return out;
}

export function applyTraceOption(st: ParseState, o: Occurrence): void {
  const kv = parseKeyVal(o.value, 'enable');
  const tr = traceOf(st);
  let enable = kv.implied;
  let events: string | undefined;
  let file: string | undefined;
  for (const [k, v] of kv.pairs) {
    if (k === 'enable') enable = v;
    else if (k === 'events') events = v;
    else if (k === 'file') file = v;
    else if (k === 'x-qtestd-format' && (v === 'log' || v === 'json')) tr.format = v;
    else if (k === 'x-qtestd-format')
      throw new ArgvError(`${o.where}: Parameter 'x-qtestd-format' expects 'log' or 'json'`);
    else throw new ArgvError(`${o.where}: Invalid parameter '${k}'`);
  }
  if (enable !== undefined) tr.patterns.push(enable);
  if (events !== undefined) {
    let text: string;
    try {
      text = readFileSync(events, 'latin1');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ArgvError(`${events}: ${code === 'ENOENT' ? 'No such file or directory' : (e as Error).message}`);
    }
    tr.patterns.push(...eventsFileLines(text));
  }
  // QEMU keeps the last -trace's file= (a -trace without one clears it).
  tr.traceFile = file;
  tr.file = tr.traceFile ?? tr.logFile;
}

export function applyLogFileOption(st: ParseState, o: Occurrence): void {
  const tr = traceOf(st);
  tr.logFile = o.value;
  tr.file = tr.traceFile ?? tr.logFile;
}

export function applyMsgOption(st: ParseState, o: Occurrence): void {
  const kv = parseKeyVal(o.value);
  for (const [k, v] of kv.pairs) {
    if (k === 'timestamp') {
      const b = parseBool(v);
      if (b === undefined) throw new ArgvError(`${o.where}: Parameter 'timestamp' expects 'on' or 'off'`);
      traceOf(st).timestamp = b;
    } else if (k !== 'guest-name') throw new ArgvError(`${o.where}: Invalid parameter '${k}'`);
  }
}
