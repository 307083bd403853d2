/**
 * QEMU-style trace events (`-trace`, protocol/trace.md): a Tracer holds one enabled byte per event
 * of trace-events.ts and prints an enabled event as QEMU's default `log` backend does
 * (`NAME ARGS\n`, after an ISO 8601 UTC time and a space with `-msg timestamp=on`), or hands it to
 * pino as a structured record. A trace point costs one typed-array load when its event is off:
 *
 *     if (tr.on[TRACE_IDS.smmuv3_read_mmio]) tr.emit(TRACE_IDS.smmuv3_read_mmio, addr, val, size, r);
 *
 * One general printf-style formatter renders every format (%d %i %u %x %X %s %c %%, flags `-0`,
 * a width, length modifiers hh h l ll z). No global state: each machine gets its own Tracer.
 */
import type { Logger } from './log.js';
import { TRACE_EVENTS } from './trace-events.js';
import type { TraceArgType, TraceEventDef } from './trace-events.js';

export type TraceArg = number | bigint | boolean | string;

/** What the command line asked for (config/ parses it; the launcher opens the output). */
export interface TraceOptions {
  /** Patterns in command-line order (`-trace PATTERN`, `enable=`, the lines of `events=` files). */
  patterns: string[];
  /** The log file: `-trace file=` (of the last -trace), else `-D`; undefined = stderr. */
  file?: string;
  /** `-D FILE` and the last -trace's `file=`, from which `file` is chosen. */
  logFile?: string;
  traceFile?: string;
  /** `-msg timestamp=on`: each line starts with the UTC time. */
  timestamp?: boolean;
  /** `-trace …,x-qtestd-format=json` (named extension): pino records instead of text lines. */
  format?: 'log' | 'json';
}

/** Where an enabled event goes. */
export interface TraceOutput {
  /** Text lines (each ends in \n); the log backend's destination. */
  write?(text: string): void;
  /** Prefix each line with the UTC time (QEMU `-msg timestamp=on`). */
  timestamp?: boolean;
  /** Structured pino records (`{ trace, args }`, message = the formatted text) at info level. */
  log?: Logger;
}

/** QEMU's g_pattern_match_simple: `*` any run, `?` one character. */
export function traceGlob(pattern: string): RegExp {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`);
}

export function isTracePattern(p: string): boolean {
  return p.includes('*') || p.includes('?');
}

/**
 * Apply patterns in order (a leading `-` disables) to one enabled byte per event. Returns the
 * names given exactly that we do not know (QEMU warns about names *it* does not know; the caller
 * decides what to say: see protocol/deviations.md).
 */
export function applyTracePatterns(on: Uint8Array, patterns: readonly string[]): string[] {
  const unknown: string[] = [];
  for (const line of patterns) {
    const enable = !line.startsWith('-');
    const p = enable ? line : line.slice(1);
    if (!isTracePattern(p)) {
      const i = TRACE_EVENTS.findIndex((e) => e.name === p);
      if (i < 0) unknown.push(p);
      else on[i] = enable ? 1 : 0;
      continue;
    }
    const re = traceGlob(p);
    TRACE_EVENTS.forEach((e, i) => {
      if (re.test(e.name)) on[i] = enable ? 1 : 0;
    });
  }
  return unknown;
}

// ---------------------------------------------------------------- formatting

interface Conversion {
  flags: string;
  width: number;
  wide: boolean;
  conv: string;
}
type Piece = string | Conversion;

const SPEC = /%([-0 #+]*)(\d*)(hh|h|ll|l|z|j)?([diuxXsc%])/g;

function compile(format: string): Piece[] {
  const out: Piece[] = [];
  let last = 0;
  for (const m of format.matchAll(SPEC)) {
    const at = m.index ?? 0;
    if (at > last) out.push(format.slice(last, at));
    if (m[4] === '%') out.push('%');
    else
      out.push({
        flags: m[1],
        width: m[2] ? Number(m[2]) : 0,
        wide: m[3] !== undefined && m[3][0] !== 'h',
        conv: m[4],
      });
    last = at + m[0].length;
  }
  if (last < format.length) out.push(format.slice(last));
  return out;
}

/** The value as the C argument of that type holds it (truncated to its width). */
function asCType(type: TraceArgType, v: TraceArg): bigint | string {
  if (type === 'str') return String(v);
  const b = typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(Math.trunc(v)) : v === true ? 1n : 0n;
  switch (type) {
    case 'bool':
      return b !== 0n ? 1n : 0n;
    case 'u8':
      return BigInt.asUintN(8, b);
    case 'u16':
      return BigInt.asUintN(16, b);
    case 'u32':
      return BigInt.asUintN(32, b);
    case 'i32':
      return BigInt.asIntN(32, b);
    default:
      return BigInt.asUintN(64, b);
  }
}

function render(c: Conversion, v: bigint | string): string {
  let s: string;
  if (c.conv === 's') s = String(v);
  else {
    const n = typeof v === 'bigint' ? v : 0n;
    const bits = c.wide ? 64 : 32;
    if (c.conv === 'd' || c.conv === 'i') s = BigInt.asIntN(bits, n).toString();
    else if (c.conv === 'u') s = BigInt.asUintN(bits, n).toString();
    else if (c.conv === 'c') s = String.fromCharCode(Number(BigInt.asUintN(8, n)));
    else {
      s = BigInt.asUintN(bits, n).toString(16);
      if (c.conv === 'X') s = s.toUpperCase();
    }
  }
  if (s.length >= c.width) return s;
  if (c.flags.includes('-')) return s.padEnd(c.width);
  if (c.flags.includes('0') && c.conv !== 's' && !s.startsWith('-')) return s.padStart(c.width, '0');
  return s.padStart(c.width);
}

const compiled: (Piece[] | undefined)[] = [];

/** The text of one event after its name, as QEMU's printf would produce it. */
export function formatTraceEvent(id: number, args: readonly TraceArg[]): string {
  const def: TraceEventDef = TRACE_EVENTS[id];
  const pieces = (compiled[id] ??= compile(def.format));
  let out = '';
  let a = 0;
  for (const p of pieces) {
    if (typeof p === 'string') out += p;
    else {
      const type = def.args[a];
      const v = args[a++];
      out += render(p, type === undefined || v === undefined ? 0n : asCType(type, v));
    }
  }
  return out;
}

/** glib's g_date_time_format_iso8601 of now in UTC: `2026-12-07T11:25:04.850912Z`. */
function isoNow(): string {
  const us = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
  const d = new Date(Number(us / 1000n));
  const frac = Number(us % 1000000n);
  const base = d.toISOString().slice(0, 19);
  return frac === 0 ? `${base}Z` : `${base}.${String(frac).padStart(6, '0')}Z`;
}

function jsonArg(v: TraceArg): string | number | boolean {
  return typeof v === 'bigint' ? `0x${v.toString(16)}` : v;
}

export class Tracer {
  /** One byte per event of TRACE_EVENTS (index = TRACE_IDS[name]): 1 = enabled. */
  readonly on: Uint8Array;
  /** Whether any event is enabled (a cheap guard for code that would do work only to trace). */
  readonly any: boolean;

  constructor(
    on: Uint8Array,
    private readonly out: TraceOutput = {},
  ) {
    this.on = on;
    this.any = on.some((b) => b !== 0);
  }

  /** A tracer from patterns (see applyTracePatterns); unknown exact names are ignored here. */
  static fromPatterns(patterns: readonly string[], out: TraceOutput): Tracer {
    const on = new Uint8Array(TRACE_EVENTS.length);
    applyTracePatterns(on, patterns);
    return new Tracer(on, out);
  }

  /** Print one event (the caller checked `on[id]`). */
  emit(id: number, ...args: TraceArg[]): void {
    const name = TRACE_EVENTS[id].name;
    const text = formatTraceEvent(id, args);
    if (this.out.write) this.out.write(`${this.out.timestamp ? isoNow() + ' ' : ''}${name} ${text}\n`);
    this.out.log?.info({ trace: name, args: args.map(jsonArg) }, `${name} ${text}`);
  }
}

/** The tracer of a machine nobody traces: every event off. */
export const TRACE_OFF = new Tracer(new Uint8Array(TRACE_EVENTS.length));
