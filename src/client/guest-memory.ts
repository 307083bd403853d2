/**
 * The slice of QtestClient the PCI helpers and the SMMU table builder use, so they can run against
 * an in-memory fake as well as a live connection. Types only.
 */

export interface GuestMemory {
  readb(addr: bigint): Promise<bigint>;
  readw(addr: bigint): Promise<bigint>;
  readl(addr: bigint): Promise<bigint>;
  readq(addr: bigint): Promise<bigint>;
  writeb(addr: bigint, value: bigint): Promise<void>;
  writew(addr: bigint, value: bigint): Promise<void>;
  writel(addr: bigint, value: bigint): Promise<void>;
  writeq(addr: bigint, value: bigint): Promise<void>;
  /** Byte read in memory order (`read ADDR SIZE`). */
  read(addr: bigint, size: number): Promise<Uint8Array>;
  /** Byte write in memory order (`write ADDR SIZE 0xHEX`). */
  write(addr: bigint, data: Uint8Array): Promise<void>;
  memset(addr: bigint, size: number, byte: number): Promise<void>;
}

/** Little-endian value of `bytes`. */
export function leToBigint(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

/** `size` little-endian bytes of `value` (truncated). */
export function bigintToLe(value: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let v = BigInt.asUintN(size * 8, value);
  for (let i = 0; i < size; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
