/**
 * Little-endian loads/stores between bigints and byte arrays, shared by the qtest
 * protocol and the devices. Pure functions.
 */

export function loadLE(bytes: Uint8Array, offset = 0, size = bytes.length - offset): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[offset + i]);
  return v;
}

export function storeLE(bytes: Uint8Array, offset: number, size: number, value: bigint): void {
  let v = value;
  for (let i = 0; i < size; i++) {
    bytes[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

export function toLE(value: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  storeLE(out, 0, size, value);
  return out;
}

/** Mask of the low `bytes * 8` bits. */
export function widthMask(bytes: number): bigint {
  return (1n << BigInt(bytes * 8)) - 1n;
}
