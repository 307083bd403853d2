/**
 * VMSAv8-64 translation granules (4K/16K/64K) as data, and the level arithmetic both walks and
 * the IOTLB share: level shifts, start levels (stage 1 from TnSZ, stage 2 from S2SL0), stage-2
 * table concatenation, and the OAS/IPS/PS encoding. Pure. Sources: Arm ARM D8.2, IHI 0070
 * (CD.TGn, STE.S2TG), QEMU 10.2.2 smmu-internal.h. Does not model LPA2/52-bit or FEAT_TTST.
 */

export type GranuleShift = 12 | 14 | 16;

export interface Granule {
  /** log2 of the page size. */
  readonly pageShift: GranuleShift;
  /** Index bits resolved per level (pageShift − 3). */
  readonly stride: number;
  /** TLBI/IOTLB "TG" code: (pageShift − 10) / 2. */
  readonly tg: 1 | 2 | 3;
}

export const GRANULES = {
  12: { pageShift: 12, stride: 9, tg: 1 },
  14: { pageShift: 14, stride: 11, tg: 2 },
  16: { pageShift: 16, stride: 13, tg: 3 },
} as const satisfies Record<GranuleShift, Granule>;

/** CD.TG0 encoding (IHI 0070 5.4): 0 4K, 1 64K, 2 16K, 3 reserved. */
export const CD_TG0_GRANULE: readonly (GranuleShift | null)[] = [12, 16, 14, null];
/** CD.TG1 encoding: 0 reserved, 1 16K, 2 4K, 3 64K. */
export const CD_TG1_GRANULE: readonly (GranuleShift | null)[] = [null, 14, 12, 16];
/** STE.S2TG encoding (IHI 0070 5.2): 0 4K, 1 64K, 2 16K, 3 reserved. */
export const STE_S2TG_GRANULE: readonly (GranuleShift | null)[] = [12, 16, 14, null];

/**
 * OAS/IPS/S2PS field → address bits (IHI 0070 6.3.6 IDR5.OAS). 6 (52 bits) and 7 are absent: QEMU
 * 10.2.2 asserts on them (oas2bits); callers clamp to the SMMU's OAS first (see deviations).
 */
export const OAS_BITS: readonly number[] = [32, 36, 40, 42, 44, 48];

/** Number of VMSA lookup levels (0..3). */
export const VMSA_LEVELS = 4;
/** Maximum number of concatenated stage-2 start-level tables. */
export const VMSA_MAX_S2_CONCAT = 16;

/** Bit position of the lowest input-address bit resolved at `level` (may be used with level −1). */
export function levelShift(level: number, pageShift: number): number {
  return pageShift + (3 - level) * (pageShift - 3);
}

/** Stage-1 start level for an input size (64 − TnSZ): 4 − ⌊(inputsize − 4) / stride⌋. */
export function stage1StartLevel(inputBits: number, pageShift: number): number {
  return 4 - Math.floor((inputBits - 4) / (pageShift - 3));
}

/** Stage-2 start level from S2SL0 (Arm ARM D8-12/D8-22/D8-31): 4K 2 − SL0, 16K/64K 3 − SL0. */
export function stage2StartLevel(sl0: number, pageShift: number): number {
  return pageShift === 12 ? 2 - sl0 : 3 - sl0;
}

/** Which concatenated start-level table an IPA falls in: IPA >> levelShift(start − 1). */
export function concatIndex(startLevel: number, pageShift: number, ipa: bigint): bigint {
  return ipa >> BigInt(levelShift(startLevel - 1, pageShift));
}

/**
 * Log2 of the start-level table size in bytes: inputsize − stride × (4 − level) (VMSA_BIT_LVL).
 * Can be ≤ 0 or negative for inconsistent stage-2 settings; callers use hostShiftMask on it.
 */
export function startTableBits(inputBits: number, pageShift: number, level: number): number {
  return inputBits - (pageShift - 3) * (VMSA_LEVELS - level);
}

/** Index of `addr` at `level` (the address is first masked to `inputBits`). */
export function levelIndex(addr: bigint, inputBits: number, level: number, pageShift: number): bigint {
  const masked = addr & ((1n << BigInt(inputBits)) - 1n);
  return (masked >> BigInt(levelShift(level, pageShift))) & ((1n << BigInt(pageShift - 3)) - 1n);
}
