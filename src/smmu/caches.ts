/**
 * The SMMU's two caches as QEMU 10.2.2 keeps them (smmu-common.c): the configuration cache (one
 * decoded STE/CD per StreamID, unbounded, filled only by successful decodes) and the IOTLB (key
 * ASID, VMID, aligned IOVA, TG, level; 256 entries, flushed whole when full), with exactly the
 * invalidation predicates the CFGI_* and TLBI_* commands use, plus hit/miss counters. Pure data
 * structures: no memory access, no events. No walk cache, IPA cache or micro-TLB.
 */
import { U64_MASK } from './bits.js';
import { levelShift, stage1StartLevel } from './granules.js';
import type { TlbEntry } from './page-table-walk.js';
import type { TransCfg } from './translation-config.js';

/** QEMU SMMU_IOTLB_MAX_SIZE. */
export const IOTLB_MAX_ENTRIES = 256;

export interface IotlbKey {
  /** −1 for stage-2 entries (and stage-2-only streams). */
  asid: number;
  /** −1 on an SMMU without stage 2. */
  vmid: number;
  iova: bigint;
  /** 1 = 4K, 2 = 16K, 3 = 64K. */
  tg: number;
  level: number;
}

export const tgOf = (granuleShift: number): number => (granuleShift - 10) / 2;

/** One cached translation, its insertion number (entries() lists them in insertion order) and where it is kept. */
interface IotlbRecord {
  key: IotlbKey;
  entry: TlbEntry;
  seq: number;
  bucket: Bucket;
  /** Slot in the key table, or −1 when kept in the bucket's `odd` map. */
  slot: number;
  /** The `odd` map key when slot is −1. */
  oddKey: string;
}

/**
 * The entries sharing (ASID, VMID, TG, level). An IOVA in [0, 2^64) aligned to `shift` is keyed in
 * the shared key table by (bucket id, IOVA >> shift); any other IOVA (reachable only through
 * direct calls with odd values) by its hex string in `odd`, so keys stay exact for every bigint.
 */
interface Bucket {
  readonly id: number;
  readonly asid: number;
  readonly vmid: number;
  readonly tg: number;
  readonly level: number;
  readonly shift: number;
  readonly lowMask: bigint;
  /** Live entries (table and odd). */
  count: number;
  odd: Map<string, IotlbRecord> | undefined;
}

/**
 * How lookupAllLevels probes for one (ASID, VMID, granule, TnSZ): the buckets of the levels from
 * the start level to 3, coarsest first. Only built for the three real granules and a start level
 * in 0..3; otherwise `buckets` is null and the generic loop runs.
 */
interface LookupPlan {
  readonly asid: number;
  readonly vmid: number;
  readonly granuleShift: number;
  readonly tsz: number;
  readonly buckets: Bucket[] | null;
}

/** Soft caps on bookkeeping that lookups can create (empty buckets, plans). */
const MAX_BUCKETS = 4096;
const MAX_PLANS = 1024;

/** A number for small integer tuples, else a string; injective over all inputs. */
function tupleKey(a: number, b: number, c: number, d: number): number | string {
  if (
    Number.isInteger(a) && a >= -1 && a < 0x1ffff &&
    Number.isInteger(b) && b >= -1 && b < 0x1ffff &&
    Number.isInteger(c) && c >= 0 && c < 64 &&
    Number.isInteger(d) && d >= -64 && d < 64
  ) {
    return (((a + 1) * 0x20000 + (b + 1)) * 64 + c) * 128 + (d + 64);
  }
  return `${a}/${b}/${c}/${d}`;
}

/**
 * Splits a 64-bit value into 32-bit halves without allocating (scratch shared by all IOTLBs):
 * store into SPLIT64[0], read SPLIT32[HI] and SPLIT32[LO] (indices for the host's byte order).
 */
const SPLIT64 = new BigUint64Array(1);
const SPLIT32 = new Uint32Array(SPLIT64.buffer);
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN_HOST ? 0 : 1;
const HI = 1 - LO;
/** Result registers of shiftRight (module-level so the hot path allocates nothing). */
let keyHi = 0;
let keyLo = 0;

/** (hi:lo) >> s for 0 ≤ s < 64, into keyHi/keyLo. */
function shiftRight(hi: number, lo: number, s: number): void {
  if (s === 0) {
    keyHi = hi;
    keyLo = lo;
  } else if (s < 32) {
    keyLo = ((lo >>> s) | (hi << (32 - s))) >>> 0;
    keyHi = hi >>> s;
  } else {
    keyLo = hi >>> (s - 32);
    keyHi = 0;
  }
}

const SLOT_BITS = 10;
/** Open-addressing slots: at least 4 × the IOTLB capacity, so probes stay short. */
const SLOTS = 1 << SLOT_BITS;
const EMPTY = -1;
const DELETED = -2;

function slotHash(bucketId: number, hi: number, lo: number): number {
  const h = Math.imul(lo, 0x9e3779b1) ^ Math.imul(hi ^ Math.imul(bucketId, 0x85ebca6b), 0xc2b2ae35);
  return Math.imul(h ^ (h >>> 15), 0x27d4eb2d) >>> (32 - SLOT_BITS);
}

/**
 * QEMU's IOTLB, exact in content and behaviour (keys, capacity flush, every invalidation). Entries
 * live in an open-addressing table keyed by (bucket, IOVA >> level shift) held in typed arrays, so
 * a lookup neither builds strings nor allocates; a one-entry "last hit" memo in front of it is
 * invalidated by a generation counter that every change of the contents bumps.
 */
export class Iotlb {
  private readonly buckets = new Map<number | string, Bucket>();
  private nextBucketId = 0;
  /** Ids of pruned buckets (no live slot refers to them), reused before new ones. */
  private readonly freeBucketIds: number[] = [];
  private readonly plans = new Map<number | string, LookupPlan>();
  /** The two most recently used plans (a nested walk alternates between two views). */
  private lastPlan: LookupPlan | null = null;
  private prevPlan: LookupPlan | null = null;

  /** Key table: bucket id (or EMPTY/DELETED), key halves, record; `used` lists non-EMPTY slots. */
  private readonly slotBucket = new Int32Array(SLOTS).fill(EMPTY);
  private readonly slotHi = new Uint32Array(SLOTS);
  private readonly slotLo = new Uint32Array(SLOTS);
  private readonly slotRecord: Array<IotlbRecord | undefined> = new Array<IotlbRecord | undefined>(SLOTS).fill(undefined);
  private used: number[] = [];

  private count = 0;
  private nextSeq = 0;
  /** Bumped by every change of the contents; the last-hit memo is valid only for its value. */
  private generation = 0;
  private hitGeneration = -1;
  private hitPlan: LookupPlan | null = null;
  /** Shift and key (IOVA >> shift) of the level that hit. */
  private hitShift = 0;
  private hitHi = 0;
  private hitLo = 0;
  private hitEntry: TlbEntry | undefined = undefined;

  /** Lookups that hit / missed, over the SMMU's life (QEMU counts per config; see TransCfg). */
  hits = 0;
  misses = 0;
  /** Times the IOTLB was flushed because it was full. */
  capacityFlushes = 0;

  get size(): number {
    return this.count;
  }

  // ------------------------------------------------------------ key table

  private findSlot(bucketId: number, hi: number, lo: number): number {
    const sb = this.slotBucket;
    let i = slotHash(bucketId, hi, lo);
    for (;;) {
      const b = sb[i];
      if (b === EMPTY) return -1;
      if (b === bucketId && this.slotLo[i] === lo && this.slotHi[i] === hi) return i;
      i = (i + 1) & (SLOTS - 1);
    }
  }

  /** Put a record under a key known to be absent. */
  private placeSlot(bucketId: number, hi: number, lo: number, rec: IotlbRecord): void {
    // At most IOTLB_MAX_ENTRIES live slots; rebuild once tombstones fill half the table.
    if (this.used.length >= SLOTS / 2) this.rehash();
    const sb = this.slotBucket;
    let i = slotHash(bucketId, hi, lo);
    while (sb[i] >= 0) i = (i + 1) & (SLOTS - 1);
    if (sb[i] === EMPTY) this.used.push(i);
    sb[i] = bucketId;
    this.slotHi[i] = hi;
    this.slotLo[i] = lo;
    this.slotRecord[i] = rec;
    rec.slot = i;
  }

  private rehash(): void {
    const live: Array<[IotlbRecord, number, number]> = [];
    for (const i of this.used) {
      const r = this.slotRecord[i];
      if (this.slotBucket[i] >= 0 && r) live.push([r, this.slotHi[i], this.slotLo[i]]);
    }
    this.clearSlots();
    for (const [r, hi, lo] of live) this.placeSlot(r.bucket.id, hi, lo, r);
  }

  private clearSlots(): void {
    for (const i of this.used) {
      this.slotBucket[i] = EMPTY;
      this.slotRecord[i] = undefined;
    }
    this.used = [];
  }

  // ------------------------------------------------------------ buckets and plans

  private bucket(asid: number, vmid: number, tg: number, level: number, create: boolean): Bucket | undefined {
    const k = tupleKey(asid, vmid, tg, level);
    let b = this.buckets.get(k);
    if (!b && create) {
      if (this.buckets.size >= MAX_BUCKETS) this.pruneEmptyBuckets();
      const shift = levelShift(level, tg * 2 + 10);
      const s = Number.isInteger(shift) && shift >= 0 && shift < 64 ? shift : 0;
      b = { id: this.freeBucketIds.pop() ?? this.nextBucketId++, asid, vmid, tg, level, shift: s, lowMask: (1n << BigInt(s)) - 1n, count: 0, odd: undefined };
      this.buckets.set(k, b);
    }
    return b;
  }

  /** Drop empty buckets and every plan (plans hold buckets). */
  private pruneEmptyBuckets(): void {
    for (const [k, b] of this.buckets) {
      if (b.count === 0) {
        this.buckets.delete(k);
        this.freeBucketIds.push(b.id);
      }
    }
    this.plans.clear();
    this.lastPlan = null;
    this.prevPlan = null;
    this.hitPlan = null;
  }

  private plan(asid: number, vmid: number, granuleShift: number, tsz: number): LookupPlan {
    const k = tupleKey(asid, vmid, granuleShift, tsz);
    let p = this.plans.get(k);
    if (p) return p;
    if (this.plans.size >= MAX_PLANS) {
      this.plans.clear();
      this.hitPlan = null;
    }
    let buckets: Bucket[] | null = null;
    const start = stage1StartLevel(64 - tsz, granuleShift);
    if ((granuleShift === 12 || granuleShift === 14 || granuleShift === 16) && Number.isInteger(start) && start >= 0 && start <= 3) {
      if (this.buckets.size + 4 > MAX_BUCKETS) this.pruneEmptyBuckets();
      buckets = [];
      for (let level = start; level <= 3; level++) buckets.push(this.bucket(asid, vmid, tgOf(granuleShift), level, true)!);
    }
    p = { asid, vmid, granuleShift, tsz, buckets };
    this.plans.set(k, p);
    return p;
  }

  /** The record under (bucket, exact IOVA), if any. */
  private find(b: Bucket, iova: bigint): IotlbRecord | undefined {
    if ((iova & b.lowMask) === 0n && BigInt.asUintN(64, iova) === iova) {
      SPLIT64[0] = iova;
      shiftRight(SPLIT32[HI], SPLIT32[LO], b.shift);
      const i = this.findSlot(b.id, keyHi, keyLo);
      return i < 0 ? undefined : this.slotRecord[i];
    }
    return b.odd?.get(iova.toString(16));
  }

  // ------------------------------------------------------------ lookup

  /**
   * Try every level from the walk's start level (for `granuleShift` and `tsz`) down to 3, with
   * the IOVA aligned to that level's block size (QEMU smmu_iotlb_lookup_all_levels).
   */
  lookupAllLevels(asid: number, vmid: number, granuleShift: number, tsz: number, iova: bigint): TlbEntry | undefined {
    let p = this.lastPlan;
    if (p === null || p.asid !== asid || p.vmid !== vmid || p.granuleShift !== granuleShift || p.tsz !== tsz) {
      const q = this.prevPlan;
      p = q !== null && q.asid === asid && q.vmid === vmid && q.granuleShift === granuleShift && q.tsz === tsz ? q : this.plan(asid, vmid, granuleShift, tsz);
      this.prevPlan = this.lastPlan;
      this.lastPlan = p;
    }
    const buckets = p.buckets;
    if (buckets === null || BigInt.asUintN(64, iova) !== iova) return this.lookupGeneric(asid, vmid, granuleShift, tsz, iova);
    if (this.count === 0) return undefined;
    SPLIT64[0] = iova;
    const hi = SPLIT32[HI];
    const lo = SPLIT32[LO];
    if (this.hitPlan === p && this.hitGeneration === this.generation) {
      // Same key at the level that hit, hence at every (coarser) level tried before it: same result.
      shiftRight(hi, lo, this.hitShift);
      if (keyLo === this.hitLo && keyHi === this.hitHi) return this.hitEntry;
    }
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i];
      if (b.count === 0) continue;
      // The aligned IOVA >> shift is the IOVA >> shift; the odd map never holds aligned keys.
      shiftRight(hi, lo, b.shift);
      const slot = this.findSlot(b.id, keyHi, keyLo);
      if (slot >= 0) {
        const entry = this.slotRecord[slot]!.entry;
        this.hitGeneration = this.generation;
        this.hitPlan = p;
        this.hitShift = b.shift;
        this.hitHi = keyHi;
        this.hitLo = keyLo;
        this.hitEntry = entry;
        return entry;
      }
    }
    return undefined;
  }

  /** The lookup written out as QEMU does it, for inputs the plan does not cover. */
  private lookupGeneric(asid: number, vmid: number, granuleShift: number, tsz: number, iova: bigint): TlbEntry | undefined {
    const tg = tgOf(granuleShift);
    const start = stage1StartLevel(64 - tsz, granuleShift);
    // QEMU holds the level in a uint8_t: a negative start wraps past 3 and nothing is looked up.
    if (start < 0) return undefined;
    for (let level = start; level <= 3; level++) {
      const b = this.bucket(asid, vmid, tg, level, false);
      if (!b || b.count === 0) continue;
      const mask = (1n << BigInt(levelShift(level, granuleShift))) - 1n;
      const hit = this.find(b, iova & ~mask);
      if (hit) return hit.entry;
    }
    return undefined;
  }

  // ------------------------------------------------------------ changes

  /** Insert under (asid, vmid, entry.iova, TG of entry, entry.level); full → flush everything first. */
  insert(asid: number, vmid: number, entry: TlbEntry): void {
    if (this.count >= IOTLB_MAX_ENTRIES) {
      this.clearAll();
      this.capacityFlushes++;
    }
    const key: IotlbKey = { asid, vmid, iova: entry.iova, tg: tgOf(entry.granuleShift), level: entry.level };
    const b = this.bucket(asid, vmid, key.tg, key.level, true)!;
    this.generation++;
    const old = this.find(b, key.iova);
    if (old) {
      // Replacing keeps the entry's place in insertion order, as Map.set does.
      old.key = key;
      old.entry = entry;
      return;
    }
    const rec: IotlbRecord = { key, entry, seq: this.nextSeq++, bucket: b, slot: -1, oddKey: '' };
    const iova = key.iova;
    if ((iova & b.lowMask) === 0n && BigInt.asUintN(64, iova) === iova) {
      SPLIT64[0] = iova;
      shiftRight(SPLIT32[HI], SPLIT32[LO], b.shift);
      this.placeSlot(b.id, keyHi, keyLo, rec);
    } else {
      rec.oddKey = iova.toString(16);
      (b.odd ??= new Map()).set(rec.oddKey, rec);
    }
    b.count++;
    this.count++;
  }

  private clearAll(): void {
    if (this.count === 0) return;
    this.clearSlots();
    for (const b of this.buckets.values()) {
      b.count = 0;
      b.odd = undefined;
    }
    this.count = 0;
    this.generation++;
  }

  private removeRecord(r: IotlbRecord): void {
    if (r.slot >= 0) {
      this.slotBucket[r.slot] = DELETED;
      this.slotRecord[r.slot] = undefined;
    } else {
      r.bucket.odd!.delete(r.oddKey);
    }
    r.bucket.count--;
    this.count--;
  }

  /** Every live record, in no particular order. */
  private records(): IotlbRecord[] {
    const all: IotlbRecord[] = [];
    for (const i of this.used) {
      const r = this.slotRecord[i];
      if (this.slotBucket[i] >= 0 && r) all.push(r);
    }
    for (const b of this.buckets.values()) if (b.odd) for (const r of b.odd.values()) all.push(r);
    return all;
  }

  /** Remove the entries of buckets `inBucket` accepts that `pred` (if given) accepts. */
  private removeWhere(inBucket: (b: Bucket) => boolean, pred?: (entry: TlbEntry) => boolean): number {
    if (this.count === 0) return 0;
    let n = 0;
    for (const r of this.records()) {
      if (inBucket(r.bucket) && (!pred || pred(r.entry))) {
        this.removeRecord(r);
        n++;
      }
    }
    if (n) this.generation++;
    return n;
  }

  private deleteExact(asid: number, vmid: number, iova: bigint, tg: number, level: number): boolean {
    const b = this.bucket(asid, vmid, tg, level, false);
    const r = b && b.count ? this.find(b, iova) : undefined;
    if (!r) return false;
    this.removeRecord(r);
    this.generation++;
    return true;
  }

  /** TLBI_NSNH_ALL, reset. */
  invalidateAll(): void {
    this.clearAll();
  }

  /** TLBI_NH_ASID: exact ASID and VMID. */
  invalidateAsidVmid(asid: number, vmid: number): number {
    return this.removeWhere((b) => b.asid === asid && b.vmid === vmid);
  }

  /** TLBI_S12_VMALL: every entry of a VMID. */
  invalidateVmid(vmid: number): number {
    return this.removeWhere((b) => b.vmid === vmid);
  }

  /** TLBI_NH_ALL with stage 2: stage-1/nested entries (ASID ≥ 0) of a VMID. */
  invalidateVmidS1(vmid: number): number {
    return this.removeWhere((b) => b.vmid === vmid && b.asid >= 0);
  }

  /**
   * Stage-1 range invalidation of `numPages` pages of TG (4K if TG = 0) at `iova`
   * (smmu_iotlb_inv_iova). ASID/VMID −1 match anything. A single page with a TTL hint first tries
   * the exact key.
   */
  invalidateIova(asid: number, vmid: number, iova: bigint, tg: number, numPages: bigint, ttl: number): number {
    const granule = tg ? tg * 2 + 10 : 12;
    if (ttl && numPages === 1n && asid >= 0) {
      if (this.deleteExact(asid, vmid, iova, tg, ttl)) return 1;
    }
    const mask = ((numPages << BigInt(granule)) - 1n) & U64_MASK;
    return this.removeWhere(
      (b) => (asid < 0 || asid === b.asid) && (vmid < 0 || vmid === b.vmid),
      (e) => rangeHits(e, iova, mask),
    );
  }

  /** Stage-2 range invalidation (smmu_iotlb_inv_ipa): only ASID −1 entries of exactly `vmid`. */
  invalidateIpa(vmid: number, ipa: bigint, tg: number, numPages: bigint, ttl: number): number {
    const granule = tg ? tg * 2 + 10 : 12;
    if (ttl && numPages === 1n) {
      if (this.deleteExact(-1, vmid, ipa, tg, ttl)) return 1;
    }
    const mask = ((numPages << BigInt(granule)) - 1n) & U64_MASK;
    return this.removeWhere(
      (b) => b.asid < 0 && b.vmid === vmid,
      (e) => rangeHits(e, ipa, mask),
    );
  }

  /** Every entry, in insertion order (an overwritten key keeps its place). */
  entries(): Array<{ key: IotlbKey; entry: TlbEntry }> {
    return this.records()
      .sort((x, y) => x.seq - y.seq)
      .map((r) => ({ key: r.key, entry: r.entry }));
  }
}

/** The address lies in the entry, or the entry's base lies in the aligned range. */
function rangeHits(e: TlbEntry, addr: bigint, rangeMask: bigint): boolean {
  return (addr & ~e.addrMask & U64_MASK) === e.iova || (e.iova & ~rangeMask & U64_MASK) === addr;
}

/** Per-StreamID decoded configurations (QEMU keys them by device; one device per StreamID here). */
export class ConfigCache {
  private readonly map = new Map<number, TransCfg>();
  /** Per-StreamID hit/miss counters (QEMU SMMUDevice cfg_cache_hits/misses; never reset). */
  private readonly counters = new Map<number, { hits: number; misses: number }>();

  get size(): number {
    return this.map.size;
  }

  /** Last lookup (StreamID, config, counters), valid while `generation` is unchanged. */
  private generation = 0;
  private lastGeneration = -1;
  private lastSid = -1;
  private lastCfg: TransCfg | undefined = undefined;
  private lastCounters: { hits: number; misses: number } | undefined = undefined;

  /** Look up and count a hit or miss. */
  lookup(sid: number): TransCfg | undefined {
    let cfg: TransCfg | undefined;
    let c: { hits: number; misses: number } | undefined;
    if (sid === this.lastSid && this.lastGeneration === this.generation) {
      cfg = this.lastCfg;
      c = this.lastCounters!;
    } else {
      cfg = this.map.get(sid);
      c = this.counters.get(sid);
      if (!c) {
        c = { hits: 0, misses: 0 };
        this.counters.set(sid, c);
      }
      this.lastSid = sid;
      this.lastCfg = cfg;
      this.lastCounters = c;
      this.lastGeneration = this.generation;
    }
    if (cfg) c.hits++;
    else c.misses++;
    return cfg;
  }

  insert(sid: number, cfg: TransCfg): void {
    this.map.set(sid, cfg);
    this.generation++;
  }

  /** CFGI_STE / CFGI_CD / CFGI_CD_ALL. */
  invalidateSid(sid: number): boolean {
    this.generation++;
    return this.map.delete(sid);
  }

  /** CFGI_STE_RANGE: StreamIDs in [start, end]. */
  invalidateRange(start: number, end: number): number {
    this.generation++;
    let n = 0;
    for (const sid of [...this.map.keys()]) {
      if (sid >= start && sid <= end) {
        this.map.delete(sid);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.generation++;
    this.map.clear();
  }

  entries(): Array<[number, TransCfg]> {
    return [...this.map.entries()];
  }

  counterEntries(): Array<[number, { hits: number; misses: number }]> {
    return [...this.counters.entries()];
  }

  totals(): { hits: number; misses: number } {
    let hits = 0;
    let misses = 0;
    for (const c of this.counters.values()) {
      hits += c.hits;
      misses += c.misses;
    }
    return { hits, misses };
  }
}
