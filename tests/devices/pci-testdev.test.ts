// Expected values from docs/devices.md#pci-testdev, qtest/pci-testdev.txt and oracle runs on 10.2.2.
import t from 'tap';
import { PciTestdev } from '../../src/devices/pci-testdev.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import { loadLE, toLE } from '../../src/memory/bytes.js';
import { deviceRig, registryDevice } from './rig.js';

const MMIO = 0x10000000n;
const PIO = 0x3eff1000n;

function setup(props: { membar?: bigint; 'membar-backed'?: boolean } = {}) {
  const dev = registryDevice('pci-testdev', PciTestdev, props);
  // The bare model on a CPU bus: BAR0 (memory) and BAR1 (I/O) where the test expects them.
  const rig = deviceRig(dev, {
    attach: false,
    ramBytes: 0n,
    bars: [
      [0, MMIO],
      [1, PIO],
    ],
  });
  const rd = (addr: bigint, size: number) => rig.load(addr, size);
  const wr = (addr: bigint, size: number, v: bigint) => rig.store(addr, v, size);
  return { dev, rd, wr, hex: rig.hex };
}

t.test('config space and BAR sizing as captured', async (t) => {
  const dev = registryDevice('pci-testdev', PciTestdev);
  t.equal(dev.configRead(0x00, 4), 0x00051b36);
  t.equal(dev.configRead(0x04, 4), 0);
  t.equal(dev.configRead(0x08, 4), 0x00ff0000);
  t.equal(dev.configRead(0x2c, 4), 0x11001af4);
  t.equal(dev.configRead(0x34, 4), 0);
  t.equal(dev.configRead(0x3c, 4), 0);
  const sized: number[] = [];
  for (let off = 0x10; off <= 0x24; off += 4) {
    dev.configWrite(off, 4, 0xffffffff);
    sized.push(dev.configRead(off, 4));
  }
  t.same(sized, [0xfffff000, 0xffffff01, 0, 0, 0, 0]);
  const big = registryDevice('pci-testdev', PciTestdev, { membar: 0x100000n, 'membar-backed': true });
  const sized2: number[] = [];
  for (let off = 0x10; off <= 0x24; off += 4) {
    big.configWrite(off, 4, 0xffffffff);
    sized2.push(big.configRead(off, 4));
  }
  t.same(sized2, [0xfffff000, 0xffffff01, 0xfff0000c, 0xffffffff, 0, 0]);
  t.equal(big.bars[2].region.kind, 'ram');
});

t.test('reads 0 with no test selected', async (t) => {
  const { rd, hex } = setup();
  t.equal(rd(MMIO, 4), 0n);
  t.equal(hex(MMIO, 0x20), '00'.repeat(0x20));
});

t.test('mmio tests: headers and eventfd swallowing (pci-testdev.txt)', async (t) => {
  const { rd, wr, hex } = setup();
  const headers = [
    '0001000000080000fa000000000000006d6d696f2d6e6f2d6576656e7466640000000000000000000000000000000000',
    '0101000001080000ce000000000000006d6d696f2d77696c64636172642d6576656e7466640000000000000000000000',
    '0201000002080000fa000000000000006d6d696f2d646174616d617463682d6576656e74666400000000000000000000',
  ];
  const counts = [2n, 0n, 1n];
  for (let i = 0; i < 3; i++) {
    wr(MMIO, 1, BigInt(i));
    t.equal(hex(MMIO, 0x30), headers[i], `header ${i}`);
    const trig = MMIO + 0x800n + BigInt(i);
    wr(trig, 1, 0xfan);
    wr(trig, 1, 0x12n);
    wr(trig, 4, 0xfan);
    t.equal(rd(MMIO + 0xcn, 4), counts[i], `test ${i} count`);
  }
  wr(MMIO, 1, 3n);
  t.equal(hex(MMIO, 0x30), '00'.repeat(0x30), 'V=3 selects nothing');
});

t.test('portio tests through BAR1 select 3..5 (pci-testdev.txt)', async (t) => {
  const { rd, wr, hex } = setup();
  const headers = [
    '0301000083000000fa00000000000000706f7274696f2d6e6f2d6576656e746664000000000000000000000000000000',
    '0401000084000000ce00000000000000706f7274696f2d77696c64636172642d6576656e746664000000000000000000',
    '0501000085000000fa00000000000000706f7274696f2d646174616d617463682d6576656e7466640000000000000000',
  ];
  const counts = [1n, 0n, 0n];
  for (let i = 0; i < 3; i++) {
    wr(PIO, 1, BigInt(i));
    t.equal(hex(PIO, 0x30), headers[i]);
    wr(PIO + 0x83n + BigInt(i), 1, 0xfan);
    wr(PIO + 0x83n + BigInt(i), 1, 0x12n);
    t.equal(rd(PIO + 0xcn, 4), counts[i]);
  }
});

t.test('wider accesses reach the device as bytes unless the eventfd matches the piece (oracle)', async (t) => {
  const { rd, wr } = setup();
  wr(MMIO, 1, 1n);
  wr(MMIO + 0x800n, 8, 0x00000000cece0000n);
  t.equal(rd(MMIO + 0xcn, 4), 1n, 'mmio wildcard: a piece at 0x800 is not swallowed; byte 0x801 counts');
  wr(MMIO + 0x800n, 2, 0xce00n);
  t.equal(rd(MMIO + 0xcn, 4), 2n);
  wr(PIO, 1, 1n);
  wr(PIO + 0x84n, 2, 0x1234n);
  t.equal(rd(PIO + 0xcn, 4), 1n, 'portio wildcard counts a 2-byte write');
  wr(PIO + 0x84n, 4, 0x1234n);
  t.equal(rd(PIO + 0xcn, 4), 2n);
  wr(PIO + 0x80n, 8, 0x1234n);
  t.equal(rd(PIO + 0xcn, 4), 3n, 'writeq splits into 4-byte pieces; the one at 0x84 counts');
  wr(PIO + 0x83n, 2, 0x1234n);
  t.equal(rd(PIO + 0xcn, 4), 3n, 'unaligned: the byte piece at 0x84 is swallowed');
  wr(PIO, 1, 0n);
  wr(MMIO + 0x83n, 1, 0xfan);
  t.equal(rd(PIO + 0xcn, 4), 1n, 'a trigger through the other BAR counts');
});

t.test('reads past the header end return 0; writel to offset 0 is byte by byte', async (t) => {
  const { rd, wr } = setup();
  wr(MMIO, 1, 0n);
  t.equal(rd(MMIO + 0x1fn, 1), 0n);
  t.equal(rd(MMIO + 0x20n, 1), 0n);
  t.equal(rd(MMIO + 0x1cn, 4), 0x00646674n);
  wr(MMIO, 4, 0x01020300n);
  t.equal(rd(MMIO, 1), 0n);
});

t.test('reset deselects the test', async (t) => {
  const { dev, rd, wr } = setup();
  wr(MMIO, 1, 0n);
  wr(MMIO + 0x800n, 1, 0xfan);
  dev.reset();
  t.equal(rd(MMIO + 0xcn, 4), 0n);
  t.equal(rd(MMIO, 1), 0n);
  t.equal(dev.current, -1);
});

t.test('an unbacked membar reads all ones and ignores writes (oracle)', async (t) => {
  const dev = registryDevice('pci-testdev', PciTestdev, { membar: 0x100000n });
  const bus = new AddressSpace('cpu');
  bus.map(0x8000000000n, dev.bars[2].region);
  bus.writeBytes(0x8000000000n, toLE(0x1234n, 4));
  const b = new Uint8Array(8);
  bus.readBytes(0x8000000000n, b);
  t.equal(loadLE(b), 0xffffffffffffffffn);
  t.equal(dev.bars[2].kind, 'mem64');
  t.equal(dev.bars[2].prefetchable, true);
});
