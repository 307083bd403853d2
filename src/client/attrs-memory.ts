/**
 * A GuestMemory whose every access carries one set of qtest memory attributes (protocol/qtest.md
 * "Memory attributes"), so the SMMU table builder and queue helpers can write Secure tables into
 * Secure RAM (`withAttrs(client, 'secure')`) with the same code that writes Non-secure ones.
 */
import type { GuestMemory } from './guest-memory.js';
import type { QtestAttrs } from './qtest-client.js';

/** GuestMemory whose methods take the attributes as an optional last argument (QtestClient). */
export interface AttributedGuestMemory {
  readb(addr: bigint, attrs?: QtestAttrs): Promise<bigint>;
  readw(addr: bigint, attrs?: QtestAttrs): Promise<bigint>;
  readl(addr: bigint, attrs?: QtestAttrs): Promise<bigint>;
  readq(addr: bigint, attrs?: QtestAttrs): Promise<bigint>;
  writeb(addr: bigint, value: bigint, attrs?: QtestAttrs): Promise<void>;
  writew(addr: bigint, value: bigint, attrs?: QtestAttrs): Promise<void>;
  writel(addr: bigint, value: bigint, attrs?: QtestAttrs): Promise<void>;
  writeq(addr: bigint, value: bigint, attrs?: QtestAttrs): Promise<void>;
  read(addr: bigint, size: number, attrs?: QtestAttrs): Promise<Uint8Array>;
  write(addr: bigint, data: Uint8Array, attrs?: QtestAttrs): Promise<void>;
  memset(addr: bigint, size: number, byte: number, attrs?: QtestAttrs): Promise<void>;
}

/** `mem` with `attrs` on every access. */
export function withAttrs(mem: AttributedGuestMemory, attrs: QtestAttrs): GuestMemory {
  return {
    readb: (a) => mem.readb(a, attrs),
    readw: (a) => mem.readw(a, attrs),
    readl: (a) => mem.readl(a, attrs),
    readq: (a) => mem.readq(a, attrs),
    writeb: (a, v) => mem.writeb(a, v, attrs),
    writew: (a, v) => mem.writew(a, v, attrs),
    writel: (a, v) => mem.writel(a, v, attrs),
    writeq: (a, v) => mem.writeq(a, v, attrs),
    read: (a, n) => mem.read(a, n, attrs),
    write: (a, d) => mem.write(a, d, attrs),
    memset: (a, n, b) => mem.memset(a, n, b, attrs),
  };
}
