/**
 * VMSAv8-64 stage-1 and stage-2 table walks as pure functions over a descriptor-read callback
 * (QEMU 10.2.2 smmu_ptw_64_s1 / smmu_ptw_64_s2 / select_tt). Produces a TLB entry or a walk fault.
 * Keeps QEMU's quirks: blocks accepted at any level below 3, output bits 51:48 ignored, only AP[2]
 * and S2AP checked (no XN/PXN/UXN, AP[1] ignored), TBI1 reads CD.TBI bit 0, concatenated stage-2
 * tables indexed as QEMU does (the concatenation offset is masked away), and x86 shift semantics
 * for inconsistent S2SL0/S2T0SZ. Nested table-address translation is a callback; see nested.ts.
 */
import { extract64, hostShiftMask, lowMask } from './bits.js';
import type { Perm, PtwFault, PtwFaultKind } from './faults.js';
import { PERM } from './faults.js';
import { concatIndex, levelIndex, levelShift, stage1StartLevel, stage2StartLevel, startTableBits, VMSA_LEVELS } from './granules.js';
import type { GranuleShift } from './granules.js';
import type { S2Cfg, TtInfo } from './translation-config.js';

/** Reads one little-endian 64-bit descriptor; null = external abort. */
export type ReadDescriptor = (pa: bigint) => bigint | null;

/** A translation result as QEMU caches it (SMMUTLBEntry). */
export interface TlbEntry {
  /** Input address aligned down to the entry size. */
  iova: bigint;
  /** Output base address. */
  translatedAddr: bigint;
  /** Entry size − 1 (QEMU addr_mask). */
  addrMask: bigint;
  /** Primary permission: stage 1 for S1/nested entries, S2AP for stage-2 entries. */
  perm: Perm;
  /** Secondary permission: stage 2 for nested entries, else equal to `perm`. */
  parentPerm: Perm;
  level: number;
  granuleShift: GranuleShift;
}

export type WalkResult = { ok: true; entry: TlbEntry } | { ok: false; fault: PtwFault };

/** Stage-1 inputs: both table infos, TBI, output size and AFFD of the CD. */
export interface Stage1Params {
  tt: readonly [TtInfo, TtInfo];
  tbi: number;
  oas: number;
  affd: boolean;
}

/** Translate a stage-1 table address (an IPA) through stage 2; nested mode only. */
export type TranslateTableIpa = (ipa: bigint) => { ok: true; pa: bigint } | { ok: false; fault: PtwFault };

const fault = (kind: PtwFaultKind, stage: 1 | 2, addr = 0n, isIpaDescriptor = false): WalkResult => ({
  ok: false,
  fault: { kind, stage, addr, isIpaDescriptor },
});

const PTE = {
  valid: (pte: bigint) => (pte & 1n) === 1n,
  type: (pte: bigint) => Number(pte & 3n),
  /** AP[2:1] (stage 1) or S2AP (stage 2), bits 7:6. */
  ap: (pte: bigint) => Number(extract64(pte, 6, 2)),
  /** APTable, bits 62:61 (stage-1 table descriptors). */
  apTable: (pte: bigint) => Number(extract64(pte, 61, 2)),
  af: (pte: bigint) => (pte & (1n << 10n)) !== 0n,
  /** Output address bits [47:shift] (QEMU PTE_ADDRESS). */
  address: (pte: bigint, shift: number) => extract64(pte, shift, 47 - shift + 1) << BigInt(shift),
};

type DescriptorKind = 'invalid' | 'table' | 'block' | 'page';

/** Classify a descriptor at `level` (reserved level-3 encodings count as invalid). */
export function descriptorKind(pte: bigint, level: number): DescriptorKind {
  if (!PTE.valid(pte)) return 'invalid';
  const type = PTE.type(pte);
  if (level === 3) return type === 3 ? 'page' : 'invalid';
  return type === 3 ? 'table' : 'block';
}

/**
 * Which stage-1 table serves `iova` (QEMU select_tt), by index, or null for the gap between them.
 * QEMU's TBI1 helper returns CD.TBI bit 0, so bit 0 governs both halves.
 */
export function selectTt(p: Pick<Stage1Params, 'tt' | 'tbi'>, iova: bigint): 0 | 1 | null {
  const tbiByte = (p.tbi & 1) * 8;
  const [tt0, tt1] = p.tt;
  if (tt0.tsz && extract64(iova, 64 - tt0.tsz, tt0.tsz - tbiByte) === 0n) return 0;
  if (tt1.tsz) {
    const width = tt1.tsz - tbiByte;
    if (extract64(iova, 64 - tt1.tsz, width) === lowMask(width)) return 1;
  }
  if (!tt0.tsz) return 0;
  if (!tt1.tsz) return 1;
  return null;
}

/** Stage-1 walk (IOVA → PA or IPA). `write` permission comes from `perm` & WO. */
export function walkStage1(p: Stage1Params, iova: bigint, perm: Perm, read: ReadDescriptor, translateTable?: TranslateTableIpa): WalkResult {
  const sel = selectTt(p, iova);
  const tt = sel === null ? undefined : p.tt[sel];
  if (!tt || tt.disabled || tt.granuleShift === 0) return fault('translation', 1);
  const g = tt.granuleShift;
  const inputBits = 64 - tt.tsz;
  let level = stage1StartLevel(inputBits, g);
  let base = extract64(tt.ttb, 0, p.oas) & ~hostShiftMask(startTableBits(inputBits, g, level));
  const isWrite = (perm & PERM.WO) !== 0;
  while (level < VMSA_LEVELS) {
    const mask = lowMask(levelShift(level, g));
    const pteAddr = base + levelIndex(iova, inputBits, level, g) * 8n;
    const pte = read(pteAddr);
    if (pte === null) return fault('walk-eabt', 1, pteAddr);
    const kind = descriptorKind(pte, level);
    if (kind === 'invalid') break;
    if (kind === 'table') {
      if (isWrite && (PTE.apTable(pte) & 2) !== 0 && !tt.had) return fault('permission', 1);
      base = PTE.address(pte, g);
      if (translateTable) {
        // A stage-2 fault on the table IPA is reported with that IPA, flagged as an IPA descriptor,
        // and (QEMU quirk) attributed to stage 1.
        const t = translateTable(base);
        if (!t.ok) return fault(t.fault.kind, 1, base, true);
        base = t.pa;
      }
      level++;
      continue;
    }
    const out = PTE.address(pte, kind === 'page' ? g : levelShift(level, g));
    if (!PTE.af(pte) && !p.affd) return fault('access', 1);
    const ap = PTE.ap(pte);
    if (isWrite && (ap & 2) !== 0) return fault('permission', 1);
    if (out >= 1n << BigInt(p.oas)) return fault('addr-size', 1);
    const s1perm = PERM.RO | ((ap & 2) === 0 ? PERM.WO : 0);
    return {
      ok: true,
      entry: { iova: iova & ~mask, translatedAddr: out, addrMask: mask, perm: s1perm, parentPerm: s1perm, level, granuleShift: g },
    };
  }
  return fault('translation', 1);
}

/** Stage-2 walk (IPA → PA). Faults other than walk-eabt carry the IPA. */
export function walkStage2(s2: S2Cfg, ipa: bigint, perm: Perm, read: ReadDescriptor): WalkResult {
  const g = s2.granuleShift;
  if (g === 0) return fault('translation', 2, ipa);
  const inputBits = 64 - s2.tsz;
  let level = stage2StartLevel(s2.sl0, g);
  if (ipa >= 1n << BigInt(inputBits)) return fault('translation', 2, ipa);
  // QEMU adds the concatenated-table offset, then clears the start-table index bits, which
  // removes that offset again for real concatenation (IPAs alias onto the first table).
  const stride = BigInt(g - 3);
  let base = extract64(s2.vttb, 0, s2.effPs) + (1n << stride) * concatIndex(level, g, ipa) * 8n;
  base &= ~hostShiftMask(startTableBits(inputBits, g, level));
  while (level < VMSA_LEVELS) {
    const mask = lowMask(levelShift(level, g));
    const pteAddr = base + levelIndex(ipa, inputBits, level, g) * 8n;
    const pte = read(pteAddr);
    if (pte === null) return fault('walk-eabt', 2, pteAddr);
    const kind = descriptorKind(pte, level);
    if (kind === 'invalid') break;
    if (kind === 'table') {
      base = PTE.address(pte, g);
      level++;
      continue;
    }
    const out = PTE.address(pte, kind === 'page' ? g : levelShift(level, g));
    if (!PTE.af(pte) && !s2.affd) return fault('access', 2, ipa);
    const s2ap = PTE.ap(pte);
    if ((s2ap & perm) !== perm) return fault('permission', 2, ipa);
    if (out >= 1n << BigInt(s2.effPs)) return fault('addr-size', 2, ipa);
    return {
      ok: true,
      entry: { iova: ipa & ~mask, translatedAddr: out, addrMask: mask, perm: s2ap, parentPerm: s2ap, level, granuleShift: g },
    };
  }
  return fault('translation', 2, ipa);
}
