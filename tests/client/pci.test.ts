import t from 'tap';
import { PciBus, VIRT_PCI_LAYOUT } from '../../src/client/pci.js';
import { FakeMemory } from '../helpers/fake-guest-memory.js';

const ECAM = 0x40_1000_0000n;

/** A bus-0 ECAM with the gpex root (1b36:0008) at 00:00.0 and a test function at 00:01.0. */
class FakePci extends FakeMemory {
  /** devfn → config bytes */
  readonly cfg = new Map<number, Uint8Array>();
  /** BAR size probing: devfn → BAR sizes (0 = absent), negative = I/O */
  readonly barSizes = new Map<number, number[]>();

  addFunction(devfn: number, vendor: number, device: number, bars: number[]) {
    const c = new Uint8Array(4096);
    new DataView(c.buffer).setUint16(0, vendor, true);
    new DataView(c.buffer).setUint16(2, device, true);
    c[0x34] = 0x40; // capability list: 0x40 (id 0x05) → 0x50 (id 0x11) → end
    c[0x40] = 0x05;
    c[0x41] = 0x50;
    c[0x50] = 0x11;
    this.cfg.set(devfn, c);
    this.barSizes.set(devfn, bars);
  }

  override async read(a: bigint, size: number) {
    if (a >= ECAM && a < ECAM + 0x1000_0000n) {
      this.log.push(`read 0x${a.toString(16)} 0x${size.toString(16)}`);
      const off = Number(a - ECAM);
      const c = this.cfg.get(off >> 12);
      return c ? c.slice(off & 0xfff, (off & 0xfff) + size) : new Uint8Array(size).fill(0xff);
    }
    return super.read(a, size);
  }

  override async write(a: bigint, data: Uint8Array) {
    if (a >= ECAM && a < ECAM + 0x1000_0000n) {
      this.log.push(`write 0x${a.toString(16)} 0x${data.length.toString(16)} 0x${Buffer.from(data).toString('hex')}`);
      const off = Number(a - ECAM);
      const devfn = off >> 12;
      const reg = off & 0xfff;
      const c = this.cfg.get(devfn);
      if (!c) return;
      c.set(data, reg);
      const dv = new DataView(c.buffer);
      if (reg === 0x04) dv.setUint16(4, dv.getUint16(4, true) & 0x0407, true); // COMMAND write mask
      if (reg >= 0x10 && reg < 0x28 && data.length === 4) {
        const size = this.barSizes.get(devfn)![(reg - 0x10) / 4] ?? 0;
        const v = dv.getUint32(reg, true);
        const io = size < 0;
        const s = Math.abs(size);
        dv.setUint32(reg, s === 0 ? 0 : ((v & ~(s - 1)) | (io ? 1 : 0)) >>> 0, true);
      }
      return;
    }
    return super.write(a, data);
  }
}

function makeBus() {
  const m = new FakePci();
  m.addFunction(0, 0x1b36, 0x0008, []);
  m.addFunction(8, 0x1b36, 0x0005, [0x1000, -0x100, 0, 0x10000]);
  return { m, bus: new PciBus(m) };
}

t.test('scan and findDevice probe all 256 devfns on bus 0 through ECAM reads', async (t) => {
  const { m, bus } = makeBus();
  t.equal(bus.configAddress(8, 0x10), 0x4010008010n);
  const all = await bus.scan();
  t.same(all, [
    { devfn: 0, vendorId: 0x1b36, deviceId: 0x0008 },
    { devfn: 8, vendorId: 0x1b36, deviceId: 0x0005 },
  ]);
  t.equal(m.log.filter((l) => l.endsWith(' 0x2') && l.startsWith('read')).length, 256 + 2);
  t.equal(m.log[8], 'read 0x4010008000 0x2');
  t.same(await bus.findDevice(0x1b36, 0x0005), { devfn: 8, vendorId: 0x1b36, deviceId: 0x0005 });
  t.equal(await bus.findDevice(0x1af4, 0x1000), undefined);
  t.equal((await bus.findDevices(0x1b36, -1)).length, 2);
});

t.test('enable sets IO|MEMORY|MASTER with a 16-bit write and checks it stuck', async (t) => {
  const { m, bus } = makeBus();
  m.log.length = 0;
  await bus.enable(8);
  t.same(m.log, ['read 0x4010008004 0x2', 'write 0x4010008004 0x2 0x0700', 'read 0x4010008004 0x2']);
  m.cfg.delete(0);
  m.addFunction(0, 0x1b36, 0x0008, []);
  const c = m.cfg.get(0)!;
  const real = m.write.bind(m);
  m.write = async (a, d) => {
    await real(a, d);
    if (a === 0x4010000004n) c[4] = 0x06; // IO bit does not stick
  };
  await t.rejects(bus.enable(0), /COMMAND reads 0x6/);
});

t.test('mapBar sizes with all-ones, allocates aligned and writes only the low dword (qpci_iomap)', async (t) => {
  const { m, bus } = makeBus();
  m.log.length = 0;
  const bar0 = await bus.mapBar(8, 0);
  t.same(bar0, { devfn: 8, index: 0, addr: 0x1000_0000n, size: 0x1000n, isIo: false });
  t.same(m.log, ['write 0x4010008010 0x4 0xffffffff', 'read 0x4010008010 0x4', 'write 0x4010008010 0x4 0x00000010']);
  const bar1 = await bus.mapBar(8, 1);
  t.same(bar1, { devfn: 8, index: 1, addr: 0n, size: 0x100n, isIo: true });
  t.equal(m.log.at(-1), 'write 0x4010008014 0x4 0x01000000', 'I/O BAR: port | 1');
  await t.rejects(bus.mapBar(8, 2), /not implemented/);
  const bar3 = await bus.mapBar(8, 3);
  t.equal(bar3.addr, 0x1001_0000n, 'next MMIO allocation aligned to its 64 KiB size');

  // accessors: MMIO through read/write (LE), I/O through readX/writeX at 0x3eff0000 + port
  m.log.length = 0;
  await bus.barWritel(bar0, 0x14, 1);
  await bus.barReadl(bar0, 0x10);
  await bus.barWritew(bar1, 0x2, 0xbeef);
  await bus.barReadb(bar1, 0x4);
  t.same(m.log, [
    'write 0x10000014 0x4 0x01000000',
    'read 0x10000010 0x4',
    'writew 0x3eff0002 0xbeef',
    'readb 0x3eff0004',
  ]);
  m.store(0x1000_0010n, 4, 0xfffffffen);
  t.equal(await bus.barReadl(bar0, 0x10), 0xfffffffe);
});

t.test('the MMIO pool ends at 0x2eff0000', async (t) => {
  const m = new FakePci();
  m.addFunction(8, 0x1b36, 0x0005, [0x1000_0000, 0x1000_0000]);
  const bus = new PciBus(m, { ...VIRT_PCI_LAYOUT, mmioStart: 0x1000_0000n });
  t.equal((await bus.mapBar(8, 0)).addr, 0x1000_0000n);
  await t.rejects(bus.mapBar(8, 1), /does not fit the mmio window/);
});

t.test('findCapability follows the list from 0x34', async (t) => {
  const { bus } = makeBus();
  t.equal(await bus.findCapability(8, 0x11), 0x50);
  t.equal(await bus.findCapability(8, 0x05), 0x40);
  t.equal(await bus.findCapability(8, 0x10), 0);
});
