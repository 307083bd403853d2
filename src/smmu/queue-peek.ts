/**
 * A read-only view of the command and event queues' entries (x-qtestd-smmu-queues,
 * docs/inspector.md): the entries between CONS and PROD (pending) and the last few before CONS
 * (consumed), each decoded with the model's own decoders (decodeCommand, decodeEventRecord). The
 * caller passes the reader, which must be side-effect free (RAM only) and answers null otherwise.
 */
import type { SmmuBank } from './bank.js';
import { hex, wordsOf } from './bits.js';
import { commandTraceName, decodeCommand } from './command-queue.js';
import { decodeEventRecord } from './event-queue.js';
import { CMD_ENTRY_BYTES, entryAddress, EVT_ENTRY_BYTES, occupancy, queueIndex, wrapIndexMask } from './queue-index.js';
import { SMMU_BASE_ADDR_MASK } from './stream-table.js';

/** Reads `length` bytes at a physical address, or null when that is not plain RAM. */
export type RamPeek = (addr: bigint, length: number) => Uint8Array | null;

export interface QueueRegs {
  base: bigint;
  prod: number;
  cons: number;
  log2size: number;
}

/** A bank's queue registers and the view its queues live in (SmmuV3.debugQueueRegs). */
export interface DebugQueueRegs {
  cmdq: QueueRegs;
  eventq: QueueRegs;
  view: 'non-secure' | 'secure';
}

/** A bank's queue registers as its registers hold them, with the view its queues live in. */
export function bankQueueRegs(bank: SmmuBank, view: DebugQueueRegs['view']): DebugQueueRegs {
  const r = bank.registerValues();
  const q = (base: bigint, prod: bigint, cons: bigint, log2size: number): QueueRegs => ({
    base,
    prod: Number(prod),
    cons: Number(cons),
    log2size,
  });
  return {
    cmdq: q(r.CMDQ_BASE, r.CMDQ_PROD, r.CMDQ_CONS, bank.cmdqLog2size),
    eventq: q(r.EVENTQ_BASE, r.EVENTQ_PROD, r.EVENTQ_CONS, bank.eventqLog2size),
    view,
  };
}

/** How many consumed entries (before CONS) are shown at most. */
export const CONSUMED_SHOWN = 4;

function peekQueue(q: QueueRegs, entryBytes: number, max: number, read: RamPeek, decode: (b: Uint8Array) => object) {
  const mask = wrapIndexMask(q.log2size);
  const size = 2 ** q.log2size;
  const pending = occupancy(q.prod, q.cons, q.log2size);
  // consumed entries: only as many as CONS has advanced since reset (before a wrap) and the ring holds
  const consumed = Math.min(CONSUMED_SHOWN, size - pending, q.cons & mask);
  const shownPending = Math.min(pending, max);
  const entries = [];
  let notRam: string | undefined;
  for (let k = -consumed; k < shownPending; k++) {
    const ptr = (q.cons + k + mask + 1) & mask;
    const addr = entryAddress(q.base, ptr, q.log2size, entryBytes);
    const bytes = read(addr, entryBytes);
    const base = { index: queueIndex(ptr, q.log2size), state: k < 0 ? 'consumed' : 'pending', addr: hex(addr) };
    if (!bytes) {
      notRam ??= `entry at ${hex(addr)} is not in RAM: not read`;
      entries.push({ ...base, unread: true });
      continue;
    }
    entries.push({ ...base, words: wordsOf(bytes).map((w) => hex(w >>> 0)), ...decode(bytes) });
  }
  return {
    baseAddr: hex(q.base & SMMU_BASE_ADDR_MASK),
    log2size: q.log2size,
    prod: hex(q.prod),
    cons: hex(q.cons),
    pending,
    truncated: pending > shownPending,
    ...(notRam ? { note: notRam } : {}),
    entries,
  };
}

/** Non-zero fields of a command (its layout overlaps by opcode, so all non-zero ones are shown). */
function commandJson(bytes: Uint8Array) {
  const c = decodeCommand(bytes);
  const fields: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(c))
    if (k !== 'Opcode' && v !== 0 && v !== 0n) fields[k] = typeof v === 'bigint' ? hex(v) : v;
  return { opcode: c.Opcode, name: commandTraceName(c.Opcode).replace(/^SMMU_/, ''), fields };
}

function eventJson(bytes: Uint8Array) {
  const e = decodeEventRecord(bytes);
  const fields: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'type' || k === 'name' || k === 'words' || v === 0 || v === 0n || v === undefined) continue;
    fields[k] = typeof v === 'bigint' ? hex(v) : (v as number | string);
  }
  return { type: e.type, name: e.name ?? 'UNKNOWN', fields };
}

/** Both queues of one bank; `max` bounds the pending entries shown per queue. */
export function peekQueues(cmdq: QueueRegs, eventq: QueueRegs, max: number, read: RamPeek) {
  return {
    cmdq: peekQueue(cmdq, CMD_ENTRY_BYTES, max, read, commandJson),
    eventq: peekQueue(eventq, EVT_ENTRY_BYTES, max, read, eventJson),
  };
}
