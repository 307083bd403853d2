// Over 400 lines: every invalidation form QEMU 10.2.2 has (by ASID, VMID, IOVA range, IPA, all) lives beside the lookup it must match.
/**
 * The SMMU's IOTLB as QEMU 10.2.2 keeps it (smmu-common.c): key ASID, VMID, aligned IOVA, TG,
 * level; 256 entries, flushed whole when full; exactly the invalidation predicates the TLBI_*
 * commands use, plus hit/miss counters. Pure data structure: no memory access, no events. No walk
 * cache, IPA cache or micro-TLB. Aligned keys live in an IovaKeyTable (iova-key-table.ts).
 */
import { U64_MASK } from './bits.js';
import { levelShift, stage1StartLevel } from './granules.js';
import { IovaKeyTable } from './iova-key-table.js';
import type { TlbEntry } from './page-table-walk.js';

/** QEMU SMMU_IOTLB_MAX_SIZE (a quarter of KEY_TABLE_SLOTS, which keeps the table's probes short). */
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
    Number.isInteger(a) &&
    a >= -1 &&
    a < 0x1ffff &&
    Number.isInteger(b) &&
    b >= -1 &&
    b < 0x1ffff &&
    Number.isInteger(c) &&
    c >= 0 &&
    c < 64 &&
    Number.isInteger(d) &&
    d >= -64 &&
    d < 64
  ) {
    return (((a + 1) * 0x20000 + (b + 1)) * 64 + c) * 128 + (d + 64);
  }
  return `${a}/${b}/${c}/${d}`;
}

/**
 * QEMU's IOTLB, exact in content and behaviour (keys, capacity flush, every invalidation). Entries
 * live in an IovaKeyTable keyed by (bucket id, IOVA >> level shift), so a lookup neither builds
 * strings nor allocates; the table's one-entry "last hit" memo, tagged with the lookup plan, sits
 * in front of it and is forgotten on every change of the contents.
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

  /** Aligned keys → records; its memo holds the last hit's TlbEntry under its plan. */
  private readonly table = new IovaKeyTable<IotlbRecord, TlbEntry>();

  private count = 0;
  private nextSeq = 0;

  /** Lookups that hit / missed, over the SMMU's life (QEMU counts per config; see TransCfg). */
  hits = 0;
  misses = 0;
  /** Times the IOTLB was flushed because it was full. */
  capacityFlushes = 0;

  get size(): number {
    return this.count;
  }

  // ------------------------------------------------------------ buckets and plans

  private bucket(asid: number, vmid: number, tg: number, level: number, create: boolean): Bucket | undefined {
    const k = tupleKey(asid, vmid, tg, level);
    let b = this.buckets.get(k);
    if (!b && create) {
      if (this.buckets.size >= MAX_BUCKETS) this.pruneEmptyBuckets();
      const shift = levelShift(level, tg * 2 + 10);
      const s = Number.isInteger(shift) && shift >= 0 && shift < 64 ? shift : 0;
      b = {
        id: this.freeBucketIds.pop() ?? this.nextBucketId++,
        asid,
        vmid,
        tg,
        level,
        shift: s,
        lowMask: (1n << BigInt(s)) - 1n,
        count: 0,
        odd: undefined,
      };
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
    this.table.forget();
  }

  private plan(asid: number, vmid: number, granuleShift: number, tsz: number): LookupPlan {
    const k = tupleKey(asid, vmid, granuleShift, tsz);
    let p = this.plans.get(k);
    if (p) return p;
    if (this.plans.size >= MAX_PLANS) {
      this.plans.clear();
      this.table.forget();
    }
    let buckets: Bucket[] | null = null;
    const start = stage1StartLevel(64 - tsz, granuleShift);
    if (
      (granuleShift === 12 || granuleShift === 14 || granuleShift === 16) &&
      Number.isInteger(start) &&
      start >= 0 &&
      start <= 3
    ) {
      if (this.buckets.size + 4 > MAX_BUCKETS) this.pruneEmptyBuckets();
      buckets = [];
      for (let level = start; level <= 3; level++)
        buckets.push(this.bucket(asid, vmid, tgOf(granuleShift), level, true)!);
    }
    p = { asid, vmid, granuleShift, tsz, buckets };
    this.plans.set(k, p);
    return p;
  }

  /** The record under (bucket, exact IOVA), if any. */
  private find(b: Bucket, iova: bigint): IotlbRecord | undefined {
    if ((iova & b.lowMask) === 0n && BigInt.asUintN(64, iova) === iova) {
      const t = this.table;
      t.keyOf(iova, b.shift);
      const i = t.find(b.id, t.keyHi, t.keyLo);
      return i < 0 ? undefined : t.valueAt(i);
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
      p =
        q !== null && q.asid === asid && q.vmid === vmid && q.granuleShift === granuleShift && q.tsz === tsz
          ? q
          : this.plan(asid, vmid, granuleShift, tsz);
      this.prevPlan = this.lastPlan;
      this.lastPlan = p;
    }
    const buckets = p.buckets;
    if (buckets === null || BigInt.asUintN(64, iova) !== iova)
      return this.lookupGeneric(asid, vmid, granuleShift, tsz, iova);
    if (this.count === 0) return undefined;
    const t = this.table;
    t.split(iova);
    const hi = t.hi;
    const lo = t.lo;
    // Same key at the level that hit, hence at every (coarser) level tried before it: same result.
    const memo = t.recall(p, hi, lo);
    if (memo !== undefined) return memo;
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i];
      if (b.count === 0) continue;
      // The aligned IOVA >> shift is the IOVA >> shift; the odd map never holds aligned keys.
      t.shiftRight(hi, lo, b.shift);
      const slot = t.find(b.id, t.keyHi, t.keyLo);
      if (slot >= 0) {
        const entry = t.valueAt(slot).entry;
        t.remember(p, b.shift, t.keyHi, t.keyLo, entry);
        return entry;
      }
    }
    return undefined;
  }

  /** The lookup written out as QEMU does it, for inputs the plan does not cover. */
  private lookupGeneric(
    asid: number,
    vmid: number,
    granuleShift: number,
    tsz: number,
    iova: bigint,
  ): TlbEntry | undefined {
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
    this.table.forget();
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
      const t = this.table;
      t.keyOf(iova, b.shift);
      t.put(b.id, t.keyHi, t.keyLo, rec);
    } else {
      rec.oddKey = iova.toString(16);
      (b.odd ??= new Map()).set(rec.oddKey, rec);
    }
    b.count++;
    this.count++;
  }

  private clearAll(): void {
    if (this.count === 0) return;
    this.table.clear();
    for (const b of this.buckets.values()) {
      b.count = 0;
      b.odd = undefined;
    }
    this.count = 0;
    this.table.forget();
  }

  private removeRecord(r: IotlbRecord): void {
    if (r.slot >= 0) {
      this.table.removeAt(r.slot);
    } else {
      r.bucket.odd!.delete(r.oddKey);
    }
    r.bucket.count--;
    this.count--;
  }

  /** Every live record, in no particular order. */
  private records(): IotlbRecord[] {
    const all = this.table.values();
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
    if (n) this.table.forget();
    return n;
  }

  private deleteExact(asid: number, vmid: number, iova: bigint, tg: number, level: number): boolean {
    const b = this.bucket(asid, vmid, tg, level, false);
    const r = b && b.count ? this.find(b, iova) : undefined;
    if (!r) return false;
    this.removeRecord(r);
    this.table.forget();
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
