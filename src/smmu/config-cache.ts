/**
 * The SMMU's configuration cache as QEMU 10.2.2 keeps it (smmu-common.c): one decoded STE/CD per
 * StreamID, unbounded, filled only by successful decodes, with the invalidations the CFGI_*
 * commands use and per-StreamID hit/miss counters. Pure data structure.
 */
import type { TransCfg } from './translation-config.js';

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

  /** The hit/miss counters of a StreamID (for trace events). */
  countsOf(sid: number): { hits: number; misses: number } {
    return this.counters.get(sid) ?? { hits: 0, misses: 0 };
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
  invalidateRange(start: number, end: number, onRemoved?: (sid: number) => void): number {
    this.generation++;
    let n = 0;
    for (const sid of [...this.map.keys()]) {
      if (sid >= start && sid <= end) {
        this.map.delete(sid);
        onRemoved?.(sid);
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
