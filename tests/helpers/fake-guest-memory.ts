/** Test helper: an in-memory GuestMemory (sparse little-endian bytes) that logs every operation in qtest request syntax. */
import type { GuestMemory } from '../../src/client/guest-memory.js';

export const hx = (v: bigint | number) => '0x' + v.toString(16);

/** In-memory GuestMemory: sparse LE bytes and a log of every operation in qtest request syntax. */
export class FakeMemory implements GuestMemory {
  readonly bytes = new Map<bigint, number>();
  readonly log: string[] = [];

  getByte(a: bigint): number {
    return this.bytes.get(a) ?? 0;
  }
  load(addr: bigint, size: number): bigint {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.getByte(addr + BigInt(i)));
    return v;
  }
  store(addr: bigint, size: number, value: bigint): void {
    let v = BigInt.asUintN(size * 8, value);
    for (let i = 0; i < size; i++) {
      this.bytes.set(addr + BigInt(i), Number(v & 0xffn));
      v >>= 8n;
    }
  }
  /** Only the writes, as `writeq ADDR VALUE` etc. */
  get writes(): string[] {
    return this.log.filter((l) => l.startsWith('write') || l.startsWith('memset'));
  }

  async readb(a: bigint) {
    this.log.push(`readb ${hx(a)}`);
    return this.load(a, 1);
  }
  async readw(a: bigint) {
    this.log.push(`readw ${hx(a)}`);
    return this.load(a, 2);
  }
  async readl(a: bigint) {
    this.log.push(`readl ${hx(a)}`);
    return this.load(a, 4);
  }
  async readq(a: bigint) {
    this.log.push(`readq ${hx(a)}`);
    return this.load(a, 8);
  }
  async writeb(a: bigint, v: bigint) {
    this.log.push(`writeb ${hx(a)} ${hx(v)}`);
    this.store(a, 1, v);
  }
  async writew(a: bigint, v: bigint) {
    this.log.push(`writew ${hx(a)} ${hx(v)}`);
    this.store(a, 2, v);
  }
  async writel(a: bigint, v: bigint) {
    this.log.push(`writel ${hx(a)} ${hx(v)}`);
    this.store(a, 4, v);
  }
  async writeq(a: bigint, v: bigint) {
    this.log.push(`writeq ${hx(a)} ${hx(v)}`);
    this.store(a, 8, v);
  }
  async read(a: bigint, size: number) {
    this.log.push(`read ${hx(a)} ${hx(size)}`);
    return Uint8Array.from({ length: size }, (_, i) => this.getByte(a + BigInt(i)));
  }
  async write(a: bigint, data: Uint8Array) {
    this.log.push(`write ${hx(a)} ${hx(data.length)} 0x${Buffer.from(data).toString('hex')}`);
    data.forEach((b, i) => this.bytes.set(a + BigInt(i), b));
  }
  async memset(a: bigint, size: number, byte: number) {
    this.log.push(`memset ${hx(a)} ${hx(size)} 0x${byte.toString(16).padStart(2, '0')}`);
    for (let i = 0; i < size; i++) this.bytes.set(a + BigInt(i), byte);
  }
}
