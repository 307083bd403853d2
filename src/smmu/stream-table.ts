/**
 * Stream table lookup (IHI 0070 3.3.2/5.1, QEMU 10.2.2 smmu_find_ste): StreamID → STE address,
 * linear or two-level, then the 64-byte STE fetch, through a block-read callback. Faults are
 * values: C_BAD_STREAMID (SID beyond the table, L1STD.Span 0), C_BAD_STE (L2 index beyond Span),
 * F_STE_FETCH (L1STD or STE read failed). Mirrors QEMU's alignment arithmetic including its x86
 * shift behaviour for LOG2SIZE ≥ 60 and the unmasked L2Ptr. Does not check Span ≤ 12 or base
 * alignment beyond what QEMU does.
 */
import { hostLowMask, U64_MASK } from './bits.js';
import { decodeL1std, L1STD_BYTES, STE_BYTES } from './structures.js';

/** Reads `length` bytes of physical memory; null = the access failed (external abort). */
export type ReadBlock = (pa: bigint, length: number) => Uint8Array | null;

/** STRTAB_BASE/STRTAB_BASE_CFG as the model holds them. */
export interface StreamTableConfig {
  /** Raw STRTAB_BASE register value. */
  base: bigint;
  /** STRTAB_BASE_CFG.LOG2SIZE (0..63). */
  log2size: number;
  /** Two-level format latched (QEMU: sticky once FMT=1 was written, until reset). */
  twoLevel: boolean;
  /** Latched STRTAB_BASE_CFG.SPLIT (0..31). */
  split: number;
}

/** Address bits used from STRTAB_BASE and the queue bases (QEMU SMMU_BASE_ADDR_MASK, bits 51:6). */
export const SMMU_BASE_ADDR_MASK = 0x000f_ffff_ffff_ffc0n;
/** Implemented StreamID width (IDR1.SIDSIZE). */
export const SMMU_SIDSIZE = 16;

/** What a two-level lookup learnt from a valid L1 descriptor (Span ≠ 0): smmuv3_find_ste_2lvl. */
export interface L1Lookup {
  l1Addr: bigint;
  l1Index: number;
  l2Ptr: bigint;
  l2Index: number;
  /** 2^Span − 1. */
  maxL2: number;
}

export type SteLocation =
  | { ok: true; steAddr: bigint; l1Addr?: bigint; l2Index?: number; l1?: L1Lookup }
  | { ok: false; event: 'C_BAD_STREAMID'; l1Addr?: bigint }
  | { ok: false; event: 'C_BAD_STE'; l1Addr?: bigint; l1?: L1Lookup }
  | { ok: false; event: 'F_STE_FETCH'; fetchAddr: bigint; /** the STE read itself failed */ ste?: true; l1?: L1Lookup };

export type SteFetch =
  { ok: true; steAddr: bigint; bytes: Uint8Array; l1?: L1Lookup } | Exclude<SteLocation, { ok: true }>;

/** Where the STE for `sid` lives (reads the L1 descriptor for a two-level table). */
export function locateSte(cfg: StreamTableConfig, sid: number, read: ReadBlock): SteLocation {
  if (sid >= 2 ** Math.min(cfg.log2size, SMMU_SIDSIZE)) return { ok: false, event: 'C_BAD_STREAMID' };
  if (cfg.twoLevel) {
    const sizeShift = Math.max(5, cfg.log2size - cfg.split - 1 + 3);
    const base = cfg.base & SMMU_BASE_ADDR_MASK & ~hostLowMask(sizeShift);
    const l1Index = Math.floor(sid / 2 ** cfg.split);
    const l2Index = sid % 2 ** cfg.split;
    const l1Addr = base + BigInt(l1Index * L1STD_BYTES);
    const raw = read(l1Addr, L1STD_BYTES);
    if (!raw) return { ok: false, event: 'F_STE_FETCH', fetchAddr: l1Addr };
    const l1 = decodeL1std(raw);
    if (l1.Span === 0) return { ok: false, event: 'C_BAD_STREAMID', l1Addr };
    const lookup: L1Lookup = { l1Addr, l1Index, l2Ptr: l1.L2Ptr, l2Index, maxL2: 2 ** l1.Span - 1 };
    if (l2Index > lookup.maxL2) return { ok: false, event: 'C_BAD_STE', l1Addr, l1: lookup };
    return { ok: true, steAddr: (l1.L2Ptr + BigInt(l2Index * STE_BYTES)) & U64_MASK, l1Addr, l2Index, l1: lookup };
  }
  const base = cfg.base & SMMU_BASE_ADDR_MASK & ~hostLowMask(cfg.log2size + 5);
  return { ok: true, steAddr: base + BigInt(sid * STE_BYTES) };
}

/** Locate and fetch the 64-byte STE for `sid`. */
export function fetchSte(cfg: StreamTableConfig, sid: number, read: ReadBlock): SteFetch {
  const loc = locateSte(cfg, sid, read);
  if (!loc.ok) return loc;
  const bytes = read(loc.steAddr, STE_BYTES);
  if (!bytes) return { ok: false, event: 'F_STE_FETCH', fetchAddr: loc.steAddr, ste: true, l1: loc.l1 };
  return { ok: true, steAddr: loc.steAddr, bytes, l1: loc.l1 };
}
