/**
 * The qtest command table (QEMU 10.2.2 system/qtest.c semantics): one row per command with its
 * typed arguments (grammar.ts parses them), and the handlers that act on them. Replies are
 * QEMU's, byte for byte; bulk replies and the readX fast path write their bytes into the reply
 * writer themselves (no string per reply), everything else returns its line.
 */
import { decodeBase64InPlace, decodeWriteHexInto, isCanonicalBase64 } from './codecs.js';
import { Args, CommandTable, QemuWouldAbort, WROTE, parseArgs, withSecureArg, withSpaceArg } from './grammar.js';
import type { ArgSpec, CommandRow, QtestSessionState, Reply } from './grammar.js';
import type { QtestLine } from './line.js';
import type { ReplyWriter } from './reply.js';
import type { QtestMemory } from './target.js';
import type { MemTxAttrs, MemTxResult } from '../../memory/types.js';
import { loadLE, toLE } from '../../memory/bytes.js';

export { QemuWouldAbort } from './grammar.js';
export type { QtestSessionState } from './grammar.js';

/** Bulk transfers go through pieces of this size (a multiple of 3 and of 8). */
const PIECE = 48 * 1024;
const PIECE_BIG = BigInt(PIECE);

/** Scratch buffers of readX/writeX (one per width; the memory system copies out of them at once). */
const SCRATCH: Record<number, Uint8Array> = {
  1: new Uint8Array(1),
  2: new Uint8Array(2),
  4: new Uint8Array(4),
  8: new Uint8Array(8),
};
/** The piece buffer bulk transfers stage guest memory in. */
const PIECE_BUF = Buffer.allocUnsafeSlow(PIECE);

const TWO32 = 2 ** 32;

/** Argument `i` (a u64) stored little-endian into the scratch buffer of `size` bytes. */
function storeScratchLE(a: Args, i: number, size: number): Uint8Array {
  const out = SCRATCH[size];
  const r = a.nums[i];
  let lo: number;
  let hi: number;
  if (r.big === undefined) {
    lo = r.small % TWO32 >>> 0;
    hi = Math.floor(r.small / TWO32) >>> 0;
  } else {
    lo = Number(r.big & 0xffff_ffffn);
    hi = Number((r.big >> 32n) & 0xffff_ffffn);
  }
  for (let k = 0; k < size && k < 4; k++) {
    out[k] = lo & 0xff;
    lo >>>= 8;
  }
  for (let k = 4; k < size; k++) {
    out[k] = hi & 0xff;
    hi >>>= 8;
  }
  return out;
}

/** The reply to a failed access when the command reports them (attributes, or the opt-in). */
function txFailed(r: MemTxResult): string {
  // QEMU's MemTxResult bits: MEMTX_ERROR 0x1, MEMTX_DECODE_ERROR 0x2.
  return `ERR memory access failed 0x${r === 'decode-error' ? 2 : 1}`;
}

const arg = (kind: ArgSpec['kind'], label: string, optional = false): ArgSpec => ({ kind, label, optional });

function intercept(a: Args, s: QtestSessionState): Reply {
  const outbound = a.row.name === 'irq_intercept_out';
  const isNamed = a.has(1);
  const dev = a.device!;
  if (isNamed && !outbound) return 'FAIL Interception of named in-GPIOs not yet supported';
  if (s.interceptedDevice) return s.interceptedDevice.key === dev.key ? 'OK' : 'FAIL IRQ intercept already enabled';
  const wanted = isNamed ? a.str(1) : '';
  let installed = false;
  const report = (n: number) => (level: number) => {
    if ((s.irqLevels.get(n) ?? 0) !== level) {
      s.irqLevels.set(n, level);
      s.emit(`IRQ ${level ? 'raise' : 'lower'} ${n}`);
    }
  };
  for (const name of dev.gpioListNames()) {
    if (outbound) {
      if (name === wanted) {
        dev.gpioOut(name).forEach((line, n) => line.listen(report(n)));
        installed = true;
      }
    } else {
      dev.gpioIn(name).forEach((line, n) => line.listen(report(n)));
      installed = true;
    }
  }
  if (!installed) return 'FAIL No intercepts installed';
  s.interceptedDevice = dev;
  return 'OK';
}

function setIrqIn(a: Args): Reply {
  const listName = a.str(1);
  const name = listName === 'unnamed-gpio-in' ? '' : listName;
  const n = a.num(2);
  const lines = a.device!.gpioIn(name);
  if (n < 0 || n >= lines.length) {
    throw new QemuWouldAbort(
      `set_irq_in: ${a.str(0)} has no input ${n} in GPIO list ${JSON.stringify(listName)} (it has ${lines.length})`,
    );
  }
  lines[n].set(a.num(3));
  return 'OK';
}

function portOut(a: Args, s: QtestSessionState): Reply {
  const port = a.big(0);
  if (port > 0xffffn) throw new QemuWouldAbort(`${a.row.name}: port ${a.str(0)} is above 0xffff`);
  s.target.ioPorts.writeBytes(port, toLE(a.big(1), a.width));
  return 'OK';
}

function portIn(a: Args, s: QtestSessionState): Reply {
  const port = a.big(0);
  if (port > 0xffffn) throw new QemuWouldAbort(`${a.row.name}: port ${a.str(0)} is above 0xffff`);
  const buf = new Uint8Array(a.width);
  s.target.ioPorts.readBytes(port, buf);
  return 'OK 0x' + loadLE(buf).toString(16).padStart(4, '0');
}

function memWrite(a: Args): Reply {
  const r = a.memory.writeBytes(a.big(0), storeScratchLE(a, 1, a.width), a.attrs);
  return a.checkTx && r !== 'ok' ? txFailed(r) : 'OK';
}

function memRead(a: Args, _s: QtestSessionState, out: ReplyWriter): Reply {
  const buf = SCRATCH[a.width].fill(0);
  const r = a.memory.readBytes(a.big(0), buf, a.attrs);
  if (a.checkTx && r !== 'ok') return txFailed(r);
  out.okHex16LE(buf, a.width);
  return WROTE;
}

/**
 * Read [addr, addr+size) and hand it to `emit` in pieces. RAM is staged piece by piece (a RAM read
 * cannot fail and has no side effects, so pieces are exact); anything else is read in one access,
 * as QEMU does, so device accesses split exactly as they would there. Returns the access result.
 */
function readInPieces(a: Args, addr: bigint, size: number, emit: (buf: Buffer, n: number) => void, piece = PIECE): MemTxResult | undefined {
  const mem = a.memory;
  if (mem.isRam?.(addr, BigInt(size))) {
    for (let off = 0; off < size; off += piece) {
      const n = Math.min(piece, size - off);
      mem.readBytes(addr + BigInt(off), PIECE_BUF.subarray(0, n), a.attrs);
      emit(PIECE_BUF, n);
    }
    return undefined;
  }
  const whole = Buffer.alloc(size);
  const r = mem.readBytes(addr, whole, a.attrs);
  if (a.checkTx && r !== 'ok') return r;
  for (let off = 0; off < size; off += piece) {
    const n = Math.min(piece, size - off);
    emit(whole.subarray(off, off + n), n);
  }
  return undefined;
}

function readHex(a: Args, _s: QtestSessionState, out: ReplyWriter): Reply {
  const addr = a.big(0);
  const size = a.num(1);
  if (size === 0) throw new QemuWouldAbort('read: size must not be 0');
  // The reply starts only once a failed non-RAM access can still be answered with ERR.
  let started = false;
  const r = readInPieces(a, addr, size, (buf, n) => {
    if (!started) out.text('OK 0x');
    started = true;
    out.hex(buf, 0, n);
  });
  if (r !== undefined) return txFailed(r);
  return WROTE;
}

function readBase64(a: Args, _s: QtestSessionState, out: ReplyWriter): Reply {
  const addr = a.big(0);
  const size = a.num(1);
  if (size === 0) return 'OK ';
  let started = false;
  const r = readInPieces(a, addr, size, (buf, n) => {
    if (!started) out.text('OK ');
    started = true;
    out.base64(buf, 0, n);
  });
  if (r !== undefined) return txFailed(r);
  return WROTE;
}

/** Write `size` bytes produced piece by piece by `fill(piece, offset, n)`; RAM in pieces, else at once. */
function writeInPieces(a: Args, addr: bigint, size: number, fill: (buf: Uint8Array, offset: number, n: number) => void): Reply {
  const mem = a.memory;
  if (mem.isRam?.(addr, BigInt(size))) {
    for (let off = 0; off < size; off += PIECE) {
      const n = Math.min(PIECE, size - off);
      const buf = PIECE_BUF.subarray(0, n);
      fill(buf, off, n);
      mem.writeBytes(addr + BigInt(off), buf, a.attrs);
    }
    return 'OK';
  }
  const whole = new Uint8Array(size);
  fill(whole, 0, size);
  const r = mem.writeBytes(addr, whole, a.attrs);
  return a.checkTx && r !== 'ok' ? txFailed(r) : 'OK';
}

function writeHex(a: Args): Reply {
  const addr = a.big(0);
  const size = a.num(1);
  const buf = a.line.buf;
  const ds = a.start(2);
  const de = a.end(2);
  return writeInPieces(a, addr, size, (out, offset, n) => decodeWriteHexInto(buf, ds, de, offset, out.subarray(0, n)));
}

function writeBase64(a: Args, s: QtestSessionState): Reply {
  const addr = a.big(0);
  const size = a.num(1);
  const text = a.line.buf;
  const ds = a.start(2);
  const de = a.end(2);
  const len = de - ds;
  if (len % 4 === 0 && isCanonicalBase64(text, ds, de)) {
    // Canonical text decodes 4 characters to 3 bytes everywhere: piece k of the data is
    // characters [4k·PIECE/3, …) of the text, decoded on its own.
    const pad = (text[de - 1] === 61 ? 1 : 0) + (text[de - 2] === 61 ? 1 : 0);
    const decoded = (len / 4) * 3 - pad;
    if (decoded !== size) s.logNote(`b64write: data length mismatch (told ${size}, found ${decoded})\n`);
    return writeInPieces(a, addr, size, (out, offset, n) => {
      let have = 0;
      if (offset < decoded) {
        have = Math.min(n, decoded - offset);
        const from = ds + (offset / 3) * 4;
        const to = Math.min(de, from + Math.ceil(n / 3) * 4);
        // At most PIECE/3·4 characters: a short-lived string well below V8's large-object
        // size, decoded natively.
        Buffer.from(out.buffer, out.byteOffset, n).write(text.toString('latin1', from, to), 0, have, 'base64');
      }
      // Past the decoded bytes QEMU's buffer holds the rest of the text, a NUL, then heap
      // bytes (protocol/deviations.md: zeros here).
      for (let k = have; k < n; k++) {
        const at = ds + offset + k;
        out[k] = at < de ? text[at] : 0;
      }
    });
  }
  const { decodedLength, buffer } = decodeBase64InPlace(text, ds, de);
  if (decodedLength !== size) s.logNote(`b64write: data length mismatch (told ${size}, found ${decodedLength})\n`);
  return writeInPieces(a, addr, size, (out, offset, n) => {
    const avail = Math.max(0, Math.min(n, buffer.length - offset));
    out.set(buffer.subarray(offset, offset + avail));
    out.fill(0, avail, n);
  });
}

/** A fill over anything but plain RAM whose access result matters: ordinary writes in pieces. */
function fillChecked(mem: QtestMemory, addr: bigint, size: bigint, byte: number, attrs: MemTxAttrs | undefined): MemTxResult {
  const buf = Buffer.alloc(PIECE, byte);
  let result: MemTxResult = 'ok';
  let cur = addr;
  let left = size;
  while (left > 0n) {
    // Pieces end at PIECE-aligned addresses, as the memory system's own fill splits them.
    const toBoundary = PIECE_BIG - (cur % PIECE_BIG);
    const n = left < toBoundary ? left : toBoundary;
    const r = mem.writeBytes(cur, buf.subarray(0, Number(n)), attrs);
    if (r !== 'ok' && result === 'ok') result = r;
    left -= n;
    cur = BigInt.asUintN(64, cur + n);
  }
  return result;
}

function memsetCmd(a: Args, s: QtestSessionState): Reply {
  const addr = a.big(0);
  const size = a.big(1);
  const r = a.nums[2];
  const pattern = r.big === undefined ? r.small % 256 : Number(r.big & 0xffn);
  const mem = a.memory;
  const ram = mem.isRam?.(addr, size) ?? false;
  // A fill of RAM is cheap (page by page, no buffer): any size QEMU accepts. Over device memory
  // every byte is a device access, so the transfer limit applies.
  if (size > BigInt(s.maxTransferBytes) && !ram) {
    throw new QemuWouldAbort(`memset: size ${size} exceeds the limit of ${s.maxTransferBytes} bytes`);
  }
  if (size === 0n) return 'OK';
  if (a.checkTx && !ram) {
    const r = fillChecked(mem, addr, size, pattern, a.attrs);
    return r === 'ok' ? 'OK' : txFailed(r);
  }
  mem.fill(addr, size, pattern, a.attrs);
  return 'OK';
}

/** qemu_clock_advance_virtual_time(): never moves backwards; returns the new time. */
function advanceTo(s: QtestSessionState, dest: bigint): bigint {
  const clock = s.target.clock;
  if (dest > clock.nowNs) clock.advanceTo(dest);
  return clock.nowNs;
}

function clockStep(a: Args, s: QtestSessionState): Reply {
  const old = s.target.clock.nowNs;
  let ns: bigint;
  if (a.has(0)) ns = a.big(0);
  else {
    const next = s.target.clock.nextDeadlineNs();
    if (next === undefined)
      return 'FAIL cannot advance clock to the next deadline because there is no pending deadline';
    ns = next > old ? next - old : 0n;
  }
  const updated = advanceTo(s, BigInt.asIntN(64, old + ns));
  return updated > old ? `OK ${updated}` : 'FAIL could not advance time';
}

function clockSet(a: Args, s: QtestSessionState): Reply {
  const ns = a.big(0);
  const updated = advanceTo(s, ns);
  return `${updated === ns ? 'OK' : 'FAIL'} ${updated}`;
}

const WIDTHS: Array<[string, number]> = [
  ['b', 1],
  ['w', 2],
  ['l', 4],
  ['q', 8],
];

/** Memory rows that take attributes (the trailing word, and the `_space`/`_secure` forms). */
const MEMORY_ROWS: CommandRow[] = [
  ...WIDTHS.map(
    ([w, width]): CommandRow => ({ name: `read${w}`, args: [arg('address', 'address')], width, attrs: 'word', run: memRead }),
  ),
  ...WIDTHS.map(
    ([w, width]): CommandRow => ({
      name: `write${w}`,
      args: [arg('address', 'address'), arg('value', 'value')],
      width,
      attrs: 'word',
      run: memWrite,
    }),
  ),
  { name: 'read', args: [arg('address', 'address'), arg('size', 'size')], attrs: 'word', run: readHex },
  {
    name: 'write',
    args: [arg('address', 'address'), arg('size', 'size'), arg('data', 'data')],
    attrs: 'word',
    run: writeHex,
  },
  {
    name: 'memset',
    args: [arg('address', 'address'), arg('length', 'size'), arg('byte', 'byte')],
    attrs: 'word',
    run: memsetCmd,
  },
];

/** The `_space`/`_secure` forms exist for these (not for b64read/b64write). */
const BASE64_ROWS: CommandRow[] = [
  { name: 'b64read', args: [arg('address', 'address'), arg('size', 'size')], attrs: 'word', run: readBase64 },
  {
    name: 'b64write',
    args: [arg('address', 'address'), arg('size', 'size'), arg('data', 'data')],
    attrs: 'word',
    run: writeBase64,
  },
];

export const QTEST_ROWS: CommandRow[] = [
  { name: 'irq_intercept_out', args: [arg('device', 'QOM path'), arg('text', 'GPIO name', true)], run: intercept },
  { name: 'irq_intercept_in', args: [arg('device', 'QOM path'), arg('text', 'GPIO name', true)], run: intercept },
  {
    name: 'set_irq_in',
    args: [arg('device', 'QOM path'), arg('text', 'GPIO name'), arg('index', 'line number'), arg('level', 'level')],
    run: setIrqIn,
  },
  ...WIDTHS.slice(0, 3).map(
    ([w, width]): CommandRow => ({ name: `out${w}`, args: [arg('port', 'port'), arg('value', 'value')], width, run: portOut }),
  ),
  ...WIDTHS.slice(0, 3).map(([w, width]): CommandRow => ({ name: `in${w}`, args: [arg('port', 'port')], width, run: portIn })),
  ...MEMORY_ROWS,
  ...BASE64_ROWS,
  ...MEMORY_ROWS.map(withSpaceArg),
  ...MEMORY_ROWS.map(withSecureArg),
  { name: 'endianness', args: [], run: (_a, s) => (s.target.bigEndian ? 'OK big' : 'OK little') },
  { name: 'clock_step', args: [arg('ns', 'argument 1', true)], run: clockStep },
  { name: 'module_load', args: [arg('text', 'prefix'), arg('text', 'library')], run: () => 'OK' },
  { name: 'clock_set', args: [arg('ns', 'time (ns)')], run: clockSet },
];

export const QTEST_TABLE = new CommandTable(QTEST_ROWS);

/**
 * Run one split line: the one place a qtest command runs. Returns the reply line without its
 * newline, or WROTE when the handler wrote its OK reply into `out`.
 */
export function runQtestCommand(line: QtestLine, s: QtestSessionState, a: Args, out: ReplyWriter): Reply {
  const row = QTEST_TABLE.lookup(line);
  if (!row) return `FAIL Unknown command '${line.word(0)}'`;
  const early = parseArgs(row, line, s, a);
  if (early !== undefined) return early;
  return row.run(a, s, out);
}
