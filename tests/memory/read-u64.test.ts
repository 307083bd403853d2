/**
 * AddressSpace.readU64LE / SparseRam.readU64LE (the SMMU's descriptor-read fast path): the value
 * equals what readBytes gives wherever the fast path answers, and it declines (undefined) exactly
 * where readBytes would touch anything but plain RAM, including after the flat view changes.
 */
import t from 'tap';
import { AddressSpace } from '../../src/memory/address-space.js';
import { SparseRam } from '../../src/memory/sparse-ram.js';
import type { AccessSize, IoRegion, RamRegion } from '../../src/memory/types.js';

const viaBytes = (as: AddressSpace, addr: bigint): bigint => {
  const b = new Uint8Array(8);
  as.readBytes(addr, b);
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
};

function mmio(): { region: IoRegion; reads: number[] } {
  const reads: number[] = [];
  return {
    reads,
    region: {
      kind: 'io',
      name: 'dev',
      size: 0x1000n,
      valid: { minSize: 1, maxSize: 8 },
      impl: { minSize: 1, maxSize: 8 },
      read(off: bigint, _size: AccessSize) {
        reads.push(Number(off));
        return 0x55n;
      },
      write() {},
    },
  };
}

t.test('SparseRam.readU64LE matches readBytes: touched, untouched and page-crossing', async (t) => {
  const ram = new SparseRam('ram', 1n << 20n);
  const data = new Uint8Array(0x3000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + 11) & 0xff;
  ram.writeBytes(0x1000n, data);
  for (const off of [0n, 0xff8n, 0xffcn, 0x1000n, 0x1001n, 0x1ff8n, 0x1ff9n, 0x1fffn, 0x2ffan, 0x3ffcn, 0x5000n]) {
    const b = new Uint8Array(8);
    ram.readBytes(off, b);
    const want = new DataView(b.buffer).getBigUint64(0, true);
    t.equal(ram.readU64LE(off), want, `offset 0x${off.toString(16)}`);
  }
  t.equal(ram.touchedBytes, 0x3000, 'reads never allocate pages');
});

t.test('AddressSpace.readU64LE: RAM, aliases, boundaries, MMIO, gaps, remaps', async (t) => {
  const as = new AddressSpace('sys');
  const ram = new SparseRam('ram', 0x10000n);
  as.map(0x4000_0000n, ram);
  const bytes = Uint8Array.from({ length: 0x10000 }, (_, i) => (i * 7 + 3) & 0xff);
  as.writeBytes(0x4000_0000n, bytes);
  for (const a of [0x4000_0000n, 0x4000_0008n, 0x4000_0ffdn, 0x4000_fff8n]) {
    t.equal(as.readU64LE(a), viaBytes(as, a), `RAM 0x${a.toString(16)}`);
  }
  t.equal(as.readU64LE(0x4000_fff9n), undefined, 'crossing the end of the RAM segment declines');
  t.equal(as.readU64LE(0x3fff_fffcn), undefined, 'starting in a gap declines');
  t.equal(as.readU64LE(0x10n), undefined, 'unassigned declines');
  t.equal(as.readU64LE((1n << 64n) - 4n), undefined, 'wrapping at 2^64 declines');
  t.equal(
    as.readU64LE((1n << 64n) + 0x4000_0010n),
    viaBytes(as, 0x4000_0010n),
    'addresses wrap at 2^64 like readBytes',
  );

  const dev = mmio();
  as.map(0x0900_0000n, dev.region);
  t.equal(as.readU64LE(0x0900_0000n), undefined, 'MMIO declines');
  t.same(dev.reads, [], 'and never touches the device');

  // A higher-priority region mapped over RAM after the fast path remembered the RAM segment.
  t.equal(as.readU64LE(0x4000_1000n), viaBytes(as, 0x4000_1000n));
  as.map(0x4000_1000n, dev.region, 1);
  t.equal(as.readU64LE(0x4000_1000n), undefined, 'a remap over the remembered segment is seen');
  t.equal(as.readU64LE(0x4000_0ff8n), viaBytes(as, 0x4000_0ff8n), 'RAM below the overlay still served');
  as.unmap(dev.region);
  t.equal(as.readU64LE(0x4000_1000n), viaBytes(as, 0x4000_1000n), 'and again after the unmap');

  // Through an alias into another address space.
  const inner = new AddressSpace('inner');
  const ram2 = new SparseRam('ram2', 0x2000n);
  inner.map(0x1000n, ram2);
  ram2.writeBytes(0x10n, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
  as.map(0x8000_0000n, { kind: 'alias', name: 'win', size: 0x3000n, target: inner, targetBase: 0n });
  t.equal(as.readU64LE(0x8000_1010n), 0x0807060504030201n, 'alias into RAM');
  t.equal(as.readU64LE(0x8000_0010n), undefined, 'alias into a gap declines');

  // A RAM region without the optional method: declined, readBytes does the work.
  const plain: RamRegion = {
    kind: 'ram',
    name: 'plain',
    size: 0x1000n,
    readBytes: (off, out) => out.fill(Number(off & 0xffn)),
    writeBytes: () => {},
    fill: () => {},
  };
  as.map(0xa000_0000n, plain);
  t.equal(as.readU64LE(0xa000_0000n), undefined, 'RAM region without readU64LE declines');
});
