/**
 * The qtest grammar: one row per command (name, typed arguments, optional memory attributes,
 * access width) and the one generic parser that turns a received line into typed arguments for
 * the row's handler. Arguments are read from the line's bytes in place (numbers never become
 * strings); a handler asks for a word as a string only where it needs one (QOM paths, names).
 *
 * Where QEMU 10.2.2 would assert on an argument (missing, malformed, out of range), the parser
 * throws QemuWouldAbort with a readable reason; the endpoint answers `FAIL <reason>`
 * (protocol/deviations.md, "qtest input that aborts or stalls QEMU").
 *
 * Memory attributes (named extensions, protocol/qtest.md "Memory attributes"): a row with
 * `attrs: 'word'` accepts one optional trailing `secure` / `space=…` word; rows made by
 * `withSpaceArg`/`withSecureArg` (`readl_space`, `write_secure`, …) take the attributes as their
 * last, numeric argument. The parser picks the memory view for them from the target.
 */
import { LimitError } from '../../base/limits.js';
import type { MemTxAttrs } from '../../memory/types.js';
import type { QtestLine } from './line.js';
import type { Payload } from './payload.js';
import type { LongLine } from './long-line.js';
import type { Staged } from './staged.js';
import { PARSE_OK, PARSE_RANGE, parseNumberAt, resultBigInt } from './numbers.js';
import type { NumberKind, NumberResult } from './numbers.js';
import type { QtestDevice, QtestJobs, QtestMemory, QtestTarget } from './target.js';
import type { ReplyWriter } from './reply.js';

/** QEMU would hit g_assert() on this input; carries our explanation. */
export class QemuWouldAbort extends Error {}

export interface QtestSessionState {
  target: QtestTarget;
  /** Emit an asynchronous line (IRQ raise/lower) before the current reply. */
  emit(line: string): void;
  /** Device whose GPIOs are intercepted (one per session, for its lifetime). */
  interceptedDevice?: QtestDevice;
  /** Last reported level per intercepted index (reset on connection open). */
  irqLevels: Map<number, number>;
  /** qtest-log hook for the b64write mismatch note. */
  logNote(text: string): void;
  maxTransferBytes: number;
  /** Told a sized command's name and size before it runs; throws (a LimitError) to refuse it (the service's memory budget). */
  beforeTransfer?: (command: string, size: number) => void;
  /** The start of a line a closed connection left unfinished; QEMU keeps it for the next one. */
  partialLine?: LongLine;
  /**
   * A handler that returned PENDING ends its line through this: its reply, or undefined when its
   * job was cut short (the session answers the request itself).
   */
  finish(reply: typeof WROTE | string | undefined): void;
  /**
   * Where a bulk read's reply is produced as the peer takes it (the endpoint's own runner: steps
   * run while the link accepts output and resume on its drain) when the target has no `jobs`.
   */
  streamJobs?: QtestJobs;
}

/**
 * What an argument is. Numeric kinds are parsed as QEMU parses them (u64: qemu_strtou64 /
 * qemu_strtoul, i64: qemu_strtoi64, i32: qemu_strtoi); `size` is a u64 that must also fit the
 * session's transfer limit; `device` is a QOM path resolved to a device (`FAIL Unknown device`
 * when it names none); `data` is a payload of at least 3 bytes (`ERR invalid argument size`);
 * `text` is taken as it is.
 */
export type ArgKind =
  | 'address'
  | 'value'
  | 'port'
  | 'size'
  | 'length'
  | 'byte'
  | 'index'
  | 'level'
  | 'ns'
  | 'space'
  | 'secure'
  | 'device'
  | 'text'
  | 'data';

const NUMBER_KIND: Partial<Record<ArgKind, NumberKind>> = {
  address: 'u64',
  value: 'u64',
  port: 'u64',
  size: 'u64',
  length: 'u64',
  byte: 'u64',
  space: 'u64',
  secure: 'u64',
  index: 'i32',
  level: 'i32',
  ns: 'i64',
};

export interface ArgSpec {
  kind: ArgKind;
  /** The argument's name in FAIL texts (`FAIL readb: missing address`). */
  label: string;
  /** May be absent (the handler checks `args.has(i)`). */
  optional?: boolean;
}

/** A handler's reply: a line without its newline, or WROTE when it wrote an OK reply itself. */
export const WROTE = 1;
/**
 * A handler's reply when it left its work running as a job in slices (target.jobs): the line's
 * reply comes later, through QtestSessionState.finish.
 */
export const PENDING = 2;
export type Reply = string | typeof WROTE | typeof PENDING;

export interface CommandRow {
  name: string;
  args: readonly ArgSpec[];
  /**
   * Memory attributes: 'word' = an optional trailing `secure`/`space=…` word; 'space'/'secure' =
   * the last argument gives them (`*_space`/`*_secure` commands). Absent: plain NS access.
   */
  attrs?: 'word' | 'space' | 'secure';
  /** Access width in bytes of readX/writeX/inX/outX. */
  width?: number;
  run(a: Args, s: QtestSessionState, out: ReplyWriter): Reply;
}

/** The typed arguments of one command (reused line after line). Argument i is word i+1. */
export class Args {
  line!: QtestLine;
  row!: CommandRow;
  width = 0;
  readonly nums: NumberResult[] = Array.from({ length: 8 }, () => ({ small: 0, big: undefined }));
  device: QtestDevice | undefined;
  /** The memory view memory commands use (the target's plain view unless attributes chose another). */
  memory!: QtestMemory;
  /** Attributes for the access; undefined = unspecified (a plain command). */
  attrs: MemTxAttrs | undefined;
  /** Answer `ERR memory access failed` when the access does not succeed. */
  checkTx = false;

  /** Argument i is present. */
  has(i: number): boolean {
    return i + 1 < this.line.count;
  }
  /** Numeric argument i as a bigint. */
  big(i: number): bigint {
    return resultBigInt(this.nums[i]);
  }
  /** Numeric argument i as a number (sizes: below the transfer limit, so exact). */
  num(i: number): number {
    const r = this.nums[i];
    return r.big === undefined ? r.small : Number(r.big);
  }
  /** Argument i as a string (latin1). */
  str(i: number): string {
    return this.line.word(i + 1);
  }
  /** The bytes of argument i (a payload: possibly kept in the received chunks). */
  payload(i: number): Payload {
    return this.line.payload(i + 1);
  }
  /** Argument i's payload decoded as it arrived (a long line: long-line.ts), if it was. */
  staged(i: number): Staged | undefined {
    return this.line.staged(i + 1);
  }
  /** Byte range of argument i in `line.buf`. */
  start(i: number): number {
    return this.line.starts[i + 1];
  }
  end(i: number): number {
    return this.line.ends[i + 1];
  }
}

function fail(row: CommandRow, a: Args, i: number, code: number): never {
  const token = a.str(i);
  const name = row.args[i].label;
  const shown = JSON.stringify(token);
  if (code === PARSE_RANGE) throw new QemuWouldAbort(`${row.name}: ${name} ${shown} is out of range`);
  if (token === '') throw new QemuWouldAbort(`${row.name}: empty ${name} (two spaces in a row?)`);
  if (token.includes('\r'))
    throw new QemuWouldAbort(`${row.name}: invalid ${name} ${shown} (carriage return before newline)`);
  throw new QemuWouldAbort(`${row.name}: invalid ${name} ${shown}`);
}

const SPACE_WORDS: Record<string, number> = { secure: 0, 'non-secure': 1, root: 2, realm: 3 };

/** Arm security space → attributes (space 0 Secure and 2 Root are secure). */
function spaceAttrs(space: number): MemTxAttrs {
  return { space, secure: space === 0 || space === 2 };
}

/**
 * The optional trailing attribute word (after the row's arguments): attrs, none, or an ERR line.
 * A word is an attribute word when it is `secure` or has the form NAME=VALUE; any other extra
 * words are ignored, as 10.2.2 ignores them (so every line 10.2.2 answers keeps its answer unless
 * its first extra word looks like an attribute).
 */
function attrWord(row: CommandRow, line: QtestLine): MemTxAttrs | undefined | string {
  const first = row.args.length + 1;
  if (first >= line.count) return undefined;
  const isSecure = line.wordIs(first, 'secure');
  const word = isSecure ? 'secure' : line.word(first);
  if (!isSecure && !word.includes('=')) return undefined;
  for (let i = first + 1; i < line.count; i++) if (line.length(i) > 0) return 'ERR too many arguments';
  if (isSecure) return { secure: true, space: 0 };
  if (!word.startsWith('space=')) return 'ERR invalid attrs argument';
  const name = word.slice(6);
  if (!Object.hasOwn(SPACE_WORDS, name)) return 'ERR invalid space value. Valid space: secure/non-secure/root/realm';
  return spaceAttrs(SPACE_WORDS[name]);
}

/**
 * Parse `line` for `row` into `a`: presence of every required argument first (QEMU asserts them
 * all before using any), then each argument in order, then the attributes and the memory view.
 * Returns undefined when the handler may run, or a reply line that ends the command.
 */
export function parseArgs(row: CommandRow, line: QtestLine, s: QtestSessionState, a: Args): string | undefined {
  const specs = row.args;
  a.line = line;
  a.row = row;
  a.width = row.width ?? 0;
  a.device = undefined;
  for (let i = 0; i < specs.length; i++) {
    if (!specs[i].optional && i + 1 >= line.count) throw new QemuWouldAbort(`${row.name}: missing ${specs[i].label}`);
  }
  for (let i = 0; i < specs.length && i + 1 < line.count; i++) {
    const kind = specs[i].kind;
    const nk = NUMBER_KIND[kind];
    if (nk !== undefined) {
      const code = parseNumberAt(line.buf, line.starts[i + 1], line.ends[i + 1], nk, a.nums[i]);
      if (code !== PARSE_OK) fail(row, a, i, code);
      if (kind === 'size') {
        const r = a.nums[i];
        if (r.big !== undefined || r.small > s.maxTransferBytes) {
          throw new LimitError(`${row.name}: size ${a.big(i)} exceeds the limit of ${s.maxTransferBytes} bytes`);
        }
        s.beforeTransfer?.(row.name, r.small);
      }
    } else if (kind === 'data') {
      // QEMU checks the payload's length right after reading it (before using it).
      if (line.length(i + 1) < 3) return 'ERR invalid argument size';
    } else if (kind === 'device') {
      a.device = s.target.resolveDevice(a.str(i));
      if (!a.device) return 'FAIL Unknown device';
    }
  }
  const target = s.target;
  let attrs: MemTxAttrs | undefined;
  if (row.attrs === undefined) {
    a.memory = target.memory;
    a.attrs = undefined;
    a.checkTx = target.reportMemTxErrors;
    return undefined;
  }
  if (row.attrs === 'word') {
    const r = attrWord(row, line);
    if (typeof r === 'string') return r;
    attrs = r;
    a.checkTx = r !== undefined || target.reportMemTxErrors;
  } else {
    const last = specs.length - 1;
    const v = a.num(last);
    attrs = row.attrs === 'space' ? spaceAttrs(v & 3) : { secure: v !== 0, space: 0 };
    a.checkTx = target.reportMemTxErrors;
  }
  a.attrs = attrs;
  if (attrs === undefined) {
    a.memory = target.memory;
    return undefined;
  }
  const view = target.memoryFor(attrs);
  if (!view) return 'ERR address space unavailable for attrs';
  a.memory = view;
  return undefined;
}

/** `NAME_space … SPACE`: the row with a numeric Arm security space as its last argument. */
export function withSpaceArg(row: CommandRow): CommandRow {
  return { ...row, name: `${row.name}_space`, args: [...row.args, { kind: 'space', label: 'space' }], attrs: 'space' };
}

/** `NAME_secure … 0|1`: the row with a Secure flag as its last argument. */
export function withSecureArg(row: CommandRow): CommandRow {
  return { ...row, name: `${row.name}_secure`, args: [...row.args, { kind: 'secure', label: 'secure' }], attrs: 'secure' };
}

/** Rows by the bytes of their name, without making a string of the command word. */
export class CommandTable {
  private readonly byHash = new Map<number, CommandRow[]>();
  readonly rows: readonly CommandRow[];

  constructor(rows: CommandRow[]) {
    this.rows = rows;
    for (const row of rows) {
      const bytes = Buffer.from(row.name, 'latin1');
      const h = hashBytes(bytes, 0, bytes.length);
      const list = this.byHash.get(h);
      if (list) list.push(row);
      else this.byHash.set(h, [row]);
    }
  }

  /** The row named by word 0 of `line`, or undefined. */
  lookup(line: QtestLine): CommandRow | undefined {
    const list = this.byHash.get(hashBytes(line.buf, line.starts[0], line.ends[0]));
    if (!list) return undefined;
    for (const row of list) if (line.wordIs(0, row.name)) return row;
    return undefined;
  }
}

/** FNV-1a over bytes [start, end). */
function hashBytes(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h >>> 0;
}
