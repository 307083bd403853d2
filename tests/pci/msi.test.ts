// Expected layouts and masks follow QEMU msi_init/msi_write_config/msi_reset; the edu values were
// read on QEMU 10.2.2 (edu-msi-busmaster.txt and the oracle: address low mask 0xfffffffc, QME clamp).
import t from 'tap';
import { AddressSpace } from '../../src/memory/address-space.js';
import { SparseRam } from '../../src/memory/sparse-ram.js';
import { ConfigSpace } from '../../src/pci/config-space.js';
import { MsiCapability, msiLayout } from '../../src/pci/msi.js';
import type { MsiOptions } from '../../src/pci/msi.js';

function make(opts: Partial<MsiOptions> = {}) {
  const config = new ConfigSpace();
  const msi = new MsiCapability(config, { offset: 0x40, vectors: 1, is64bit: true, perVectorMask: false, ...opts });
  const memory = new AddressSpace('mem');
  memory.map(0x40000000n, new SparseRam('ram', 1n << 24n));
  let intxLowered = 0;
  const write = (off: number, len: 1 | 2 | 4, value: number) => {
    config.guestWrite(off, len, value);
    msi.configWritten(off, len, { deassertIntx: () => intxLowered++, dma: () => memory });
  };
  const bytes = (addr: bigint, n: number) => {
    const b = new Uint8Array(n);
    memory.readBytes(addr, b);
    return Buffer.from(b).toString('hex');
  };
  return { config, msi, memory, write, bytes, intx: () => intxLowered };
}

t.test('lays out the four variants like msi_cap_sizeof', async (t) => {
  t.same(msiLayout(false, false), { flags: 2, addressLo: 4, data: 8, size: 0x0a });
  t.same(msiLayout(true, false), { flags: 2, addressLo: 4, addressHi: 8, data: 0x0c, size: 0x0e });
  t.same(msiLayout(false, true), { flags: 2, addressLo: 4, data: 8, mask: 0x0c, pending: 0x10, size: 0x14 });
  t.same(msiLayout(true, true), {
    flags: 2,
    addressLo: 4,
    addressHi: 8,
    data: 0x0c,
    mask: 0x10,
    pending: 0x14,
    size: 0x18,
  });
});

t.test('advertises the capability as edu does (0x00800005, pointer 0x40, CAP_LIST)', async (t) => {
  const { config } = make();
  t.equal(config.get(0x40, 4), 0x00800005);
  t.equal(config.get(0x34, 1), 0x40);
  t.equal(config.get(0x06, 2) & 0x10, 0x10);
});

t.test('applies the write masks of control, address and data', async (t) => {
  const { config, write } = make();
  write(0x48, 4, 0xffffffff);
  t.equal(config.get(0x48, 4), 0xffffffff);
  write(0x44, 4, 0xffffffff);
  t.equal(config.get(0x44, 4), 0xfffffffc);
  write(0x4c, 4, 0xffffffff);
  t.equal(config.get(0x4c, 4), 0xffffffff, 'data is 16 bits; 0x4e..0x4f lie past the capability');
  write(0x40, 4, 0xffffffff);
  t.equal(config.get(0x40, 4), 0x00810005, 'only ENABLE and QSIZE writable, QSIZE clamped to QMMC');
});

t.test('deasserts INTx on any capability write while enabled, not otherwise', async (t) => {
  const { write, intx } = make();
  write(0x4c, 2, 0x1234);
  t.equal(intx(), 0);
  write(0x42, 2, 0x0001);
  t.equal(intx(), 1);
  write(0x4c, 2, 0x1);
  t.equal(intx(), 2);
  write(0x3c, 1, 5);
  t.equal(intx(), 2, 'outside the capability');
});

t.test('clamps QME to QMMC', async (t) => {
  const { config, write } = make({ vectors: 4 });
  write(0x42, 2, 0x0071);
  t.equal(config.get(0x42, 2), 0x0080 | (2 << 1) | (2 << 4) | 1);
});

t.test('notify stores the 16-bit data as 4 LE bytes at the 64-bit address', async (t) => {
  const { msi, write, memory, bytes } = make();
  write(0x44, 4, 0x40300000);
  write(0x48, 4, 0);
  write(0x4c, 2, 0xabcd);
  write(0x42, 2, 1);
  t.equal(msi.enabled, true);
  memory.writeBytes(0x40300000n, Buffer.from('ffffffffffff', 'hex'));
  msi.notify(memory, 0);
  t.equal(bytes(0x40300000n, 6), 'cdab0000ffff');
});

t.test('a 32-bit capability places data at +8', async (t) => {
  const { config, msi, write, memory, bytes } = make({ is64bit: false });
  t.equal(config.get(0x40, 4), 0x00000005);
  write(0x44, 4, 0x40001000);
  write(0x48, 2, 0x4321);
  write(0x42, 2, 1);
  t.same(msi.message(0), { address: 0x40001000n, data: 0x4321 });
  msi.notify(memory, 0);
  t.equal(bytes(0x40001000n, 4), '21430000');
});

t.test('multi-vector messages put the vector in the low data bits', async (t) => {
  const { msi, write } = make({ vectors: 4 });
  write(0x4c, 2, 0x1237);
  write(0x42, 2, 0x0021); // QME = 2 (4 vectors), enable
  t.equal(msi.message(3).data, (0x1237 & ~3) | 3);
  t.equal(msi.message(1).data, 0x1235);
});

t.test('per-vector mask: masked vectors become pending and are sent on unmask', async (t) => {
  const { config, msi, write, memory, bytes } = make({ vectors: 2, perVectorMask: true });
  t.equal(config.get(0x42, 2), 0x0180 | (1 << 1));
  write(0x44, 4, 0x40002000);
  write(0x4c, 2, 0x50);
  write(0x50, 4, 0xffffffff);
  t.equal(config.get(0x50, 4), 0x3, 'mask writable for 2 vectors');
  write(0x42, 2, 0x0011);
  msi.notify(memory, 1);
  t.equal(bytes(0x40002000n, 4), '00000000', 'nothing sent while masked');
  t.equal(config.get(0x54, 4), 0x2, 'pending bit set');
  write(0x54, 4, 0);
  t.equal(config.get(0x54, 4), 0x2, 'pending is read-only');
  write(0x50, 4, 0x1);
  t.equal(config.get(0x54, 4), 0, 'delivered');
  t.equal(bytes(0x40002000n, 4), '51000000');
});

t.test('reset disables MSI and zeroes address and data', async (t) => {
  const { config, msi, write } = make();
  write(0x44, 4, 0x40300000);
  write(0x48, 4, 0x1);
  write(0x4c, 4, 0xffffffff);
  write(0x42, 2, 1);
  msi.reset();
  t.equal(config.get(0x40, 4), 0x00800005);
  t.equal(config.get(0x44, 4), 0);
  t.equal(config.get(0x48, 4), 0);
  t.equal(config.get(0x4c, 4), 0xffff0000);
});
