import t from 'tap';
import { pino } from 'pino';
import { VirtualClock } from '../../src/sim/clock.js';
import { IrqLine } from '../../src/sim/irq.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import { SparseRam } from '../../src/memory/sparse-ram.js';
import type { AccessSize, IoRegion } from '../../src/memory/types.js';
import { PciHost } from '../../src/pci/host-bridge.js';
import { PciDevice } from '../../src/pci/pci-device.js';

class TestDevice extends PciDevice {
  readonly typeName = 'test-dev';
  readonly mmio: IoRegion = {
    kind: 'io',
    name: 'bar0',
    size: 0x1000n,
    read: (_o: bigint, s: AccessSize) => (s === 4 ? 0xcafef00dn : 0n),
    write: () => {},
  };
  constructor() {
    super();
    this.config.setIdentity({ vendor: 0x1234, device: 0x5678, classCode: 0x00ff });
    this.config.set(0x3d, 1, 1); // INTA
    this.addBar({ index: 0, size: 0x1000n, kind: 'mem32', region: this.mmio });
    this.addBar({ index: 1, size: 0x100n, kind: 'io', region: { ...this.mmio, name: 'bar1', size: 0x100n } });
    this.addBar({
      index: 2,
      size: 0x100000n,
      kind: 'mem64',
      prefetchable: true,
      region: { ...this.mmio, name: 'bar2', size: 0x100000n },
    });
  }
  intx(level: number): void {
    this.ctx.setIntx(level);
  }
}

function setup() {
  const system = new AddressSpace('memory');
  system.map(0x4000_0000n, new SparseRam('ram', 1n << 29n));
  const spis = [0, 1, 2, 3].map((i) => new IrqLine(`spi${3 + i}`));
  const host = new PciHost({
    memory: system,
    intxLines: spis,
    clock: new VirtualClock(),
    log: pino({ level: 'silent' }),
  });
  const ecam = new AddressSpace('ecam');
  ecam.map(0n, host.ecam);
  const cfg = {
    read: (devfn: number, off: number, size: number) => {
      const b = new Uint8Array(size);
      ecam.readBytes(BigInt(devfn << 12) + BigInt(off), b);
      return Number(Buffer.from(b).readUIntLE(0, size));
    },
    write: (devfn: number, off: number, size: number, v: number) => {
      const b = Buffer.alloc(size);
      b.writeUIntLE(v, 0, size);
      ecam.writeBytes(BigInt(devfn << 12) + BigInt(off), b);
    },
  };
  return { host, cfg, spis };
}

t.test('host bridge at 00:00.0 and empty functions', async (t) => {
  const { cfg } = setup();
  t.equal(cfg.read(0, 0, 4), 0x00081b36, 'gpex-root 1b36:0008');
  t.equal(cfg.read(0, 0x0a, 2), 0x0600, 'class host bridge');
  t.equal(cfg.read(8, 0, 2), 0xffff, 'empty devfn reads all-ones');
  t.equal(cfg.read(0, 0x100, 4), 0xffffffff, 'beyond a conventional function config space');
});

t.test('slot assignment, BAR sizing and decoding', async (t) => {
  const { host, cfg } = setup();
  const dev = new TestDevice();
  host.plug(dev);
  t.equal(dev.devfn, 8, 'first free slot is 1');
  t.throws(
    () => host.plug(new TestDevice(), 8),
    /PCI: slot 1 function 0 not available for test-dev, in use by test-dev,id=\(null\)/,
  );
  cfg.write(8, 0x04, 2, 0xffff);
  t.equal(cfg.read(8, 0x04, 2), 0x0507, 'only QEMU-writable COMMAND bits stick');
  cfg.write(8, 0x04, 2, 0);
  cfg.write(8, 0x10, 4, 0xffffffff);
  t.equal(cfg.read(8, 0x10, 4), 0xfffff000, 'mem32 BAR sizing');
  cfg.write(8, 0x14, 4, 0xffffffff);
  t.equal(cfg.read(8, 0x14, 4), 0xffffff01, 'I/O BAR sizing');
  cfg.write(8, 0x18, 4, 0xffffffff);
  cfg.write(8, 0x1c, 4, 0xffffffff);
  t.equal(cfg.read(8, 0x18, 4), 0xfff0000c, '64-bit prefetchable BAR low');
  t.equal(cfg.read(8, 0x1c, 4), 0xffffffff, '64-bit BAR high');
  cfg.write(8, 0x10, 4, 0x10000000);
  cfg.write(8, 0x14, 4, 0x0);
  const r = new Uint8Array(4);
  host.pciMemory.readBytes(0x10000000n, r);
  t.same([...r], [0xff, 0xff, 0xff, 0xff], 'not decoded while COMMAND.MEMORY is clear');
  cfg.write(8, 0x04, 2, 0x3);
  host.pciMemory.readBytes(0x10000000n, r);
  t.equal(Buffer.from(r).readUInt32LE(), 0xcafef00d, 'decoded once enabled');
  t.equal(host.mappedBar(dev, dev.bars[1]), 0n, 'I/O BAR at port 0 is legal (virt allows 0 addresses)');
  cfg.write(8, 0x10, 4, 0xffffffff);
  t.equal(host.mappedBar(dev, dev.bars[0]), undefined, 'a BAR ending at 4 GiB is not mapped');
});

t.test('INTx: swizzle, STATUS.INTERRUPT and COMMAND.INTX_DISABLE', async (t) => {
  const { host, cfg, spis } = setup();
  const dev = new TestDevice();
  host.plug(dev, 2 << 3); // slot 2, INTA → host line 2 → SPI 5
  const seen: string[] = [];
  spis.forEach((l, i) => l.listen((v) => seen.push(`${3 + i}:${v}`)));
  dev.intx(1);
  t.same(seen, ['5:1']);
  t.equal(cfg.read(16, 0x06, 2) & 0x8, 0x8, 'interrupt status set');
  cfg.write(16, 0x04, 2, 0x400);
  // QEMU re-drives the host lines of all four pins when INTX_DISABLE changes.
  t.same(seen, ['5:1', '5:0', '6:0', '3:0', '4:0'], 'disabling INTx lowers the line and re-drives the others');
  cfg.write(16, 0x04, 2, 0x400);
  t.equal(seen.length, 5, 'writing the same value re-drives nothing');
  cfg.write(16, 0x04, 2, 0);
  t.same(seen.slice(5), ['5:1', '6:0', '3:0', '4:0'], 're-enabling shows the pending level');
  dev.intx(0);
  t.equal(cfg.read(16, 0x06, 2) & 0x8, 0);
});

t.test('system reset clears COMMAND and BARs but not the device-specific area', async (t) => {
  const { host, cfg } = setup();
  const dev = new TestDevice();
  host.plug(dev);
  cfg.write(8, 0x10, 4, 0x10000000);
  cfg.write(8, 0x04, 2, 0x7);
  cfg.write(8, 0x50, 4, 0x12345678);
  host.reset();
  t.equal(cfg.read(8, 0x04, 2), 0);
  t.equal(cfg.read(8, 0x10, 4), 0);
  t.equal(cfg.read(8, 0x50, 4), 0x12345678);
  t.equal(host.mappedBar(dev, dev.bars[0]), undefined);
});
