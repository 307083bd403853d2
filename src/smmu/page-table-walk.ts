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
import { levelShift, stage1StartLevel, stage2StartLevel, startTableBits, VMSA_LEVELS } from './granules.js';
import type { GranuleShift } from './granules.js';
import type { S2Cfg, TtInfo, WalkSecurity } from './translation-config.js';

export type { WalkSecurity } from './translation-config.js';

/**
 * Reads one little-endian 64-bit descriptor; null = external abort. `ns` is given only by walks
 * of a Secure-capable SMMU (docs/secure-smmu.md "Walks"): false reads the Secure view.
 */
export type ReadDescriptor = (pa: bigint, ns?: boolean) => bigint | null;

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
  /** Set only when the output is in the Secure PA space (Secure-capable SMMU). */
  secureOut?: true;
}

export type WalkResult = { ok: true; entry: TlbEntry } | { ok: false; fault: PtwFault };

/**
 * Watches a walk without changing it (dry runs, src/smmu/dry-run.ts): one `walk` call when a
 * stage's walk starts, one `descriptor` call per descriptor read (null: external abort). Absent
 * on the DMA path, where the walks only test for it once per level.
 */
export interface WalkObserver {
  walk(w: WalkStart): void;
  descriptor(d: WalkDescriptor): void;
}

/** A stage's walk starting (WalkObserver.walk). */
export interface WalkStart {
  stage: 1 | 2;
  input: bigint;
  granuleShift: number;
  inputBits: number;
  startLevel: number;
  tt?: 0 | 1;
}

/** One descriptor read by a walk (WalkObserver.descriptor); `pte` null: external abort. */
export interface WalkDescriptor {
  stage: 1 | 2;
  level: number;
  tableBase: bigint;
  index: number;
  pteAddr: bigint;
  pte: bigint | null;
}

/** Stage-1 inputs: both table infos, TBI, output size and AFFD of the CD. */
export interface Stage1Params {
  tt: readonly [TtInfo, TtInfo];
  tbi: number;
  oas: number;
  affd: boolean;
  security?: WalkSecurity;
}

const NS_TABLE = 1n << 63n;
const NS_LEAF = 1n << 5n;

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
  const tt0 = p.tt[0];
  const tt1 = p.tt[1];
  if (tt0.tsz) {
    // extract64(iova, 64 − tsz, tsz − tbiByte) === 0, as one AND with a cached mask when the
    // field lies inside bits 0..63 (always, for a decoded CD); m < 2^64, so asUintN changes
    // nothing but lets V8 do the AND in 64-bit integers.
    const m = regionMask(tt0.tsz, tbiByte);
    if (m !== undefined ? BigInt.asUintN(64, iova & m) === 0n : extract64(iova, 64 - tt0.tsz, tt0.tsz - tbiByte) === 0n)
      return 0;
  }
  if (tt1.tsz) {
    const m = regionMask(tt1.tsz, tbiByte);
    if (m !== undefined) {
      if (BigInt.asUintN(64, iova & m) === m) return 1;
    } else {
      const width = tt1.tsz - tbiByte;
      if (extract64(iova, 64 - tt1.tsz, width) === lowMask(width)) return 1;
    }
  }
  if (!tt0.tsz) return 0;
  if (!tt1.tsz) return 1;
  return null;
}

/** Masks of bits [64 − tsz, 64 − tbiByte), by tsz × 2 + (tbiByte ? 1 : 0). */
const REGION_MASKS: Array<bigint | undefined> = [];

/** The mask of bits [64 − tsz, 64 − tbiByte), or undefined when tsz is outside tbiByte..64. */
function regionMask(tsz: number, tbiByte: number): bigint | undefined {
  if (!Number.isInteger(tsz) || tsz < tbiByte || tsz > 64) return undefined;
  const i = tsz * 2 + (tbiByte ? 1 : 0);
  let m = REGION_MASKS[i];
  if (m === undefined) {
    m = lowMask(tsz - tbiByte) << BigInt(64 - tsz);
    REGION_MASKS[i] = m;
  }
  return m;
}

/**
 * Per-level constants of a walk, precomputed with the same helpers the walk formulas use
 * (lowMask, levelShift, …), so the walk itself only ANDs, shifts and adds:
 *   index × 8 = ((addr & lowMask(inputBits)) >> (shift − 3)) & (lowMask(stride) << 3)
 *   PTE.address(pte, shift) = pte & (lowMask(48 − shift) << shift)
 * (bit identities that hold for every bigint; shift ≥ 12 here).
 */
interface WalkLevel {
  readonly level: number;
  /** lowMask(levelShift(level)): the entry's addrMask. */
  readonly mask: bigint;
  readonly notMask: bigint;
  readonly indexShift: bigint;
  readonly indexMask8: bigint;
  /** Output-address mask of a block/page descriptor at this level. */
  readonly outMask: bigint;
}

interface WalkGeometry {
  /** lowMask(inputBits). */
  readonly inputMask: bigint;
  /** 1 << inputBits (stage-2 IPA limit). */
  readonly inputLimit: bigint;
  /** ~hostShiftMask(startTableBits(inputBits, g, start)). */
  readonly startAlign: bigint;
  /** Output-address mask of a table descriptor (PTE.address(pte, g)). */
  readonly tableMask: bigint;
  /** Stage 2: levelShift(start − 1) and (1 << stride) × 8, for the concatenated-table offset. */
  readonly concatShift: bigint;
  readonly concatScale: bigint;
  /** Levels start..3 (empty when start > 3). */
  readonly levels: readonly WalkLevel[];
}

const outAddressMask = (shift: number): bigint => lowMask(48 - shift) << BigInt(shift);

const GEOMETRIES = new Map<number, WalkGeometry>();

/** Walk constants for granule `g`, `inputBits` and start level `start` (cached for sane values). */
function walkGeometry(g: GranuleShift, inputBits: number, start: number): WalkGeometry {
  const cacheable =
    Number.isInteger(g) &&
    g > 0 &&
    g < 32 &&
    Number.isInteger(inputBits) &&
    inputBits >= -64 &&
    inputBits <= 128 &&
    Number.isInteger(start) &&
    start >= -16 &&
    start <= 4;
  const key = ((inputBits + 64) * 32 + (start + 16)) * 32 + g;
  if (cacheable) {
    const hit = GEOMETRIES.get(key);
    if (hit) return hit;
  }
  const levels: WalkLevel[] = [];
  for (let level = start; level < VMSA_LEVELS; level++) {
    const shift = levelShift(level, g);
    const mask = lowMask(shift);
    levels.push({
      level,
      mask,
      notMask: ~mask,
      indexShift: BigInt(shift - 3),
      indexMask8: lowMask(g - 3) << 3n,
      outMask: outAddressMask(shift),
    });
  }
  const geo: WalkGeometry = {
    inputMask: lowMask(inputBits),
    inputLimit: 1n << BigInt(inputBits),
    startAlign: ~hostShiftMask(startTableBits(inputBits, g, start)),
    tableMask: outAddressMask(g),
    concatShift: BigInt(levelShift(start - 1, g)),
    concatScale: (1n << BigInt(g - 3)) * 8n,
    levels,
  };
  if (cacheable) GEOMETRIES.set(key, geo);
  return geo;
}

/** 1 << bits for 0 ≤ bits ≤ 64 (output-size limits), cached. */
const LIMITS: bigint[] = Array.from({ length: 65 }, (_, i) => 1n << BigInt(i));
const limitOf = (bits: number): bigint => LIMITS[bits] ?? 1n << BigInt(bits);
/** lowMask(bits) for 0 ≤ bits ≤ 64, cached. */
const LOW_MASKS: bigint[] = Array.from({ length: 65 }, (_, i) => lowMask(i));
const lowMaskOf = (bits: number): bigint => LOW_MASKS[bits] ?? lowMask(bits);

const AP_TABLE_WRITE_PROTECT = 1n << 62n;
const AF = 1n << 10n;
const AP_BIT0 = 1n << 6n;
const AP_BIT1 = 1n << 7n;

function observe(
  obs: WalkObserver,
  stage: 1 | 2,
  lv: WalkLevel,
  tableBase: bigint,
  addr: bigint,
  pteAddr: bigint,
  pte: bigint | null,
): void {
  const index = Number(((addr >> lv.indexShift) & lv.indexMask8) >> 3n);
  obs.descriptor({ stage, level: lv.level, tableBase, index, pteAddr, pte });
}

/** Stage-1 walk (IOVA → PA or IPA). `write` permission comes from `perm` & WO. */
export function walkStage1(
  p: Stage1Params,
  iova: bigint,
  perm: Perm,
  read: ReadDescriptor,
  translateTable?: TranslateTableIpa,
  obs?: WalkObserver,
): WalkResult {
  const sel = selectTt(p, iova);
  const tt = sel === null ? undefined : p.tt[sel];
  if (!tt || tt.disabled || tt.granuleShift === 0) return fault('translation', 1);
  const g = tt.granuleShift;
  const inputBits = 64 - tt.tsz;
  const geo = walkGeometry(g, inputBits, stage1StartLevel(inputBits, g));
  if (obs)
    obs.walk({ stage: 1, input: iova, granuleShift: g, inputBits, startLevel: geo.levels[0]?.level ?? 4, tt: sel! });
  // extract64(ttb, 0, oas) is ttb & lowMask(oas).
  let base = tt.ttb & lowMaskOf(p.oas) & geo.startAlign;
  const isWrite = (perm & PERM.WO) !== 0;
  const addr = iova & geo.inputMask;
  const levels = geo.levels;
  const sec = p.security;
  let ns = sec ? sec.startNs[sel!] : true;
  let sticky = false;
  for (let i = 0; i < levels.length; i++) {
    const lv = levels[i];
    const pteAddr = base + ((addr >> lv.indexShift) & lv.indexMask8);
    const pte = sec ? read(pteAddr, ns) : read(pteAddr);
    if (obs) observe(obs, 1, lv, base, addr, pteAddr, pte);
    if (pte === null) return fault('walk-eabt', 1, pteAddr);
    // Invalid: V = 0, or a level-3 descriptor that is not a page (type 3).
    if ((pte & 1n) === 0n) break;
    const type3 = (pte & 3n) === 3n;
    if (lv.level === 3) {
      if (!type3) break;
    } else if (type3) {
      // Table: APTable[1] (bit 62) write-protects unless HAD.
      if (isWrite && (pte & AP_TABLE_WRITE_PROTECT) !== 0n && !tt.had) return fault('permission', 1);
      base = pte & geo.tableMask;
      if (sec) {
        const nsTable = (pte & NS_TABLE) !== 0n;
        if (sec.rule === 'architectural') ns = ns || nsTable;
        else if (!sticky) {
          if (!ns && nsTable) sticky = true;
          ns = nsTable;
        }
      }
      if (translateTable) {
        // A stage-2 fault on the table IPA is reported with that IPA, flagged as an IPA descriptor,
        // and (QEMU quirk) attributed to stage 1.
        const t = translateTable(base);
        if (!t.ok) return fault(t.fault.kind, 1, base, true);
        base = t.pa;
      }
      continue;
    }
    // Block or page.
    const out = pte & lv.outMask;
    if ((pte & AF) === 0n && !p.affd) return fault('access', 1);
    const readOnly = (pte & AP_BIT1) !== 0n; // AP[2]
    if (isWrite && readOnly) return fault('permission', 1);
    if (out >= limitOf(p.oas)) return fault('addr-size', 1);
    const s1perm = PERM.RO | (readOnly ? 0 : PERM.WO);
    const entry: TlbEntry = {
      iova: iova & lv.notMask,
      translatedAddr: out,
      addrMask: lv.mask,
      perm: s1perm,
      parentPerm: s1perm,
      level: lv.level,
      granuleShift: g,
    };
    if (sec) {
      const leafNs = (pte & NS_LEAF) !== 0n;
      const outNs = sec.rule === 'rfc' ? leafNs : ns || leafNs;
      if (!outNs) entry.secureOut = true;
    }
    return { ok: true, entry };
  }
  return fault('translation', 1);
}

/** Stage-2 walk (IPA → PA). Faults other than walk-eabt carry the IPA. */
export function walkStage2(s2: S2Cfg, ipa: bigint, perm: Perm, read: ReadDescriptor, obs?: WalkObserver): WalkResult {
  const g = s2.granuleShift;
  if (g === 0) return fault('translation', 2, ipa);
  const inputBits = 64 - s2.tsz;
  const geo = walkGeometry(g, inputBits, stage2StartLevel(s2.sl0, g));
  if (obs) obs.walk({ stage: 2, input: ipa, granuleShift: g, inputBits, startLevel: geo.levels[0]?.level ?? 4 });
  if (ipa >= geo.inputLimit) return fault('translation', 2, ipa);
  // QEMU adds the concatenated-table offset, then clears the start-table index bits, which
  // removes that offset again for real concatenation (IPAs alias onto the first table).
  let base = ((s2.vttb & lowMaskOf(s2.effPs)) + geo.concatScale * (ipa >> geo.concatShift)) & geo.startAlign;
  const addr = ipa & geo.inputMask;
  const levels = geo.levels;
  for (let i = 0; i < levels.length; i++) {
    const lv = levels[i];
    const pteAddr = base + ((addr >> lv.indexShift) & lv.indexMask8);
    const pte = read(pteAddr);
    if (obs) observe(obs, 2, lv, base, addr, pteAddr, pte);
    if (pte === null) return fault('walk-eabt', 2, pteAddr);
    if ((pte & 1n) === 0n) break;
    const type3 = (pte & 3n) === 3n;
    if (lv.level === 3) {
      if (!type3) break;
    } else if (type3) {
      base = pte & geo.tableMask;
      continue;
    }
    const out = pte & lv.outMask;
    if ((pte & AF) === 0n && !s2.affd) return fault('access', 2, ipa);
    const s2ap = ((pte & AP_BIT0) !== 0n ? 1 : 0) | ((pte & AP_BIT1) !== 0n ? 2 : 0);
    if ((s2ap & perm) !== perm) return fault('permission', 2, ipa);
    if (out >= limitOf(s2.effPs)) return fault('addr-size', 2, ipa);
    return {
      ok: true,
      entry: {
        iova: ipa & lv.notMask,
        translatedAddr: out,
        addrMask: lv.mask,
        perm: s2ap,
        parentPerm: s2ap,
        level: lv.level,
        granuleShift: g,
      },
    };
  }
  return fault('translation', 2, ipa);
}
