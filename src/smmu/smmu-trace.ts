/**
 * The SMMU's trace points that need state across a translation (protocol/trace.md): the names of
 * the per-function IOMMU regions (smmu_add_mr: `smmuv3-iommu-memory-region-<devfn>-<n>`, n counting
 * every region created), the status of the last translation for its smmuv3_translate_* event
 * (QEMU SMMUTranslationStatus), and the config-cache hit/miss events with their counters.
 */
import type { Tracer } from '../base/trace.js';
import { TRACE_IDS as T } from '../base/trace-events.js';
import type { IommuResult } from '../memory/dma-view.js';
import type { ConfigCache } from './config-cache.js';
import type { Stage } from './translation-config.js';

export type TranslationStatus = 'disable' | 'bypass' | 'abort' | 'error' | 'success';

const STAGE_NUMBER: Record<Stage, number> = { s1: 1, s2: 2, nested: 3 };

export class SmmuTrace {
  /** Names of the per-function IOMMU regions, by requester ID when added. */
  private readonly mrNames = new Map<number, string>();
  status: TranslationStatus = 'error';
  perm = 0;
  stage = 0;

  constructor(readonly tr: Tracer) {}

  hasDevice(sid: number): boolean {
    return this.mrNames.has(sid);
  }

  deviceAdded(requesterId: number, devfn: number): void {
    const name = `smmuv3-iommu-memory-region-${devfn}-${this.mrNames.size}`;
    this.mrNames.set(requesterId, name);
    if (this.tr.on[T.smmu_add_mr]) this.tr.emit(T.smmu_add_mr, name);
  }

  /** Record the status of a translation that ends with `r`. */
  set(status: TranslationStatus, r: IommuResult): IommuResult {
    this.status = status;
    return r;
  }

  success(perm: number, stage: Stage | null): void {
    this.status = 'success';
    this.perm = perm;
    this.stage = stage ? STAGE_NUMBER[stage] : 0;
  }

  /** smmuv3_translate_*: the status set during the translation (an error prints nothing). */
  outcome(sid: number, iova: bigint, r: IommuResult): void {
    const tr = this.tr;
    const name = this.mrNames.get(sid) ?? `smmuv3-iommu-memory-region-${sid & 0xff}-?`;
    const s = this.status;
    if (s === 'success' && r.ok && tr.on[T.smmuv3_translate_success])
      tr.emit(T.smmuv3_translate_success, name, sid, iova, r.pa, this.perm, this.stage);
    else if (s === 'disable' && tr.on[T.smmuv3_translate_disable])
      tr.emit(T.smmuv3_translate_disable, name, sid, iova, 1);
    else if (s === 'bypass' && tr.on[T.smmuv3_translate_bypass]) tr.emit(T.smmuv3_translate_bypass, name, sid, iova, 1);
    else if (s === 'abort' && tr.on[T.smmuv3_translate_abort]) tr.emit(T.smmuv3_translate_abort, name, sid, iova, 0);
  }

  configLookup(cache: ConfigCache, sid: number, hit: boolean): void {
    const id = hit ? T.smmuv3_config_cache_hit : T.smmuv3_config_cache_miss;
    if (!this.tr.on[id]) return;
    const c = cache.countsOf(sid);
    this.tr.emit(id, sid, c.hits, c.misses, Math.floor((100 * c.hits) / (c.hits + c.misses)));
  }
}
