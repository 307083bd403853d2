/**
 * In-memory SMMUv3 structure layouts as data: the Stream Table Entry (64 bytes), the level-1 stream
 * table descriptor (8 bytes) and the Context Descriptor (64 bytes), with field names from IHI 0070
 * 5.1–5.4. Decodes little-endian words into named fields and encodes named fields back (for the
 * client's table builder). Address fields list the bits QEMU 10.2.2 reads (`hiBits`) and the
 * architectural width (`archHiBits`); decode follows QEMU, encode writes the architectural width.
 * Pure; validity checks live in translation-config.ts.
 */
import { bytesOf, extract32, deposit32, u32, wordsOf } from './bits.js';

/** A field of at most 32 bits inside one 32-bit word. */
export interface FieldSpec {
  readonly word: number;
  readonly lsb: number;
  readonly width: number;
}

/** An address split over a low word (bits below `loLsb` not part of it) and a high word. */
export interface AddressSpec {
  readonly loWord: number;
  readonly loLsb: number;
  readonly hiWord: number;
  /** High-word bits QEMU 10.2.2 uses (bits 32.. of the address). */
  readonly hiBits: number;
  /** High-word bits the architecture defines. */
  readonly archHiBits: number;
}

export type FieldTable = Readonly<Record<string, FieldSpec>>;
export type AddressTable = Readonly<Record<string, AddressSpec>>;

const f = (word: number, lsb: number, width: number): FieldSpec => ({ word, lsb, width });

/** STE (IHI 0070 5.2). Only fields QEMU reads, checks, or that a builder commonly sets. */
export const STE_FIELDS = {
  V: f(0, 0, 1),
  Config: f(0, 1, 3),
  S1Fmt: f(0, 4, 2),
  S1CDMax: f(1, 27, 5),
  S1DSS: f(2, 0, 2),
  S1CIR: f(2, 2, 2),
  S1COR: f(2, 4, 2),
  S1CSH: f(2, 6, 2),
  MEV: f(2, 19, 1),
  S1STALLD: f(2, 27, 1),
  EATS: f(2, 28, 2),
  STRW: f(2, 30, 2),
  MemAttr: f(3, 0, 4),
  MTCFG: f(3, 4, 1),
  ALLOCCFG: f(3, 5, 4),
  SHCFG: f(3, 12, 2),
  NSCFG: f(3, 14, 2),
  PRIVCFG: f(3, 16, 2),
  INSTCFG: f(3, 18, 2),
  S2VMID: f(4, 0, 16),
  S2T0SZ: f(5, 0, 6),
  S2SL0: f(5, 6, 2),
  S2IR0: f(5, 8, 2),
  S2OR0: f(5, 10, 2),
  S2SH0: f(5, 12, 2),
  S2TG: f(5, 14, 2),
  S2PS: f(5, 16, 3),
  S2AA64: f(5, 19, 1),
  S2ENDI: f(5, 20, 1),
  S2AFFD: f(5, 21, 1),
  S2PTW: f(5, 22, 1),
  S2HD: f(5, 23, 1),
  S2HA: f(5, 24, 1),
  S2S: f(5, 25, 1),
  S2R: f(5, 26, 1),
} as const satisfies FieldTable;

export const STE_ADDRESSES = {
  /** Bits 55:6 architecturally; QEMU 10.2.2 reads 47:6 (STE_CTXPTR). */
  S1ContextPtr: { loWord: 0, loLsb: 6, hiWord: 1, hiBits: 16, archHiBits: 24 },
  /** Bits 51:4 architecturally; QEMU 10.2.2 reads 47:4 (STE_S2TTB). */
  S2TTB: { loWord: 6, loLsb: 4, hiWord: 7, hiBits: 16, archHiBits: 20 },
} as const satisfies AddressTable;

/** Level-1 stream table descriptor (IHI 0070 5.1). */
export const L1STD_FIELDS = {
  Span: f(0, 0, 5),
} as const satisfies FieldTable;

export const L1STD_ADDRESSES = {
  /** QEMU takes the whole high word (no 52-bit mask). */
  L2Ptr: { loWord: 0, loLsb: 5, hiWord: 1, hiBits: 32, archHiBits: 20 },
} as const satisfies AddressTable;

/** CD (IHI 0070 5.4). */
export const CD_FIELDS = {
  T0SZ: f(0, 0, 6),
  TG0: f(0, 6, 2),
  IR0: f(0, 8, 2),
  OR0: f(0, 10, 2),
  SH0: f(0, 12, 2),
  EPD0: f(0, 14, 1),
  ENDI: f(0, 15, 1),
  T1SZ: f(0, 16, 6),
  TG1: f(0, 22, 2),
  IR1: f(0, 24, 2),
  OR1: f(0, 26, 2),
  SH1: f(0, 28, 2),
  EPD1: f(0, 30, 1),
  V: f(0, 31, 1),
  IPS: f(1, 0, 3),
  AFFD: f(1, 3, 1),
  WXN: f(1, 4, 1),
  UWXN: f(1, 5, 1),
  TBI: f(1, 6, 2),
  PAN: f(1, 8, 1),
  AA64: f(1, 9, 1),
  HD: f(1, 10, 1),
  HA: f(1, 11, 1),
  S: f(1, 12, 1),
  R: f(1, 13, 1),
  A: f(1, 14, 1),
  ASET: f(1, 15, 1),
  ASID: f(1, 16, 16),
  NSCFG0: f(2, 0, 1),
  HAD0: f(2, 1, 1),
  NSCFG1: f(4, 0, 1),
  HAD1: f(4, 1, 1),
  MAIR0: f(6, 0, 32),
  MAIR1: f(7, 0, 32),
  AMAIR0: f(8, 0, 32),
  AMAIR1: f(9, 0, 32),
} as const satisfies FieldTable;

export const CD_ADDRESSES = {
  /** Bits 51:4 architecturally; QEMU 10.2.2 reads 50:4 (19 high bits, CD_TTB). */
  TTB0: { loWord: 2, loLsb: 4, hiWord: 3, hiBits: 19, archHiBits: 20 },
  TTB1: { loWord: 4, loLsb: 4, hiWord: 5, hiBits: 19, archHiBits: 20 },
} as const satisfies AddressTable;

export const STE_BYTES = 64;
export const CD_BYTES = 64;
export const L1STD_BYTES = 8;

export type Fields<T extends FieldTable> = { [K in keyof T]: number };
export type Addresses<T extends AddressTable> = { [K in keyof T]: bigint };

export type SteFields = Fields<typeof STE_FIELDS> & Addresses<typeof STE_ADDRESSES>;
export type CdFields = Fields<typeof CD_FIELDS> & Addresses<typeof CD_ADDRESSES>;
export type L1stdFields = Fields<typeof L1STD_FIELDS> & Addresses<typeof L1STD_ADDRESSES>;

export function readField(words: readonly number[], spec: FieldSpec): number {
  return extract32(words[spec.word] ?? 0, spec.lsb, spec.width);
}

export function readAddress(words: readonly number[], spec: AddressSpec): bigint {
  const lo = u32((words[spec.loWord] ?? 0) & ~(2 ** spec.loLsb - 1));
  const hi = extract32(words[spec.hiWord] ?? 0, 0, spec.hiBits);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function decodeWith<F extends FieldTable, A extends AddressTable>(
  words: readonly number[],
  fields: F,
  addresses: A,
): Fields<F> & Addresses<A> {
  const out: Record<string, number | bigint> = {};
  for (const [name, spec] of Object.entries(fields)) out[name] = readField(words, spec);
  for (const [name, spec] of Object.entries(addresses)) out[name] = readAddress(words, spec);
  return out as Fields<F> & Addresses<A>;
}

function encodeWith<F extends FieldTable, A extends AddressTable>(
  wordCount: number,
  fields: F,
  addresses: A,
  values: Partial<Fields<F> & Addresses<A>>,
): Uint8Array {
  const words = new Array<number>(wordCount).fill(0);
  for (const [name, spec] of Object.entries(fields)) {
    const v = (values as Record<string, number | bigint | undefined>)[name];
    if (v !== undefined) words[spec.word] = deposit32(words[spec.word], spec.lsb, spec.width, Number(v));
  }
  for (const [name, spec] of Object.entries(addresses)) {
    const v = (values as Record<string, number | bigint | undefined>)[name];
    if (v === undefined) continue;
    const addr = BigInt(v);
    const lo = Number(addr & 0xffffffffn) & ~(2 ** spec.loLsb - 1);
    words[spec.loWord] = u32((words[spec.loWord] & (2 ** spec.loLsb - 1)) | lo);
    words[spec.hiWord] = deposit32(words[spec.hiWord], 0, spec.archHiBits, Number((addr >> 32n) & 0xffffffffn));
  }
  return bytesOf(words);
}

export function decodeSte(bytesOrWords: Uint8Array | readonly number[]): SteFields {
  const words = bytesOrWords instanceof Uint8Array ? wordsOf(bytesOrWords) : bytesOrWords;
  return decodeWith(words, STE_FIELDS, STE_ADDRESSES);
}

export function encodeSte(values: Partial<SteFields>): Uint8Array {
  return encodeWith(STE_BYTES / 4, STE_FIELDS, STE_ADDRESSES, values);
}

export function decodeCd(bytesOrWords: Uint8Array | readonly number[]): CdFields {
  const words = bytesOrWords instanceof Uint8Array ? wordsOf(bytesOrWords) : bytesOrWords;
  return decodeWith(words, CD_FIELDS, CD_ADDRESSES);
}

export function encodeCd(values: Partial<CdFields>): Uint8Array {
  return encodeWith(CD_BYTES / 4, CD_FIELDS, CD_ADDRESSES, values);
}

export function decodeL1std(bytesOrWords: Uint8Array | readonly number[]): L1stdFields {
  const words = bytesOrWords instanceof Uint8Array ? wordsOf(bytesOrWords) : bytesOrWords;
  return decodeWith(words, L1STD_FIELDS, L1STD_ADDRESSES);
}

/** Level-1 descriptor; L2Ptr is written with its full 32-bit high word. */
export function encodeL1std(values: Partial<L1stdFields>): Uint8Array {
  return encodeWith(L1STD_BYTES / 4, L1STD_FIELDS, { L2Ptr: { ...L1STD_ADDRESSES.L2Ptr, archHiBits: 32 } }, values);
}

/** STE.Config values (IHI 0070 5.2): bit 2 = translate/bypass vs abort, bit 0 = S1, bit 1 = S2. */
export const STE_CONFIG = { ABORT: 0, BYPASS: 4, S1_TRANS: 5, S2_TRANS: 6, NESTED: 7 } as const;
