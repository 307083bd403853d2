/**
 * Byte and number formatting shared by the tests: qtest-style hex numbers and hex dumps of byte
 * arrays. One place, so every test prints values the same way.
 */

/** `0x` + lower-case hex, no padding (the way qtest requests spell numbers). */
export function hex(v: bigint | number): string {
  return '0x' + BigInt(v).toString(16);
}

/** Like hex(), but reduced modulo 2^64 first, so negatives print as their two's complement. */
export function hexU64(v: bigint | number): string {
  return '0x' + BigInt.asUintN(64, BigInt(v)).toString(16);
}

/** `0x` + exactly 16 hex digits (the way qtestd answers `readq`). */
export function hex16(v: bigint): string {
  return '0x' + v.toString(16).padStart(16, '0');
}

/** A byte array as lower-case hex, two digits a byte, no prefix. */
export function bytesHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** `n` pseudo-random bytes, the same for the same `seed` (a linear congruential generator). */
export function seededBytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}
