/**
 * The open-addressing hash table behind the IOTLB. A key is (tag, hi, lo): a small non-negative
 * integer tag and a 64-bit value as two 32-bit halves, held in typed arrays so that a probe neither
 * builds strings nor allocates; values sit in a parallel array. Fixed size, linear probing,
 * tombstones, rebuilt once tombstones and live slots fill half the table. Also carries the scratch
 * that splits a bigint into halves and a one-entry "last hit" memo. All state is per instance.
 */

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Indices of the low and high 32-bit halves of a 64-bit word in host byte order. */
const LO = LITTLE_ENDIAN_HOST ? 0 : 1;
const HI = 1 - LO;

const SLOT_BITS = 10;
/** Number of slots: at least 4 × what the owner keeps live, so probes stay short. */
export const KEY_TABLE_SLOTS = 1 << SLOT_BITS;
const SLOTS = KEY_TABLE_SLOTS;
const EMPTY = -1;
const DELETED = -2;

function slotHash(tag: number, hi: number, lo: number): number {
  const h = Math.imul(lo, 0x9e3779b1) ^ Math.imul(hi ^ Math.imul(tag, 0x85ebca6b), 0xc2b2ae35);
  return Math.imul(h ^ (h >>> 15), 0x27d4eb2d) >>> (32 - SLOT_BITS);
}

/** A stored value knows its slot (kept current across rebuilds). */
export interface Slotted {
  slot: number;
}

/**
 * Keys (tag ≥ 0, hi, lo) to values. The owner keeps at most SLOTS / 4 live keys and puts a key
 * only when it is known to be absent.
 */
export class IovaKeyTable<V extends Slotted, M> {
  private readonly slotTag = new Int32Array(SLOTS).fill(EMPTY);
  private readonly slotHi = new Uint32Array(SLOTS);
  private readonly slotLo = new Uint32Array(SLOTS);
  private readonly slotValue: Array<V | undefined> = new Array<V | undefined>(SLOTS).fill(undefined);
  /** Slots that are not EMPTY (live or tombstones). */
  private used: number[] = [];

  /** Splits a 64-bit value into halves without allocating: store into split64[0], read split32. */
  private readonly split64 = new BigUint64Array(1);
  private readonly split32 = new Uint32Array(this.split64.buffer);
  /** Halves of the value last given to split(). */
  hi = 0;
  lo = 0;
  /** Result registers of shiftRight(), so the hot path allocates nothing. */
  keyHi = 0;
  keyLo = 0;

  /** Last hit: the owner's tag object, the shift and key it hit under, and the value. */
  private memoTag: object | null = null;
  private memoShift = 0;
  private memoHi = 0;
  private memoLo = 0;
  private memoValue: M | undefined = undefined;

  // ------------------------------------------------------------ 64-bit keys

  /** v (in [0, 2^64)) into hi/lo. */
  split(v: bigint): void {
    this.split64[0] = v;
    this.hi = this.split32[HI];
    this.lo = this.split32[LO];
  }

  /** (hi:lo) >> s for 0 ≤ s < 64, into keyHi/keyLo. */
  shiftRight(hi: number, lo: number, s: number): void {
    if (s === 0) {
      this.keyHi = hi;
      this.keyLo = lo;
    } else if (s < 32) {
      this.keyLo = ((lo >>> s) | (hi << (32 - s))) >>> 0;
      this.keyHi = hi >>> s;
    } else {
      this.keyLo = hi >>> (s - 32);
      this.keyHi = 0;
    }
  }

  /** split(v) then shiftRight by s: the key of v (in [0, 2^64)) at shift s, in keyHi/keyLo. */
  keyOf(v: bigint, s: number): void {
    this.split64[0] = v;
    this.shiftRight(this.split32[HI], this.split32[LO], s);
  }

  // ------------------------------------------------------------ table

  /** Slot of the key, or −1. */
  find(tag: number, hi: number, lo: number): number {
    const st = this.slotTag;
    let i = slotHash(tag, hi, lo);
    for (;;) {
      const t = st[i];
      if (t === EMPTY) return -1;
      if (t === tag && this.slotLo[i] === lo && this.slotHi[i] === hi) return i;
      i = (i + 1) & (SLOTS - 1);
    }
  }

  /** The value in a slot find() returned. */
  valueAt(slot: number): V {
    return this.slotValue[slot]!;
  }

  /** Put a value under a key known to be absent; sets value.slot. */
  put(tag: number, hi: number, lo: number, value: V): void {
    this.memoTag = null;
    if (this.used.length >= SLOTS / 2) this.rehash();
    const st = this.slotTag;
    let i = slotHash(tag, hi, lo);
    while (st[i] >= 0) i = (i + 1) & (SLOTS - 1);
    if (st[i] === EMPTY) this.used.push(i);
    st[i] = tag;
    this.slotHi[i] = hi;
    this.slotLo[i] = lo;
    this.slotValue[i] = value;
    value.slot = i;
  }

  /** Empty a live slot (leaves a tombstone). */
  removeAt(slot: number): void {
    this.memoTag = null;
    this.slotTag[slot] = DELETED;
    this.slotValue[slot] = undefined;
  }

  clear(): void {
    this.memoTag = null;
    for (const i of this.used) {
      this.slotTag[i] = EMPTY;
      this.slotValue[i] = undefined;
    }
    this.used = [];
  }

  /** Every live value, in no particular order. */
  values(): V[] {
    const all: V[] = [];
    for (const i of this.used) {
      const v = this.slotValue[i];
      if (this.slotTag[i] >= 0 && v) all.push(v);
    }
    return all;
  }

  private rehash(): void {
    const live: Array<[V, number, number, number]> = [];
    for (const i of this.used) {
      const v = this.slotValue[i];
      if (this.slotTag[i] >= 0 && v) live.push([v, this.slotTag[i], this.slotHi[i], this.slotLo[i]]);
    }
    this.clear();
    for (const [v, tag, hi, lo] of live) this.put(tag, hi, lo, v);
  }

  // ------------------------------------------------------------ last-hit memo

  /**
   * Remember that, under the owner's `tag` object, the key (keyHi, keyLo) at `shift` gave `value`.
   * Dropped by every put/removeAt/clear and by forget(); the owner calls forget() on any other
   * change that could alter what a lookup returns.
   */
  remember(tag: object, shift: number, keyHi: number, keyLo: number, value: M): void {
    this.memoTag = tag;
    this.memoShift = shift;
    this.memoHi = keyHi;
    this.memoLo = keyLo;
    this.memoValue = value;
  }

  /** The remembered value if `tag` is the remembered one and (hi:lo) has the same key at its shift, else undefined. */
  recall(tag: object, hi: number, lo: number): M | undefined {
    if (this.memoTag !== tag) return undefined;
    this.shiftRight(hi, lo, this.memoShift);
    return this.keyLo === this.memoLo && this.keyHi === this.memoHi ? this.memoValue : undefined;
  }

  forget(): void {
    this.memoTag = null;
  }
}
