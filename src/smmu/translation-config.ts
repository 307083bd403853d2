/**
 * STE + CD → translation configuration (QEMU 10.2.2 smmuv3_decode_config, decode_ste,
 * decode_ste_s2_cfg, decode_cd), with every validity check and the event it raises (C_BAD_STE,
 * C_BAD_CD, F_STE_FETCH, F_CD_FETCH, C_BAD_STREAMID). In nested mode the CD address and TTBx are
 * IPAs; a callback translates them through stage 2 (with the partly built config, as QEMU does).
 * Where QEMU 10.2.2 asserts (S2AA64 = 0, CD.IPS 6/7) this follows the architecture instead
 * (protocol/deviations-smmu.md). Does not model SubstreamIDs, stall, HTTU, AArch32 or big-endian
 * tables.
 */
import { TRACE_OFF } from '../base/trace.js';
import type { Tracer } from '../base/trace.js';
import { TRACE_IDS as T } from '../base/trace-events.js';
import { lowMask } from './bits.js';
import type { EventInfo, FaultClass } from './faults.js';
import {
  CD_TG0_GRANULE,
  CD_TG1_GRANULE,
  levelShift,
  OAS_BITS,
  STE_S2TG_GRANULE,
  stage2StartLevel,
  VMSA_MAX_S2_CONCAT,
} from './granules.js';
import type { GranuleShift } from './granules.js';
import { fetchSte } from './stream-table.js';
import type { ReadBlock, StreamTableConfig } from './stream-table.js';
import { CD_BYTES, decodeCd, decodeSte } from './structures.js';
import type { CdFields, SteFields } from './structures.js';

export type Stage = 's1' | 's2' | 'nested';

/** One stage-1 translation table (QEMU SMMUTransTableInfo). */
export interface TtInfo {
  /** EPDn = 1 (then every other field stays 0). */
  disabled: boolean;
  /** TnSZ; 0 when disabled (matters for TTB selection). */
  tsz: number;
  /** 0 until decoded. */
  granuleShift: GranuleShift | 0;
  /** Table base (already a PA in nested mode). */
  ttb: bigint;
  /** HADn: hierarchical attribute (APTable) disable. */
  had: boolean;
}

/**
 * How a stage-1 walk of a Secure-capable SMMU picks the PA space per level (docs/secure-smmu.md
 * "Walks"). Absent on an SMMU without the Secure interface: every access is Non-secure.
 */
export interface WalkSecurity {
  /** The walk of TTB0/TTB1 starts in Non-secure space (CD NSCFG0/NSCFG1). */
  readonly startNs: readonly [boolean, boolean];
  /**
   * 'rfc': the RFC's rule for every stream (NSTable of a walk that is NS and never went S→NS
   * selects the next level's space; the leaf NS bit selects the output space). 'architectural':
   * a walk in Secure state goes NS on NSTable=1 and stays there, the output is NS when the walk
   * is NS or the leaf's NS bit is set.
   */
  readonly rule: 'rfc' | 'architectural';
}

/** Stage-2 parameters (QEMU SMMUS2Cfg). */
export interface S2Cfg {
  /** S2VMID if the SMMU implements stage 2, else −1 (wildcard). */
  vmid: number;
  granuleShift: GranuleShift | 0;
  vttb: bigint;
  sl0: number;
  /** Effective S2PS in bits (capped by the OAS, and 48 unless 64K). */
  effPs: number;
  tsz: number;
  affd: boolean;
  /** STE.S2R. */
  recordFaults: boolean;
}

/** Decoded STE/CD (QEMU SMMUTransCfg). */
export interface TransCfg {
  aborted: boolean;
  bypassed: boolean;
  /** null only while aborted/bypassed. */
  stage: Stage | null;
  /** CD.ASID, or −1 without a CD. */
  asid: number;
  /** Stage-1 output size in bits (CD.IPS capped; IDR5.OAS for S2-only). */
  oas: number;
  /** CD.TBI (2 bits; QEMU only ever uses bit 0). */
  tbi: number;
  affd: boolean;
  /** CD.R. */
  recordFaults: boolean;
  tt: [TtInfo, TtInfo];
  s2: S2Cfg;
  /** IOTLB hit/miss counters of this configuration (QEMU keeps them in the config). */
  iotlbHits: number;
  iotlbMisses: number;
  /** Per-level PA space choice of stage-1 walks; only on a Secure-capable SMMU. */
  security?: WalkSecurity;
}

/** What the SMMU advertises that decoding depends on (IDR0.S1P/S2P, IDR5.OAS). */
export interface SmmuFeatures {
  s1p: boolean;
  s2p: boolean;
  /** IDR5.OAS field (4 = 44 bits on QEMU 10.2.2). */
  oasField: number;
}

export function newTransCfg(): TransCfg {
  const tt = (): TtInfo => ({ disabled: false, tsz: 0, granuleShift: 0, ttb: 0n, had: false });
  return {
    aborted: false,
    bypassed: false,
    stage: null,
    asid: -1,
    oas: 0,
    tbi: 0,
    affd: false,
    recordFaults: false,
    tt: [tt(), tt()],
    s2: { vmid: 0, granuleShift: 0, vttb: 0n, sl0: 0, effPs: 0, tsz: 0, affd: false, recordFaults: false },
    iotlbHits: 0,
    iotlbMisses: 0,
  };
}

/** Field value → bits, with IPS/PS values QEMU cannot encode (6, 7) taken as the SMMU's OAS. */
export function oasBits(field: number, smmuOasField: number): number {
  return OAS_BITS[field] ?? OAS_BITS[smmuOasField];
}

export type CheckResult = { ok: true } | { ok: false; reason: string };
const bad = (reason: string): CheckResult => ({ ok: false, reason });
const OK: CheckResult = { ok: true };

/** Stage-2 fields of the STE (decode_ste_s2_cfg). Failure means C_BAD_STE. */
export function decodeSteS2(cfg: TransCfg, ste: SteFields, features: SmmuFeatures): CheckResult {
  // QEMU 10.2.2 asserts here (AArch32 stage 2 tables); the architecture makes it C_BAD_STE.
  if (ste.S2AA64 === 0) return bad('S2AA64 = 0 (AArch32 stage 2 tables not supported)');
  const granule = STE_S2TG_GRANULE[ste.S2TG];
  if (granule === null) return bad(`S2TG = ${ste.S2TG} reserved`);
  const s2 = cfg.s2;
  s2.granuleShift = granule;
  s2.vttb = ste.S2TTB;
  s2.sl0 = ste.S2SL0;
  if (s2.sl0 === 3) return bad('S2SL0 = 3 (FEAT_TTST not supported)');
  s2.effPs = OAS_BITS[Math.min(ste.S2PS, features.oasField)];
  if (granule !== 16) s2.effPs = Math.min(s2.effPs, 48);
  if ((s2.vttb & ~lowMask(s2.effPs)) !== 0n) return bad(`S2TTB beyond the effective S2PS (${s2.effPs} bits)`);
  s2.tsz = ste.S2T0SZ;
  if (!s2t0szValid(s2.tsz, granule, s2.effPs)) return bad(`S2T0SZ = ${s2.tsz} out of range`);
  if (!s2TableConfigValid(s2.sl0, s2.tsz, granule)) return bad('S2SL0/S2T0SZ need more than 16 concatenated tables');
  if (ste.S2ENDI) return bad('S2ENDI = 1 (big-endian tables not supported)');
  s2.affd = ste.S2AFFD === 1;
  s2.recordFaults = ste.S2R === 1;
  if (ste.S2S) return bad('S2S = 1 (stall not supported)');
  return OK;
}

/** S2T0SZ limits (QEMU s2t0sz_valid): ≤ 39, and ≥ 64 − PS (and ≥ 16 unless 64K). */
export function s2t0szValid(tsz: number, granule: GranuleShift, effPs: number): boolean {
  if (tsz > 39) return false;
  if (granule === 16) return tsz >= 64 - effPs;
  return tsz >= Math.max(64 - effPs, 16);
}

/** At most 16 concatenated start-level tables for the largest IPA (QEMU s2_pgtable_config_valid). */
export function s2TableConfigValid(sl0: number, tsz: number, granule: GranuleShift): boolean {
  const level = stage2StartLevel(sl0, granule);
  const maxIpa = (1n << BigInt(64 - tsz)) - 1n;
  const count = (maxIpa >> BigInt(levelShift(level - 1, granule))) + 1n;
  return count <= BigInt(VMSA_MAX_S2_CONCAT);
}

/** STE checks and decode (decode_ste). Failure means C_BAD_STE. */
export function decodeSteConfig(cfg: TransCfg, ste: SteFields, features: SmmuFeatures): CheckResult {
  if (!ste.V) return bad('STE.V = 0');
  const config = ste.Config;
  if (!(config & 4)) {
    cfg.aborted = true; // Config 0–3 all abort in QEMU (1–3 are architecturally illegal)
    return OK;
  }
  if (config === 4) {
    cfg.bypassed = true;
    return OK;
  }
  const s1 = (config & 1) !== 0;
  const s2 = (config & 2) !== 0;
  cfg.stage = s1 && s2 ? 'nested' : s1 ? 's1' : 's2';
  if (!features.s1p && s1) return bad('stage 1 requested but not implemented');
  if (!features.s2p && s2) return bad('stage 2 requested but not implemented');
  cfg.s2.vmid = features.s2p ? ste.S2VMID : -1;
  if (s2) {
    cfg.oas = OAS_BITS[features.oasField];
    const r = decodeSteS2(cfg, ste, features);
    if (!r.ok) return r;
  }
  if (ste.S1CDMax !== 0) return bad('S1CDMax ≠ 0 (substreams not supported)');
  if (ste.S1STALLD) return bad('S1STALLD = 1 (stall not supported)');
  return OK;
}

/** Translate a CD or TTB IPA through stage 2 (nested); a failure carries the event to record, if any. */
export type TranslateIpa = (
  cfg: TransCfg,
  ipa: bigint,
  cls: FaultClass,
) => { ok: true; pa: bigint } | { ok: false; event: EventInfo | null };

export type CdDecodeResult = { ok: true } | { ok: false; event: EventInfo | null; reason: string };

/** CD checks and decode (decode_cd). Check failures are C_BAD_CD; TTB translation faults pass through. */
export function decodeCdConfig(
  cfg: TransCfg,
  cd: CdFields,
  features: SmmuFeatures,
  translateIpa?: TranslateIpa,
  tr: Tracer = TRACE_OFF,
): CdDecodeResult {
  const badCd = (reason: string): CdDecodeResult => ({ ok: false, event: { type: 'C_BAD_CD' }, reason });
  if (!cd.V || !cd.AA64) return badCd(!cd.V ? 'CD.V = 0' : 'CD.AA64 = 0');
  if (!cd.A) return badCd('CD.A = 0 (terminate model requires abort)');
  if (cd.S) return badCd('CD.S = 1 (stall not supported)');
  if (cd.HA || cd.HD) return badCd('CD.HA/HD set (HTTU not supported)');
  // QEMU 10.2.2 asserts for IPS 6/7; oasBits maps them to the OAS, which the min below keeps.
  cfg.oas = Math.min(OAS_BITS[features.oasField], oasBits(cd.IPS, features.oasField));
  cfg.tbi = cd.TBI;
  cfg.asid = cd.ASID;
  cfg.affd = cd.AFFD === 1;
  if (tr.on[T.smmuv3_decode_cd]) tr.emit(T.smmuv3_decode_cd, cfg.oas);
  for (const i of [0, 1] as const) {
    const tt = cfg.tt[i];
    tt.disabled = (i === 0 ? cd.EPD0 : cd.EPD1) === 1;
    if (tt.disabled) continue;
    const tsz = i === 0 ? cd.T0SZ : cd.T1SZ;
    if (tsz < 16 || tsz > 39) return badCd(`T${i}SZ = ${tsz} out of 16..39`);
    const granule = (i === 0 ? CD_TG0_GRANULE[cd.TG0] : CD_TG1_GRANULE[cd.TG1]) ?? 0;
    if (granule === 0 || cd.ENDI) return badCd(granule === 0 ? `TG${i} reserved` : 'CD.ENDI = 1');
    tt.granuleShift = granule;
    if (granule !== 16) cfg.oas = Math.min(cfg.oas, 48);
    tt.tsz = tsz;
    tt.ttb = i === 0 ? cd.TTB0 : cd.TTB1;
    if ((tt.ttb & ~lowMask(cfg.oas)) !== 0n) return badCd(`TTB${i} beyond the output size (${cfg.oas} bits)`);
    if (cfg.stage === 'nested' && translateIpa) {
      const r = translateIpa(cfg, tt.ttb, 'TT');
      if (!r.ok) return { ok: false, event: r.event, reason: `stage 2 fault translating TTB${i}` };
      tt.ttb = r.pa;
    }
    tt.had = (i === 0 ? cd.HAD0 : cd.HAD1) === 1;
    if (tr.on[T.smmuv3_decode_cd_tt]) tr.emit(T.smmuv3_decode_cd_tt, i, tt.tsz, tt.ttb, tt.granuleShift, tt.had);
  }
  cfg.recordFaults = cd.R === 1;
  return { ok: true };
}

/** Everything the decoder needs from the SMMU. */
export interface ConfigDecodeDeps {
  features: SmmuFeatures;
  strtab: StreamTableConfig;
  read: ReadBlock;
  /** Nested mode: CD address and TTBx through stage 2. */
  translateIpa: TranslateIpa;
  /**
   * Only on an SMMU with the Secure interface (docs/secure-smmu.md): the stream's security state
   * and the walk rule. A Secure stream with stage 2 is C_BAD_STE (S_IDR1.SEL2 = 0).
   */
  security?: { secure: boolean; rule: WalkSecurity['rule'] };
  /** smmuv3_find_ste, _get_ste, _get_cd, _decode_cd, _decode_cd_tt; default: off. */
  trace?: Tracer;
}

/** The intermediate results, for introspection. */
export interface ConfigDecodeTrace {
  steAddr?: bigint;
  ste?: SteFields;
  cdIpa?: bigint;
  cdAddr?: bigint;
  cd?: CdFields;
}

export type ConfigDecodeResult =
  | { ok: true; cfg: TransCfg; trace: ConfigDecodeTrace }
  | { ok: false; event: EventInfo | null; reason: string; trace: ConfigDecodeTrace; cfg: TransCfg };

/** StreamID → configuration (smmuv3_decode_config), SSID 0 only. */
export function decodeConfig(sid: number, deps: ConfigDecodeDeps): ConfigDecodeResult {
  const cfg = newTransCfg();
  const trace: ConfigDecodeTrace = {};
  const fail = (event: EventInfo | null, reason: string): ConfigDecodeResult => ({
    ok: false,
    event,
    reason,
    trace,
    cfg,
  });

  const tr = deps.trace ?? TRACE_OFF;
  const st = deps.strtab;
  if (tr.on[T.smmuv3_find_ste]) tr.emit(T.smmuv3_find_ste, sid, st.twoLevel ? 1 : 0, st.twoLevel ? st.split : 0);
  const steFetch = fetchSte(deps.strtab, sid, deps.read);
  const l1 = 'l1' in steFetch ? steFetch.l1 : undefined;
  if (l1 && tr.on[T.smmuv3_find_ste_2lvl])
    tr.emit(T.smmuv3_find_ste_2lvl, st.base, l1.l1Addr, l1.l1Index, l1.l2Ptr, l1.l2Index, l1.maxL2);
  const steRead = steFetch.ok || (steFetch.event === 'F_STE_FETCH' && steFetch.ste === true);
  const steAt = steFetch.ok ? steFetch.steAddr : steFetch.event === 'F_STE_FETCH' ? steFetch.fetchAddr : 0n;
  if (steRead && tr.on[T.smmuv3_get_ste]) tr.emit(T.smmuv3_get_ste, steAt);
  if (!steFetch.ok) {
    if (steFetch.event === 'F_STE_FETCH')
      return fail({ type: 'F_STE_FETCH', fetchAddr: steFetch.fetchAddr }, 'STE fetch failed');
    return fail(
      { type: steFetch.event },
      steFetch.event === 'C_BAD_STREAMID' ? 'StreamID out of range or L1STD.Span = 0' : 'L2 index beyond L1STD.Span',
    );
  }
  trace.steAddr = steFetch.steAddr;
  const ste = decodeSte(steFetch.bytes);
  trace.ste = ste;
  const steCheck = decodeSteConfig(cfg, ste, deps.features);
  if (!steCheck.ok) return fail({ type: 'C_BAD_STE' }, steCheck.reason);
  const sec = deps.security;
  if (sec?.secure && (cfg.stage === 's2' || cfg.stage === 'nested'))
    return fail({ type: 'C_BAD_STE' }, 'Secure stream with stage 2 (S_IDR1.SEL2 = 0)');
  if (cfg.aborted || cfg.bypassed || cfg.stage === 's2') return { ok: true, cfg, trace };

  let cdAddr = ste.S1ContextPtr;
  if (tr.on[T.smmuv3_get_cd]) tr.emit(T.smmuv3_get_cd, cdAddr);
  trace.cdIpa = cdAddr;
  if (cfg.stage === 'nested') {
    const r = deps.translateIpa(cfg, cdAddr, 'CD');
    if (!r.ok) return fail(r.event, 'stage 2 fault translating the CD address');
    cdAddr = r.pa;
  }
  trace.cdAddr = cdAddr;
  const cdBytes = deps.read(cdAddr, CD_BYTES);
  if (!cdBytes) return fail({ type: 'F_CD_FETCH', fetchAddr: cdAddr }, 'CD fetch failed');
  const cd = decodeCd(cdBytes);
  trace.cd = cd;
  const cdCheck = decodeCdConfig(cfg, cd, deps.features, deps.translateIpa, tr);
  if (!cdCheck.ok) return fail(cdCheck.event, cdCheck.reason);
  if (sec) {
    const honour = sec.secure || sec.rule === 'rfc';
    cfg.security = {
      startNs: honour ? [cd.NSCFG0 === 1, cd.NSCFG1 === 1] : [true, true],
      rule: sec.rule,
    };
  }
  return { ok: true, cfg, trace };
}
