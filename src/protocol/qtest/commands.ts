/**
 * The qtest command table (QEMU 10.2.2 system/qtest.c semantics), one row per command: which
 * arguments it needs, how they parse, what it does and how it answers. Where QEMU would assert
 * and die on an argument, the row throws QemuWouldAbort with a readable reason instead; the
 * endpoint turns that into a `FAIL …` line (protocol/deviations.md, "qtest input that aborts QEMU").
 */
import { encodeBase64, decodeBase64InPlace, decodeWriteHex } from './codecs.js';
import { parseQemuNumber } from './numbers.js';
import type { NumberKind } from './numbers.js';
import type { QtestDevice, QtestTarget } from './target.js';
import { LimitError } from '../../base/limits.js';
import { loadLE, toLE } from '../../memory/bytes.js';

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
  /** The start of a line a closed connection left unfinished; QEMU keeps it for the next one. */
  partialLine?: Buffer;
}

type Handler = (words: string[], s: QtestSessionState) => string;

const ARG_NAMES: Record<string, string[]> = {
  irq_intercept_in: ['QOM path'],
  irq_intercept_out: ['QOM path'],
  set_irq_in: ['QOM path', 'GPIO name', 'line number', 'level'],
  outb: ['port', 'value'],
  outw: ['port', 'value'],
  outl: ['port', 'value'],
  inb: ['port'],
  inw: ['port'],
  inl: ['port'],
  read: ['address', 'size'],
  b64read: ['address', 'size'],
  write: ['address', 'size', 'data'],
  b64write: ['address', 'size', 'data'],
  memset: ['address', 'size', 'byte'],
  clock_set: ['time (ns)'],
  module_load: ['prefix', 'library'],
};
for (const w of ['b', 'w', 'l', 'q']) {
  ARG_NAMES[`read${w}`] = ['address'];
  ARG_NAMES[`write${w}`] = ['address', 'value'];
}

/** QEMU's g_assert(words[1] && …): every listed argument must be present. */
function need(words: string[], count: number): void {
  for (let i = 1; i <= count; i++) {
    if (words[i] === undefined) {
      const name = ARG_NAMES[words[0]]?.[i - 1] ?? `argument ${i}`;
      throw new QemuWouldAbort(`${words[0]}: missing ${name}`);
    }
  }
}

function num(words: string[], index: number, kind: NumberKind): bigint {
  const token = words[index];
  const r = parseQemuNumber(token, kind);
  if (r.ok) return r.value;
  const name = ARG_NAMES[words[0]]?.[index - 1] ?? `argument ${index}`;
  const shown = JSON.stringify(token);
  if (r.reason === 'range') throw new QemuWouldAbort(`${words[0]}: ${name} ${shown} is out of range`);
  if (token === '') throw new QemuWouldAbort(`${words[0]}: empty ${name} (two spaces in a row?)`);
  if (token.includes('\r')) throw new QemuWouldAbort(`${words[0]}: invalid ${name} ${shown} (carriage return before newline)`);
  throw new QemuWouldAbort(`${words[0]}: invalid ${name} ${shown}`);
}

function transferSize(words: string[], index: number, s: QtestSessionState): number {
  const size = num(words, index, 'u64');
  if (size > BigInt(s.maxTransferBytes)) {
    throw new LimitError(`${words[0]}: size ${size} exceeds the limit of ${s.maxTransferBytes} bytes`);
  }
  return Number(size);
}

/** Scratch buffers of readX/writeX (one per width; the memory system copies out of them at once). */
const SCRATCH: Record<number, Uint8Array> = { 1: new Uint8Array(1), 2: new Uint8Array(2), 4: new Uint8Array(4), 8: new Uint8Array(8) };

/** `0x` + 16 hex digits of a little-endian value of 1, 2, 4 or 8 bytes (the bigint value's hex, zero-padded, without bigints). */
function hex16LE(buf: Uint8Array): string {
  const lo = buf.length >= 4 ? (buf[0] | (buf[1] << 8) | (buf[2] << 16) | (buf[3] << 24)) >>> 0 : buf.length === 2 ? buf[0] | (buf[1] << 8) : buf[0];
  if (buf.length < 8) return '0x00000000' + lo.toString(16).padStart(8, '0');
  const hi = (buf[4] | (buf[5] << 8) | (buf[6] << 16) | (buf[7] << 24)) >>> 0;
  return '0x' + hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/** storeLE into the scratch buffer of that width. */
function storeScratchLE(value: bigint, size: number): Uint8Array {
  const out = SCRATCH[size];
  let lo = Number(value & 0xffff_ffffn);
  for (let i = 0; i < size && i < 4; i++) {
    out[i] = lo & 0xff;
    lo >>>= 8;
  }
  if (size === 8) {
    let hi = Number((value >> 32n) & 0xffff_ffffn);
    for (let i = 4; i < 8; i++) {
      out[i] = hi & 0xff;
      hi >>>= 8;
    }
  }
  return out;
}

const WIDTH: Record<string, number> = { b: 1, w: 2, l: 4, q: 8 };


function intercept(words: string[], s: QtestSessionState): string {
  need(words, 1);
  const isNamed = words[2] !== undefined;
  const outbound = words[0] === 'irq_intercept_out';
  const dev = s.target.resolveDevice(words[1]);
  if (!dev) return 'FAIL Unknown device';
  if (isNamed && !outbound) return 'FAIL Interception of named in-GPIOs not yet supported';
  if (s.interceptedDevice) return s.interceptedDevice.key === dev.key ? 'OK' : 'FAIL IRQ intercept already enabled';
  let installed = false;
  const report = (n: number) => (level: number) => {
    if ((s.irqLevels.get(n) ?? 0) !== level) {
      s.irqLevels.set(n, level);
      s.emit(`IRQ ${level ? 'raise' : 'lower'} ${n}`);
    }
  };
  for (const name of dev.gpioListNames()) {
    if (outbound) {
      if (name === (words[2] ?? '')) {
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

function setIrqIn(words: string[], s: QtestSessionState): string {
  need(words, 4);
  const dev = s.target.resolveDevice(words[1]);
  if (!dev) return 'FAIL Unknown device';
  const name = words[2] === 'unnamed-gpio-in' ? '' : words[2];
  const n = Number(num(words, 3, 'i32'));
  const level = Number(num(words, 4, 'i32'));
  const lines = dev.gpioIn(name);
  if (n < 0 || n >= lines.length) {
    throw new QemuWouldAbort(`set_irq_in: ${words[1]} has no input ${n} in GPIO list ${JSON.stringify(words[2])} (it has ${lines.length})`);
  }
  lines[n].set(level);
  return 'OK';
}

function portAccess(words: string[], s: QtestSessionState): string {
  const isOut = words[0].startsWith('out');
  need(words, isOut ? 2 : 1);
  const port = num(words, 1, 'u64');
  const value = isOut ? num(words, 2, 'u64') : 0n;
  if (port > 0xffffn) throw new QemuWouldAbort(`${words[0]}: port ${words[1]} is above 0xffff`);
  const size = WIDTH[words[0][isOut ? 3 : 2]];
  if (isOut) {
    s.target.ioPorts.writeBytes(port, toLE(value, size));
    return 'OK';
  }
  const buf = new Uint8Array(size);
  s.target.ioPorts.readBytes(port, buf);
  return 'OK 0x' + loadLE(buf).toString(16).padStart(4, '0');
}

function memWrite(words: string[], s: QtestSessionState): string {
  need(words, 2);
  const addr = num(words, 1, 'u64');
  const value = num(words, 2, 'u64');
  s.target.memory.writeBytes(addr, storeScratchLE(value, WIDTH[words[0][5]]));
  return 'OK';
}

function memRead(words: string[], s: QtestSessionState): string {
  need(words, 1);
  const addr = num(words, 1, 'u64');
  const buf = SCRATCH[WIDTH[words[0][4]]].fill(0);
  s.target.memory.readBytes(addr, buf);
  return 'OK ' + hex16LE(buf);
}

function readHex(words: string[], s: QtestSessionState): string {
  need(words, 2);
  const addr = num(words, 1, 'u64');
  const size = transferSize(words, 2, s);
  if (size === 0) throw new QemuWouldAbort('read: size must not be 0');
  const buf = new Uint8Array(size);
  s.target.memory.readBytes(addr, buf);
  return 'OK 0x' + Buffer.from(buf.buffer, 0, size).toString('hex');
}

function readBase64(words: string[], s: QtestSessionState): string {
  need(words, 2);
  const addr = num(words, 1, 'u64');
  const size = transferSize(words, 2, s);
  const buf = new Uint8Array(size);
  s.target.memory.readBytes(addr, buf);
  return 'OK ' + encodeBase64(buf);
}

function writeHex(words: string[], s: QtestSessionState): string {
  need(words, 3);
  const addr = num(words, 1, 'u64');
  const size = transferSize(words, 2, s);
  if (words[3].length < 3) return 'ERR invalid argument size';
  s.target.memory.writeBytes(addr, decodeWriteHex(words[3], size));
  return 'OK';
}

function writeBase64(words: string[], s: QtestSessionState): string {
  need(words, 3);
  const addr = num(words, 1, 'u64');
  const size = transferSize(words, 2, s);
  if (words[3].length < 3) return 'ERR invalid argument size';
  const { decodedLength, buffer } = decodeBase64InPlace(words[3]);
  if (decodedLength !== size) s.logNote(`b64write: data length mismatch (told ${size}, found ${decodedLength})\n`);
  // QEMU writes SIZE bytes from its buffer; past what the buffer holds it writes host heap
  // contents, which we replace by zeros (protocol/deviations.md).
  let data: Uint8Array;
  if (buffer.length >= size) data = buffer.subarray(0, size);
  else {
    data = new Uint8Array(size);
    data.set(buffer);
  }
  s.target.memory.writeBytes(addr, data);
  return 'OK';
}

function memsetCmd(words: string[], s: QtestSessionState): string {
  need(words, 3);
  const addr = num(words, 1, 'u64');
  const size = num(words, 2, 'u64');
  const pattern = num(words, 3, 'u64');
  // A fill of RAM is cheap (page by page, no buffer): any size QEMU accepts. Over device memory
  // every byte is a device access, so the transfer limit applies.
  if (size > BigInt(s.maxTransferBytes) && !s.target.memory.isRam?.(addr, size)) transferSize(words, 2, s);
  if (size > 0n) s.target.memory.fill(addr, size, Number(pattern & 0xffn));
  return 'OK';
}

/** qemu_clock_advance_virtual_time(): never moves backwards; returns the new time. */
function advanceTo(s: QtestSessionState, dest: bigint): bigint {
  const clock = s.target.clock;
  if (dest > clock.nowNs) clock.advanceTo(dest);
  return clock.nowNs;
}

function clockStep(words: string[], s: QtestSessionState): string {
  const old = s.target.clock.nowNs;
  let ns: bigint;
  if (words[1] !== undefined) ns = num(words, 1, 'i64');
  else {
    const next = s.target.clock.nextDeadlineNs();
    if (next === undefined) return 'FAIL cannot advance clock to the next deadline because there is no pending deadline';
    ns = next > old ? next - old : 0n;
  }
  const updated = advanceTo(s, BigInt.asIntN(64, old + ns));
  return updated > old ? `OK ${updated}` : 'FAIL could not advance time';
}

function clockSet(words: string[], s: QtestSessionState): string {
  need(words, 1);
  const ns = num(words, 1, 'i64');
  const updated = advanceTo(s, ns);
  return `${updated === ns ? 'OK' : 'FAIL'} ${updated}`;
}

export const QTEST_COMMANDS: Record<string, Handler> = {
  irq_intercept_out: intercept,
  irq_intercept_in: intercept,
  set_irq_in: setIrqIn,
  outb: portAccess,
  outw: portAccess,
  outl: portAccess,
  inb: portAccess,
  inw: portAccess,
  inl: portAccess,
  writeb: memWrite,
  writew: memWrite,
  writel: memWrite,
  writeq: memWrite,
  readb: memRead,
  readw: memRead,
  readl: memRead,
  readq: memRead,
  read: readHex,
  b64read: readBase64,
  write: writeHex,
  memset: memsetCmd,
  b64write: writeBase64,
  endianness: (_w, s) => (s.target.bigEndian ? 'OK big' : 'OK little'),
  clock_step: clockStep,
  module_load: (words) => {
    need(words, 2);
    return 'OK';
  },
  clock_set: clockSet,
};

/** QTEST_COMMANDS as a Map: a faster lookup by a freshly sliced name, and no prototype keys. */
const COMMAND_MAP = new Map<string, Handler>(Object.entries(QTEST_COMMANDS));

/** Run one tokenized command; returns the reply line without its newline. */
export function runQtestCommand(words: string[], s: QtestSessionState): string {
  const handler = COMMAND_MAP.get(words[0]);
  if (!handler) return `FAIL Unknown command '${words[0]}'`;
  return handler(words, s);
}
