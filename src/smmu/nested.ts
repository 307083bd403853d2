/**
 * Composition of the stages for one input address (QEMU 10.2.2 smmu_ptw + combine_tlb): stage 1
 * only, stage 2 only (with the stage-1 input-size check QEMU reports as a stage-1 F_ADDR_SIZE),
 * or nested, where every stage-1 table address goes through stage 2 (callback) and the stage-1
 * output is then walked through stage 2 with the real access. The combined entry takes the
 * smaller page, keeps the stage-1 permission as primary and the stage-2 permission as secondary.
 * Pure over its callbacks; caching is translation.ts's job.
 */
import { PERM } from './faults.js';
import type { Perm } from './faults.js';
import { walkStage1, walkStage2 } from './page-table-walk.js';
import type { ReadDescriptor, TlbEntry, TranslateTableIpa, WalkObserver, WalkResult } from './page-table-walk.js';
import type { Stage, TransCfg } from './translation-config.js';

/** Merge a stage-1 and a stage-2 entry for `iova` (QEMU combine_tlb). */
export function combineEntries(s1: TlbEntry, s2: TlbEntry, iova: bigint): TlbEntry {
  const useS2Size = s2.addrMask < s1.addrMask;
  const addrMask = useS2Size ? s2.addrMask : s1.addrMask;
  return {
    iova: iova & ~addrMask,
    translatedAddr: s2.translatedAddr + (s1.translatedAddr & s2.addrMask),
    addrMask,
    perm: s1.perm,
    parentPerm: s2.perm,
    level: useS2Size ? s2.level : s1.level,
    granuleShift: useS2Size ? s2.granuleShift : s1.granuleShift,
  };
}

/** Output address of `addr` inside an entry (QEMU CACHED_ENTRY_TO_ADDR). */
export function entryOutput(entry: TlbEntry, addr: bigint): bigint {
  return entry.translatedAddr + (addr & entry.addrMask);
}

/**
 * Walk `addr` under `stage` (which may differ from cfg.stage when QEMU translates a CD/TT IPA
 * "as stage 2"). `translateTable` is used for stage-1 table addresses in nested mode.
 */
export function walkForStage(
  stage: Stage,
  cfg: TransCfg,
  addr: bigint,
  perm: Perm,
  read: ReadDescriptor,
  translateTable?: TranslateTableIpa,
  obs?: WalkObserver,
): WalkResult {
  if (stage === 's1') return walkStage1(cfg, addr, perm, read, undefined, obs);
  if (stage === 's2') {
    // Stage 1 bypassed: the input must fit the IAS (= OAS for AArch64), else a stage-1 fault.
    if (addr >= 1n << BigInt(cfg.oas))
      return { ok: false, fault: { kind: 'addr-size', stage: 1, addr: 0n, isIpaDescriptor: false } };
    return walkStage2(cfg.s2, addr, perm, read, obs);
  }
  const s1 = walkStage1(cfg, addr, perm, read, translateTable, obs);
  if (!s1.ok) return s1;
  // Stage 2 is Non-secure only (S_IDR1.SEL2 = 0): a Secure stage-1 output cannot go on.
  if (s1.entry.secureOut)
    return { ok: false, fault: { kind: 'translation', stage: 1, addr: 0n, isIpaDescriptor: false } };
  const s2 = walkStage2(cfg.s2, entryOutput(s1.entry, addr), perm, read, obs);
  if (!s2.ok) return s2;
  return { ok: true, entry: combineEntries(s1.entry, s2.entry, addr) };
}

/** Permission needed for an access. */
export const accessPerm = (isWrite: boolean): Perm => (isWrite ? PERM.WO : PERM.RO);
