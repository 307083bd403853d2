/**
 * Bit helpers for the SMMU model: field extract/deposit on 32-bit words (as numbers) and 64-bit
 * values (as bigints), plus the two mask builders whose out-of-range behaviour QEMU 10.2.2 gets
 * from the x86-64 host (shift counts taken modulo 64). Pure; no SMMU knowledge.
 */

export const U64_MASK = (1n << 64n) - 1n;

/** The value as an unsigned 32-bit number. */
export function u32(value: number): number {
  return value >>> 0;
}

/** Bits [lsb, lsb+width) of a 32-bit word, as an unsigned number (width 1..32). */
export function extract32(word: number, lsb: number, width: number): number {
  if (width >= 32) return u32(word >>> lsb);
  return (word >>> lsb) & (2 ** width - 1);
}

/** `word` with bits [lsb, lsb+width) replaced by the low bits of `value` (unsigned result). */
export function deposit32(word: number, lsb: number, width: number, value: number): number {
  const fieldMask = width >= 32 ? 0xffffffff : (2 ** width - 1) * 2 ** lsb;
  const placed = (value * 2 ** lsb) % 2 ** 32;
  return u32((word & ~fieldMask) | (placed & fieldMask));
}

/** Bits [lsb, lsb+width) of a 64-bit value. */
export function extract64(value: bigint, lsb: number, width: number): bigint {
  return (value >> BigInt(lsb)) & ((1n << BigInt(width)) - 1n);
}

/** `value` with bits [lsb, lsb+width) replaced by `field`. */
export function deposit64(value: bigint, lsb: number, width: number, field: bigint): bigint {
  const m = ((1n << BigInt(width)) - 1n) << BigInt(lsb);
  return ((value & ~m) | ((field << BigInt(lsb)) & m)) & U64_MASK;
}

/** A mask of the low `bits` bits (0 ≤ bits ≤ 64). */
export function lowMask(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

/**
 * QEMU's MAKE_64BIT_MASK(0, length) as compiled for x86-64: `~0 >> (64 - length)` with the shift
 * count taken modulo 64, so lengths above 64 give small masks (65 → 1, 68 → 0xF). Used where
 * guest-sized shifts can exceed 64 (stream-table alignment with LOG2SIZE ≥ 60).
 */
export function hostLowMask(length: number): bigint {
  const count = (((64 - length) % 64) + 64) % 64;
  return U64_MASK >> BigInt(count);
}

/**
 * QEMU's `(1ULL << bits) - 1` as compiled for x86-64 (shift count modulo 64). VMSA_IDXMSK uses it
 * with a negative count for inconsistent S2SL0/S2T0SZ pairs (e.g. −11 behaves as 53).
 */
export function hostShiftMask(bits: number): bigint {
  const count = ((bits % 64) + 64) % 64;
  return ((1n << BigInt(count)) - 1n) & U64_MASK;
}

/** Little-endian 32-bit words of a byte block. */
export function wordsOf(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 4 <= bytes.length; i += 4) {
    out.push(u32(bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)));
  }
  return out;
}

/** Bytes of little-endian 32-bit words. */
export function bytesOf(words: readonly number[]): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  words.forEach((w, i) => {
    out[i * 4] = w & 0xff;
    out[i * 4 + 1] = (w >>> 8) & 0xff;
    out[i * 4 + 2] = (w >>> 16) & 0xff;
    out[i * 4 + 3] = (w >>> 24) & 0xff;
  });
  return out;
}

/** `0x…` lowercase hex of a bigint or number, for logs and debug snapshots. */
export function hex(value: bigint | number): string {
  return '0x' + value.toString(16);
}
