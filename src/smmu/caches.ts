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

const keyString = (k: IotlbKey): string => `${k.asid}/${k.vmid}/${k.iova.toString(16)}/${k.tg}/${k.level}`;

export const tgOf = (granuleShift: number): number => (granuleShift - 10) / 2;

export class Iotlb {
  private readonly map = new Map<string, { key: IotlbKey; entry: TlbEntry }>();
  /** Lookups that hit / missed, over the SMMU's life (QEMU counts per config; see TransCfg). */
  hits = 0;
  misses = 0;
  /** Times the IOTLB was flushed because it was full. */
  capacityFlushes = 0;

  get size(): number {
    return this.map.size;
  }

  /**
   * Try every level from the walk's start level (for `granuleShift` and `tsz`) down to 3, with
   * the IOVA aligned to that level's block size (QEMU smmu_iotlb_lookup_all_levels).
   */
  lookupAllLevels(asid: number, vmid: number, granuleShift: number, tsz: number, iova: bigint): TlbEntry | undefined {
    const tg = tgOf(granuleShift);
    const start = stage1StartLevel(64 - tsz, granuleShift);
    // QEMU holds the level in a uint8_t: a negative start wraps past 3 and nothing is looked up.
    if (start < 0) return undefined;
    for (let level = start; level <= 3; level++) {
      const mask = (1n << BigInt(levelShift(level, granuleShift))) - 1n;
      const hit = this.map.get(keyString({ asid, vmid, iova: iova & ~mask, tg, level }));
      if (hit) return hit.entry;
    }
    return undefined;
  }

  /** Insert under (asid, vmid, entry.iova, TG of entry, entry.level); full → flush everything first. */
  insert(asid: number, vmid: number, entry: TlbEntry): void {
    if (this.map.size >= IOTLB_MAX_ENTRIES) {
      this.map.clear();
      this.capacityFlushes++;
    }
    const key: IotlbKey = { asid, vmid, iova: entry.iova, tg: tgOf(entry.granuleShift), level: entry.level };
    this.map.set(keyString(key), { key, entry });
  }

  private removeWhere(pred: (key: IotlbKey, entry: TlbEntry) => boolean): number {
    let n = 0;
    for (const [k, v] of this.map) {
      if (pred(v.key, v.entry)) {
        this.map.delete(k);
        n++;
      }
    }
    return n;
  }

  /** TLBI_NSNH_ALL, reset. */
  invalidateAll(): void {
    this.map.clear();
  }

  /** TLBI_NH_ASID: exact ASID and VMID. */
  invalidateAsidVmid(asid: number, vmid: number): number {
    return this.removeWhere((k) => k.asid === asid && k.vmid === vmid);
  }

  /** TLBI_S12_VMALL: every entry of a VMID. */
  invalidateVmid(vmid: number): number {
    return this.removeWhere((k) => k.vmid === vmid);
  }

  /** TLBI_NH_ALL with stage 2: stage-1/nested entries (ASID ≥ 0) of a VMID. */
  invalidateVmidS1(vmid: number): number {
    return this.removeWhere((k) => k.vmid === vmid && k.asid >= 0);
  }

  /**
   * Stage-1 range invalidation of `numPages` pages of TG (4K if TG = 0) at `iova`
   * (smmu_iotlb_inv_iova). ASID/VMID −1 match anything. A single page with a TTL hint first tries
   * the exact key.
   */
  invalidateIova(asid: number, vmid: number, iova: bigint, tg: number, numPages: bigint, ttl: number): number {
    const granule = tg ? tg * 2 + 10 : 12;
    if (ttl && numPages === 1n && asid >= 0) {
      if (this.map.delete(keyString({ asid, vmid, iova, tg, level: ttl }))) return 1;
    }
    const mask = ((numPages << BigInt(granule)) - 1n) & U64_MASK;
    return this.removeWhere((k, e) => {
      if (asid >= 0 && asid !== k.asid) return false;
      if (vmid >= 0 && vmid !== k.vmid) return false;
      return rangeHits(e, iova, mask);
    });
  }

  /** Stage-2 range invalidation (smmu_iotlb_inv_ipa): only ASID −1 entries of exactly `vmid`. */
  invalidateIpa(vmid: number, ipa: bigint, tg: number, numPages: bigint, ttl: number): number {
    const granule = tg ? tg * 2 + 10 : 12;
    if (ttl && numPages === 1n) {
      if (this.map.delete(keyString({ asid: -1, vmid, iova: ipa, tg, level: ttl }))) return 1;
    }
    const mask = ((numPages << BigInt(granule)) - 1n) & U64_MASK;
    return this.removeWhere((k, e) => k.asid < 0 && k.vmid === vmid && rangeHits(e, ipa, mask));
  }

  entries(): Array<{ key: IotlbKey; entry: TlbEntry }> {
    return [...this.map.values()];
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

  /** Look up and count a hit or miss. */
  lookup(sid: number): TransCfg | undefined {
    const cfg = this.map.get(sid);
    let c = this.counters.get(sid);
    if (!c) {
      c = { hits: 0, misses: 0 };
      this.counters.set(sid, c);
    }
    if (cfg) c.hits++;
    else c.misses++;
    return cfg;
  }

  insert(sid: number, cfg: TransCfg): void {
    this.map.set(sid, cfg);
  }

  /** CFGI_STE / CFGI_CD / CFGI_CD_ALL. */
  invalidateSid(sid: number): boolean {
    return this.map.delete(sid);
  }

  /** CFGI_STE_RANGE: StreamIDs in [start, end]. */
  invalidateRange(start: number, end: number): number {
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
