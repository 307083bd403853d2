/**
 * The qtest command table (QEMU 10.2.2 system/qtest.c semantics): one row per command with its
 * typed arguments (grammar.ts parses them), and the handlers that act on them. Replies are
 * QEMU's, byte for byte; bulk replies and the readX fast path write their bytes into the reply
 * writer themselves (no string per reply), everything else returns its line.
 */
import { memsetCmd, readBase64, readHex, txFailed, writeBase64, writeHex } from './bulk.js';
import { Args, CommandTable, QemuWouldAbort, WROTE, parseArgs, withSecureArg, withSpaceArg } from './grammar.js';
import type { ArgSpec, CommandRow, QtestSessionState, Reply } from './grammar.js';
import type { QtestLine } from './line.js';
import type { ReplyWriter } from './reply.js';
import { loadLE, toLE } from '../../memory/bytes.js';

export { QemuWouldAbort } from './grammar.js';
export type { QtestSessionState } from './grammar.js';

/** Scratch buffers of readX/writeX (one per width; the memory system copies out of them at once). */
const SCRATCH: Record<number, Uint8Array> = {
  1: new Uint8Array(1),
  2: new Uint8Array(2),
  4: new Uint8Array(4),
  8: new Uint8Array(8),
};

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
  const buf = SCRATCH[a.width];
  for (let i = 0; i < buf.length; i++) buf[i] = 0; // (a loop: fill() is a call into C++)
  const r = a.memory.readBytes(a.big(0), buf, a.attrs);
  if (a.checkTx && r !== 'ok') return txFailed(r);
  out.okHex16LE(buf, a.width);
  return WROTE;
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
