/**
 * Event records and the event queue (IHI 0070 7.3, 7.2; QEMU 10.2.2 smmuv3_record_event and
 * smmuv3_write_eventq): encodes an event as the 32 bytes QEMU writes (only the fields QEMU sets
 * for that type; SSV/SSID/STAG/Stall/PnU/InD always 0), and appends it at EVENTQ_PROD. A full
 * queue or a failed write is an abort (GERROR.EVENTQ_ABT_ERR), never the overflow flag. IRQs and
 * GERROR are the caller's; this module only reports what happened.
 */
import { bytesOf, deposit32, u32, wordsOf } from './bits.js';
import { EVENT_TYPES, FAULT_CLASS, isWalkEvent } from './faults.js';
import type { EventName, FaultClass, SmmuEvent } from './faults.js';
import { entryAddress, EVT_ENTRY_BYTES, isEmpty, isFull, prodIncrement } from './queue-index.js';
import type { BusAccess } from '../memory/types.js';

/** Event record fields (IHI 0070 7.3): word, lsb, width. ADDR/ADDR2 are 64-bit word pairs. */
export const EVT_FIELDS = {
  TYPE: { word: 0, lsb: 0, width: 8 },
  SSV: { word: 0, lsb: 11, width: 1 },
  SSID: { word: 0, lsb: 12, width: 20 },
  SID: { word: 1, lsb: 0, width: 32 },
  STAG: { word: 2, lsb: 0, width: 16 },
  STALL: { word: 2, lsb: 31, width: 1 },
  PNU: { word: 3, lsb: 1, width: 1 },
  IND: { word: 3, lsb: 2, width: 1 },
  RNW: { word: 3, lsb: 3, width: 1 },
  S2: { word: 3, lsb: 7, width: 1 },
  CLASS: { word: 3, lsb: 8, width: 2 },
} as const satisfies Record<string, { word: number; lsb: number; width: number }>;

/** Words holding InputAddr (ADDR) and IPA/FetchAddr (ADDR2), low word first. */
export const EVT_ADDR_WORDS = { ADDR: 4, ADDR2: 6 } as const;

type RecordPart = keyof typeof EVT_FIELDS | keyof typeof EVT_ADDR_WORDS;

/**
 * What QEMU 10.2.2 fills in per event type (besides TYPE and SID). F_CD_FETCH puts its fetch
 * address in ADDR, F_STE_FETCH in ADDR2 — a QEMU quirk kept on purpose.
 */
export const RECORD_LAYOUT: Partial<Record<EventName, readonly RecordPart[]>> = {
  C_BAD_STREAMID: ['SSID', 'SSV'],
  F_STE_FETCH: ['SSID', 'SSV', 'ADDR2'],
  C_BAD_STE: ['SSID', 'SSV'],
  F_CD_FETCH: ['SSID', 'SSV', 'ADDR'],
  C_BAD_CD: ['SSID', 'SSV'],
  F_WALK_EABT: ['STALL', 'STAG', 'SSID', 'SSV', 'S2', 'ADDR', 'RNW', 'PNU', 'IND', 'CLASS', 'ADDR2'],
  F_TRANSLATION: ['STALL', 'STAG', 'SSID', 'SSV', 'S2', 'ADDR', 'RNW', 'PNU', 'IND', 'CLASS', 'ADDR2'],
  F_ADDR_SIZE: ['STALL', 'STAG', 'SSID', 'SSV', 'S2', 'ADDR', 'RNW', 'PNU', 'IND', 'CLASS', 'ADDR2'],
  F_ACCESS: ['STALL', 'STAG', 'SSID', 'SSV', 'S2', 'ADDR', 'RNW', 'PNU', 'IND', 'CLASS', 'ADDR2'],
  F_PERMISSION: ['STALL', 'STAG', 'SSID', 'SSV', 'S2', 'ADDR', 'RNW', 'PNU', 'IND', 'CLASS', 'ADDR2'],
};

/** The value of one record part for an event (0 for what QEMU never sets). */
function partValue(e: SmmuEvent, part: RecordPart): number | bigint {
  switch (part) {
    case 'ADDR':
      if (e.type === 'F_CD_FETCH') return e.fetchAddr;
      return isWalkEvent(e) ? e.inputAddr : 0n;
    case 'ADDR2':
      if (e.type === 'F_STE_FETCH') return e.fetchAddr;
      return isWalkEvent(e) ? e.addr2 : 0n;
    case 'S2':
      return isWalkEvent(e) && e.s2 ? 1 : 0;
    case 'RNW':
      return isWalkEvent(e) && e.rnw ? 1 : 0;
    case 'CLASS':
      return isWalkEvent(e) ? FAULT_CLASS[e.cls] : 0;
    default:
      return 0; // SSID, SSV, STAG, STALL, PNU, IND: no substreams, no stall, no PnU/InD in QEMU
  }
}

/** The 32-byte little-endian record QEMU writes for `e`. */
export function encodeEventRecord(e: SmmuEvent): Uint8Array {
  const words = new Array<number>(8).fill(0);
  words[0] = deposit32(words[0], 0, 8, EVENT_TYPES[e.type]);
  words[1] = u32(e.sid);
  for (const part of RECORD_LAYOUT[e.type] ?? []) {
    const v = partValue(e, part);
    if (part === 'ADDR' || part === 'ADDR2') {
      const w = EVT_ADDR_WORDS[part];
      const a = BigInt(v);
      words[w] = Number(a & 0xffffffffn);
      words[w + 1] = Number((a >> 32n) & 0xffffffffn);
    } else {
      const spec = EVT_FIELDS[part];
      words[spec.word] = deposit32(words[spec.word], spec.lsb, spec.width, Number(v));
    }
  }
  return bytesOf(words);
}

/** The event queue registers the writer needs. */
export interface EventQueueState {
  base: bigint;
  prod: number;
  cons: number;
  log2size: number;
}

export type EventWriteOutcome =
  /** Written; `irq` says whether the queue is non-empty afterwards (QEMU pulses then). */
  { kind: 'written'; addr: bigint; irq: boolean } | { kind: 'full' } | { kind: 'write-failed'; addr: bigint };

/** Append a record at PROD (QEMU smmuv3_write_eventq, enable already checked). Mutates q.prod. */
export function writeEvent(q: EventQueueState, memory: BusAccess, record: Uint8Array): EventWriteOutcome {
  if (isFull(q.prod, q.cons, q.log2size)) return { kind: 'full' };
  const addr = entryAddress(q.base, q.prod, q.log2size, EVT_ENTRY_BYTES);
  if (memory.writeBytes(addr, record) !== 'ok') return { kind: 'write-failed', addr };
  q.prod = prodIncrement(q.prod, q.log2size);
  return { kind: 'written', addr, irq: !isEmpty(q.prod, q.cons, q.log2size) };
}

// ---- decoding (the inverse of encodeEventRecord, for readers of the queue) ----

export interface EventRecord {
  type: number;
  /** Spec name of `type`, if known. */
  name: EventName | undefined;
  sid: number;
  ssv: number;
  ssid: number;
  stag: number;
  stall: number;
  pnu: number;
  ind: number;
  rnw: number;
  s2: number;
  class: number;
  className: FaultClass | undefined;
  /** InputAddr (words 4–5). */
  inputAddr: bigint;
  /** IPA / FetchAddr (words 6–7). */
  addr2: bigint;
  words: number[];
}

const EVENT_NAMES = new Map<number, EventName>(Object.entries(EVENT_TYPES).map(([k, v]) => [v, k as EventName]));
const CLASS_NAMES = new Map<number, FaultClass>(Object.entries(FAULT_CLASS).map(([k, v]) => [v, k as FaultClass]));

/** Decode one 32-byte event record. */
export function decodeEventRecord(bytes: Uint8Array): EventRecord {
  if (bytes.length < EVT_ENTRY_BYTES)
    throw new RangeError(`an event record is ${EVT_ENTRY_BYTES} bytes, got ${bytes.length}`);
  const w = wordsOf(bytes.subarray(0, EVT_ENTRY_BYTES));
  const field = (name: keyof typeof EVT_FIELDS): number => {
    const s = EVT_FIELDS[name];
    return s.width >= 32 ? w[s.word] >>> 0 : (w[s.word] >>> s.lsb) & (2 ** s.width - 1);
  };
  const addr = (word: number): bigint => (BigInt(w[word + 1]) << 32n) | BigInt(w[word]);
  const type = field('TYPE');
  const cls = field('CLASS');
  return {
    type,
    name: EVENT_NAMES.get(type),
    sid: field('SID'),
    ssv: field('SSV'),
    ssid: field('SSID'),
    stag: field('STAG'),
    stall: field('STALL'),
    pnu: field('PNU'),
    ind: field('IND'),
    rnw: field('RNW'),
    s2: field('S2'),
    class: cls,
    className: CLASS_NAMES.get(cls),
    inputAddr: addr(EVT_ADDR_WORDS.ADDR),
    addr2: addr(EVT_ADDR_WORDS.ADDR2),
    words: w,
  };
}
