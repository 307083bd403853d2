/**
 * One address through a decoded configuration, IOTLB first (QEMU 10.2.2 smmu_translate), and the
 * mapping of a walk fault to the event QEMU records (smmuv3_do_translate): F_WALK_EABT always,
 * the other four only when R of the faulting stage is set (CD.R or STE.S2R), with CLASS and the
 * S2 bit as QEMU derives them. CD/TT IPAs are translated "as stage 2 with ASID −1" and cached like
 * any entry. Stateful only through the IOTLB and the config's counters it is given.
 */
import type { Tracer } from '../base/trace.js';
import { TRACE_IDS as T } from '../base/trace-events.js';
import { IOTLB_MAX_ENTRIES } from './iotlb.js';
import type { Iotlb } from './iotlb.js';
import { PERM, PTW_FAULT_EVENT } from './faults.js';
import type { EventInfo, FaultClass, Perm, PtwFault } from './faults.js';
import { walkForStage } from './nested.js';
import { selectTt } from './page-table-walk.js';
import type { ReadDescriptor, TlbEntry, WalkObserver, WalkResult } from './page-table-walk.js';
import type { Stage, TransCfg } from './translation-config.js';
import { walkTraced, walkTraceObserver } from './walk-trace.js';

export interface TranslationContext {
  iotlb: Iotlb;
  read: ReadDescriptor;
  /** smmu_iotlb_lookup_hit/miss, smmu_iotlb_insert (and its flush); default: off. */
  trace?: Tracer;
  /**
   * A dry run (src/smmu/dry-run.ts): counters untouched, inserts go to `scratch` (looked up after
   * the real IOTLB, so a later lookup of the same translation still hits as it would), and the
   * observer sees every lookup, walk and descriptor.
   */
  dryRun?: { scratch: Iotlb; observer: TranslationObserver };
}

/** What a dry run sees of the cache layer, on top of the walks. */
export interface TranslationObserver extends WalkObserver {
  /** An IOTLB lookup and its hit (`from` says which cache: the IOTLB or an insert of this run). */
  lookup(l: {
    stage: Stage;
    asid: number;
    vmid: number;
    addr: bigint;
    perm: Perm;
    hit?: TlbEntry;
    from?: 'iotlb' | 'this-run';
  }): void;
  /** The entry a walk would insert. */
  insert(asid: number, vmid: number, entry: TlbEntry): void;
  /** The lookup's outcome (closes what `lookup` opened). */
  done(r: WalkResult): void;
}

/** The stage and ASID a translation runs under (QEMU temporarily rewrites cfg for CD/TT IPAs). */
export interface StageView {
  stage: Stage;
  asid: number;
}

export const DESCRIPTOR_VIEW: StageView = Object.freeze({ stage: 's2', asid: -1 });

const fail = (f: PtwFault): WalkResult => ({ ok: false, fault: f });

/** IOTLB lookup then walk then insert (QEMU smmu_translate). */
export function cachedTranslate(
  ctx: TranslationContext,
  cfg: TransCfg,
  view: StageView,
  addr: bigint,
  perm: Perm,
): WalkResult {
  return cachedTranslateAs(ctx, cfg, view.stage, view.asid, addr, perm);
}

/** cachedTranslate with the view's two fields passed separately (no view object per call). */
function cachedTranslateAs(
  ctx: TranslationContext,
  cfg: TransCfg,
  stage: Stage,
  asid: number,
  addr: bigint,
  perm: Perm,
): WalkResult {
  const dry = ctx.dryRun;
  if (!dry) return cachedTranslateIn(ctx, cfg, stage, asid, addr, perm);
  // The observer's lookup is announced by cachedTranslateIn; done() closes it whatever happened.
  const r = cachedTranslateIn(ctx, cfg, stage, asid, addr, perm);
  dry.observer.done(r);
  return r;
}

function cachedTranslateIn(
  ctx: TranslationContext,
  cfg: TransCfg,
  stage: Stage,
  asid: number,
  addr: bigint,
  perm: Perm,
): WalkResult {
  const dry = ctx.dryRun;
  let granule: number;
  let tsz: number;
  if (stage === 's2') {
    granule = cfg.s2.granuleShift;
    tsz = cfg.s2.tsz;
  } else {
    const sel = selectTt(cfg, addr);
    if (sel === null) {
      dry?.observer.lookup({ stage, asid, vmid: cfg.s2.vmid, addr, perm });
      return fail({ kind: 'translation', stage: 1, addr: 0n, isIpaDescriptor: false });
    }
    granule = cfg.tt[sel].granuleShift;
    tsz = cfg.tt[sel].tsz;
  }
  let entry: TlbEntry | undefined;
  if (!dry) entry = lookup(ctx, cfg, stage, asid, granule, tsz, addr);
  else {
    entry = peek(ctx.iotlb, cfg, stage, asid, granule, tsz, addr);
    let from: 'iotlb' | 'this-run' | undefined = entry && 'iotlb';
    if (!entry) {
      entry = peek(dry.scratch, cfg, stage, asid, granule, tsz, addr);
      if (entry) from = 'this-run';
    }
    dry.observer.lookup({ stage, asid, vmid: cfg.s2.vmid, addr, perm, hit: entry, from });
  }
  if (entry) {
    if ((perm & PERM.WO) !== 0 && (entry.perm & entry.parentPerm & PERM.WO) === 0) {
      return fail({
        kind: 'permission',
        stage: (entry.perm & PERM.WO) === 0 ? 1 : 2,
        addr: 0n,
        isIpaDescriptor: false,
      });
    }
    return { ok: true, entry };
  }
  const translateTable = (ipa: bigint) => {
    const r = cachedTranslate(ctx, cfg, DESCRIPTOR_VIEW, ipa, PERM.RO);
    return r.ok ? { ok: true as const, pa: r.entry.translatedAddr + (ipa & r.entry.addrMask) } : r;
  };
  // A dry run's observer, else (tracing a walk event only) one printing the walk's trace events.
  const tr = ctx.trace;
  const obs = dry
    ? dry.observer
    : tr?.any && walkTraced(tr)
      ? walkTraceObserver(tr, stage === 'nested' ? 3 : 1)
      : undefined;
  const walked = walkForStage(stage, cfg, addr, perm, ctx.read, translateTable, obs);
  if (walked.ok) {
    if (!dry) {
      if (ctx.trace?.any) traceInsert(ctx, asid, cfg.s2.vmid, walked.entry);
      ctx.iotlb.insert(asid, cfg.s2.vmid, walked.entry);
    } else {
      dry.scratch.insert(asid, cfg.s2.vmid, walked.entry);
      dry.observer.insert(asid, cfg.s2.vmid, walked.entry);
    }
  }
  return walked;
}

/** lookup without counting (dry runs). */
function peek(
  iotlb: Iotlb,
  cfg: TransCfg,
  stage: Stage,
  asid: number,
  granule: number,
  tsz: number,
  addr: bigint,
): TlbEntry | undefined {
  let entry: TlbEntry | undefined;
  if (granule !== 0) entry = iotlb.lookupAllLevels(asid, cfg.s2.vmid, granule, tsz, addr);
  if (!entry && stage === 'nested' && cfg.s2.granuleShift !== granule)
    entry = iotlb.lookupAllLevels(asid, cfg.s2.vmid, cfg.s2.granuleShift, tsz, addr);
  return entry;
}

/** QEMU smmu_iotlb_lookup: all levels, then (nested) again with the stage-2 granule. */
function lookup(
  ctx: TranslationContext,
  cfg: TransCfg,
  stage: Stage,
  asid: number,
  granule: number,
  tsz: number,
  addr: bigint,
): TlbEntry | undefined {
  let entry: TlbEntry | undefined;
  if (granule !== 0) entry = ctx.iotlb.lookupAllLevels(asid, cfg.s2.vmid, granule, tsz, addr);
  if (!entry && stage === 'nested' && cfg.s2.granuleShift !== granule) {
    entry = ctx.iotlb.lookupAllLevels(asid, cfg.s2.vmid, cfg.s2.granuleShift, tsz, addr);
  }
  if (entry) {
    cfg.iotlbHits++;
    ctx.iotlb.hits++;
  } else {
    cfg.iotlbMisses++;
    ctx.iotlb.misses++;
  }
  if (ctx.trace?.any) traceLookup(ctx.trace, entry !== undefined, asid, cfg, addr);
  return entry;
}

function traceLookup(tr: Tracer, hit: boolean, asid: number, cfg: TransCfg, addr: bigint): void {
  const id = hit ? T.smmu_iotlb_lookup_hit : T.smmu_iotlb_lookup_miss;
  const [h, m] = [cfg.iotlbHits, cfg.iotlbMisses];
  if (tr.on[id]) tr.emit(id, asid, cfg.s2.vmid, addr, h, m, Math.floor((100 * h) / (h + m)));
}

function traceInsert(ctx: TranslationContext, asid: number, vmid: number, e: TlbEntry): void {
  const tr = ctx.trace!;
  if (ctx.iotlb.size >= IOTLB_MAX_ENTRIES && tr.on[T.smmu_iotlb_inv_all]) tr.emit(T.smmu_iotlb_inv_all);
  if (tr.on[T.smmu_iotlb_insert]) tr.emit(T.smmu_iotlb_insert, asid, vmid, e.iova, (e.granuleShift - 10) / 2, e.level);
}

export type DoTranslateResult = { ok: true; entry: TlbEntry } | { ok: false; event: EventInfo | null; fault: PtwFault };

/** Whether a fault of this stage is recorded (QEMU PTW_RECORD_FAULT). */
export function recordsFault(cfg: TransCfg, stage: 1 | 2): boolean {
  return stage === 1 ? cfg.recordFaults : cfg.s2.recordFaults;
}

/**
 * Translate `addr` for class IN (a transaction), CD or TT (a descriptor IPA, nested only) and turn
 * a failure into the event to record (null when R says not to). InputAddr is left 0 here; the
 * frontend fills it with the transaction IOVA for all five walk event types.
 */
export function doTranslate(
  ctx: TranslationContext,
  cfg: TransCfg,
  addr: bigint,
  perm: Perm,
  cls: FaultClass,
): DoTranslateResult {
  const r =
    cls === 'IN' && cfg.stage
      ? cachedTranslateAs(ctx, cfg, cfg.stage, cfg.asid, addr, perm)
      : cachedTranslateAs(ctx, cfg, 's2', -1, addr, perm);
  if (r.ok) return r;
  const f = r.fault;
  const s2 = f.stage === 2;
  const faultCls: FaultClass = f.isIpaDescriptor ? 'TT' : cls;
  const rnw = (perm & 1) === 1;
  const type = PTW_FAULT_EVENT[f.kind];
  if (f.kind === 'walk-eabt') {
    return { ok: false, fault: f, event: { type, s2, cls: s2 ? faultCls : 'TT', rnw, inputAddr: 0n, addr2: f.addr } };
  }
  if (!recordsFault(cfg, f.stage)) return { ok: false, fault: f, event: null };
  return { ok: false, fault: f, event: { type, s2, cls: faultCls, rnw, inputAddr: 0n, addr2: f.addr } };
}
