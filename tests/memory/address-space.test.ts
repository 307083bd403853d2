import t from 'tap';
import { AddressSpace } from '../../src/memory/address-space.js';
import { SparseRam } from '../../src/memory/sparse-ram.js';
import type { AccessSize, IoRegion } from '../../src/memory/types.js';

interface Access {
  op: 'r' | 'w';
  off: number;
  size: number;
  value?: bigint;
}

function recorder(valid: IoRegion['valid'], impl: IoRegion['impl']): { region: IoRegion; log: Access[] } {
  const log: Access[] = [];
  const region: IoRegion = {
    kind: 'io',
    name: 'dev',
    size: 0x1000n,
    valid,
    impl,
    read(off: bigint, size: AccessSize) {
      log.push({ op: 'r', off: Number(off), size });
      return 0x1122334455667788n & ((1n << BigInt(size * 8)) - 1n);
    },
    write(off: bigint, size: AccessSize, value: bigint) {
      log.push({ op: 'w', off: Number(off), size, value });
    },
  };
  return { region, log };
}

t.test('an edu-like region (valid 4..8, impl 4..8) sees QEMU splits', async (t) => {
  const as = new AddressSpace('test');
  const { region, log } = recorder({ minSize: 4, maxSize: 8 }, { minSize: 4, maxSize: 8 });
  as.map(0x1000n, region);
  const buf = new Uint8Array(4);
  as.readBytes(0x1002n, buf);
  t.same([...buf], [0, 0, 0, 0], 'readl at +2: two rejected 2-byte pieces read 0');
  t.same(log, [], 'device never sees rejected pieces');
  as.writeBytes(0x1004n, new Uint8Array(8));
  t.same(
    log.map((a) => [a.op, a.off, a.size]),
    [
      ['w', 4, 4],
      ['w', 8, 4],
    ],
    'writeq at +4 becomes two 4-byte writes',
  );
  log.length = 0;
  const b1 = new Uint8Array(1);
  as.readBytes(0x1000n, b1);
  t.equal(b1[0], 0, 'byte read rejected');
  t.same(log, []);
});

t.test('impl narrower than the access splits little-endian', async (t) => {
  const as = new AddressSpace('test');
  const { region, log } = recorder({ minSize: 1, maxSize: 8 }, { minSize: 1, maxSize: 1 });
  as.map(0n, region);
  as.writeBytes(0x10n, new Uint8Array([1, 2, 3, 4]));
  t.same(
    log.map((a) => [a.off, Number(a.value)]),
    [
      [0x10, 1],
      [0x11, 2],
      [0x12, 3],
      [0x13, 4],
    ],
  );
});

t.test('unassigned space reads zero, RAM is sparse, aliases forward', async (t) => {
  const as = new AddressSpace('sys');
  const ram = new SparseRam('ram', 0x10000n);
  as.map(0x4000_0000n, ram);
  const buf = new Uint8Array(8).fill(0xee);
  t.equal(as.readBytes(0x6000_0000n, buf), 'decode-error');
  t.same([...buf], [0, 0, 0, 0, 0, 0, 0, 0]);
  as.writeBytes(0x4000_fffcn, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
  const back = new Uint8Array(8);
  as.readBytes(0x4000_fffcn, back);
  t.same([...back], [1, 2, 3, 4, 0, 0, 0, 0], 'write past the end of RAM is dropped');
  t.equal(ram.touchedBytes, 4096, 'one page touched');
  const inner = new AddressSpace('inner');
  inner.map(0x100n, new SparseRam('r2', 0x100n));
  as.map(0x1000n, { kind: 'alias', name: 'win', size: 0x1000n, target: inner, targetBase: 0n });
  as.writeBytes(0x1100n, new Uint8Array([9]));
  const one = new Uint8Array(1);
  inner.readBytes(0x100n, one);
  t.equal(one[0], 9);
});

t.test('higher priority wins; unmap restores', async (t) => {
  const as = new AddressSpace('pci');
  const bg = recorder(undefined, undefined);
  const bar = recorder(undefined, undefined);
  as.map(0n, { ...bg.region, size: 1n << 32n }, -1);
  as.map(0x1000n, bar.region, 1);
  as.readBytes(0x1000n, new Uint8Array(4));
  t.equal(bar.log.length, 1);
  as.unmap(bar.region);
  as.readBytes(0x1000n, new Uint8Array(4));
  t.equal(bg.log.length, 1);
});

t.test('fill goes page-wise over RAM and skips untouched zero pages', async (t) => {
  const as = new AddressSpace('sys');
  const ram = new SparseRam('ram', 1n << 30n);
  as.map(0x4000_0000n, ram);
  as.fill(0x4000_0000n, 1n << 30n, 0);
  t.equal(ram.touchedBytes, 0);
  as.fill(0x4000_0ffen, 4n, 0xab);
  const b = new Uint8Array(6);
  as.readBytes(0x4000_0ffdn, b);
  t.same([...b], [0, 0xab, 0xab, 0xab, 0xab, 0]);
  t.equal(ram.touchedBytes, 8192);
});

t.test('the RAM segment an access found last is forgotten when the mappings change', async (t) => {
  const as = new AddressSpace('test');
  const ram = new SparseRam('ram', 0x10000n);
  as.map(0x4000_0000n, ram);
  as.writeBytes(0x4000_1000n, new Uint8Array([1, 2, 3, 4]));
  const buf = new Uint8Array(4);
  as.readBytes(0x4000_1000n, buf);
  t.same([...buf], [1, 2, 3, 4], 'RAM read (its segment remembered)');
  const { region, log } = recorder({ minSize: 1, maxSize: 8 }, { minSize: 1, maxSize: 8 });
  as.map(0x4000_1000n, region, 1);
  as.readBytes(0x4000_1000n, buf);
  t.same([...buf], [0x88, 0x77, 0x66, 0x55], 'a region mapped over it serves the next read');
  t.same(log, [{ op: 'r', off: 0, size: 4 }]);
  as.unmap(region);
  as.readBytes(0x4000_1000n, buf);
  t.same([...buf], [1, 2, 3, 4], 'unmapped: RAM again');
  as.readBytes(0x4000_0ffen, buf);
  t.same([...buf], [0, 0, 1, 2], 'an access across a page boundary of the remembered segment');
  as.readBytes(0x3fff_fffen, buf);
  t.same([...buf], [0, 0, 0, 0], 'an access starting below it');
});
