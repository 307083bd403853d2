/**
 * PCI helpers that behave like libqos's generic PCI host on the `virt` machine
 * (docs/libqtest.md#libqos-pci-on-virt): ECAM at 0x40_1000_0000, bus 0 only, config space through the
 * `read`/`write` commands (little-endian converted here), MMIO BARs allocated upward from
 * 0x10000000 (must end ≤ 0x2eff0000) and accessed with `read`/`write`, I/O BARs allocated from
 * port 0 (limit 0x10000) and accessed with readX/writeX at CPU 0x3eff0000 + port. Like
 * qpci_iomap, BAR mapping writes only the low dword. No bridges, MSI-X or expansion ROMs.
 */
import { bigintToLe, leToBigint } from './guest-memory.js';
import type { GuestMemory } from './guest-memory.js';
import { PCI_CFG, PCI_COMMAND } from '../pci/config-space.js';

/** libqos's view of the virt PCIe host (qpci_init_generic, generic-pcihost.c). */
export const VIRT_PCI_LAYOUT = {
  ecamBase: 0x40_1000_0000n,
  mmioStart: 0x1000_0000n,
  /** An MMIO allocation must end at or below this absolute address. */
  mmioLimit: 0x2eff_0000n,
  /** CPU address of PCI I/O port 0. */
  pioCpuBase: 0x3eff_0000n,
  pioStart: 0n,
  pioLimit: 0x1_0000n,
} as const;

export type PciLayout = { readonly [K in keyof typeof VIRT_PCI_LAYOUT]: bigint };

export { PCI_CFG, PCI_COMMAND };

export interface PciDevice {
  /** slot·8 + function on bus 0. */
  devfn: number;
  vendorId: number;
  deviceId: number;
}

export interface PciBar {
  devfn: number;
  index: number;
  /** PCI address (= CPU address for MMIO; port number for I/O). */
  addr: bigint;
  size: bigint;
  isIo: boolean;
}

type DevRef = PciDevice | number;
const devfnOf = (d: DevRef): number => (typeof d === 'number' ? d : d.devfn);

export class PciBus {
  private mmioNext: bigint;
  private pioNext: bigint;

  constructor(
    private readonly mem: GuestMemory,
    readonly layout: PciLayout = VIRT_PCI_LAYOUT,
  ) {
    this.mmioNext = layout.mmioStart;
    this.pioNext = layout.pioStart;
  }

  /** ECAM address of a bus-0 config register. */
  configAddress(dev: DevRef, offset: number): bigint {
    const devfn = devfnOf(dev);
    if (!Number.isInteger(devfn) || devfn < 0 || devfn > 255) throw new RangeError(`devfn ${devfn} is outside 0..255`);
    if (!Number.isInteger(offset) || offset < 0 || offset > 0xfff)
      throw new RangeError(`config offset ${offset} is outside 0..0xfff`);
    return this.layout.ecamBase + (BigInt(devfn) << 12n) + BigInt(offset);
  }

  private async cfgRead(dev: DevRef, offset: number, size: 1 | 2 | 4): Promise<number> {
    return Number(leToBigint(await this.mem.read(this.configAddress(dev, offset), size)));
  }

  private async cfgWrite(dev: DevRef, offset: number, size: 1 | 2 | 4, value: number): Promise<void> {
    await this.mem.write(this.configAddress(dev, offset), bigintToLe(BigInt(value >>> 0), size));
  }

  configReadb(dev: DevRef, offset: number): Promise<number> {
    return this.cfgRead(dev, offset, 1);
  }
  configReadw(dev: DevRef, offset: number): Promise<number> {
    return this.cfgRead(dev, offset, 2);
  }
  configReadl(dev: DevRef, offset: number): Promise<number> {
    return this.cfgRead(dev, offset, 4);
  }
  configWriteb(dev: DevRef, offset: number, value: number): Promise<void> {
    return this.cfgWrite(dev, offset, 1, value);
  }
  configWritew(dev: DevRef, offset: number, value: number): Promise<void> {
    return this.cfgWrite(dev, offset, 2, value);
  }
  configWritel(dev: DevRef, offset: number, value: number): Promise<void> {
    return this.cfgWrite(dev, offset, 4, value);
  }

  /** Every present function on bus 0 (vendor ID ≠ 0xffff), probing all 256 devfns like libqos. */
  async scan(): Promise<PciDevice[]> {
    const vendors = await Promise.all(
      Array.from({ length: 256 }, (_, devfn) => this.configReadw(devfn, PCI_CFG.VENDOR_ID)),
    );
    const present = vendors.flatMap((v, devfn) => (v === 0xffff ? [] : [{ devfn, vendorId: v }]));
    const ids = await Promise.all(present.map((p) => this.configReadw(p.devfn, PCI_CFG.DEVICE_ID)));
    return present.map((p, i) => ({ ...p, deviceId: ids[i] }));
  }

  /** Functions matching vendor/device (−1 = any), in devfn order (qpci_device_foreach). */
  async findDevices(vendorId: number, deviceId: number): Promise<PciDevice[]> {
    return (await this.scan()).filter(
      (d) => (vendorId === -1 || d.vendorId === vendorId) && (deviceId === -1 || d.deviceId === deviceId),
    );
  }

  async findDevice(vendorId: number, deviceId: number): Promise<PciDevice | undefined> {
    return (await this.findDevices(vendorId, deviceId))[0];
  }

  /** COMMAND |= IO|MEMORY|MASTER, then check all three stuck (qpci_device_enable). */
  async enable(dev: DevRef): Promise<void> {
    const all = PCI_COMMAND.IO | PCI_COMMAND.MEMORY | PCI_COMMAND.MASTER;
    const cmd = await this.configReadw(dev, PCI_CFG.COMMAND);
    await this.configWritew(dev, PCI_CFG.COMMAND, cmd | all);
    const after = await this.configReadw(dev, PCI_CFG.COMMAND);
    if ((after & all) !== all) {
      throw new Error(`PCI ${devfnOf(dev)}: COMMAND reads 0x${after.toString(16)} after setting IO|MEMORY|MASTER`);
    }
  }

  /**
   * Size BAR n by writing all-ones, allocate a size-aligned range in the PIO or MMIO pool, and
   * write the BAR's low dword (qpci_iomap). Throws if the BAR is absent or the pool is exhausted.
   */
  async mapBar(dev: DevRef, n: number): Promise<PciBar> {
    if (!Number.isInteger(n) || n < 0 || n > 5) throw new RangeError(`BAR index ${n} is outside 0..5`);
    const reg = PCI_CFG.BAR0 + 4 * n;
    await this.configWritel(dev, reg, 0xffffffff);
    const probe = await this.configReadl(dev, reg);
    const isIo = (probe & 1) === 1;
    const mask = BigInt(probe >>> 0) & (isIo ? ~3n : ~0xfn) & 0xffffffffn;
    if (mask === 0n)
      throw new Error(`PCI ${devfnOf(dev)}: BAR${n} is not implemented (reads 0x${(probe >>> 0).toString(16)})`);
    const size = mask & -mask;
    const pool = isIo ? 'pio' : 'mmio';
    const next = isIo ? this.pioNext : this.mmioNext;
    const limit = isIo ? this.layout.pioLimit : this.layout.mmioLimit;
    const addr = (next + size - 1n) & ~(size - 1n);
    if (addr + size > limit)
      throw new Error(`PCI ${devfnOf(dev)}: BAR${n} (0x${size.toString(16)} bytes) does not fit the ${pool} window`);
    if (isIo) this.pioNext = addr + size;
    else this.mmioNext = addr + size;
    await this.configWritel(dev, reg, Number(addr | (isIo ? 1n : 0n)));
    return { devfn: devfnOf(dev), index: n, addr, size, isIo };
  }

  /** Capability offset with `id`, following the list from 0x34 (qpci_find_capability), or 0. */
  async findCapability(dev: DevRef, id: number): Promise<number> {
    let ptr = (await this.configReadb(dev, PCI_CFG.CAPABILITY_LIST)) & ~3;
    for (let guard = 0; ptr !== 0 && guard < 48; guard++) {
      if ((await this.configReadb(dev, ptr)) === id) return ptr;
      ptr = (await this.configReadb(dev, ptr + 1)) & ~3;
    }
    return 0;
  }

  // ---- BAR access (qpci_io_read*/write*) ------------------------------------------------

  private async barRead(bar: PciBar, offset: number, size: 1 | 2 | 4 | 8): Promise<bigint> {
    if (bar.isIo) {
      const a = this.layout.pioCpuBase + bar.addr + BigInt(offset);
      return size === 1
        ? this.mem.readb(a)
        : size === 2
          ? this.mem.readw(a)
          : size === 4
            ? this.mem.readl(a)
            : this.mem.readq(a);
    }
    return leToBigint(await this.mem.read(bar.addr + BigInt(offset), size));
  }

  private async barWrite(bar: PciBar, offset: number, size: 1 | 2 | 4 | 8, value: bigint): Promise<void> {
    if (bar.isIo) {
      const a = this.layout.pioCpuBase + bar.addr + BigInt(offset);
      const w =
        size === 1 ? this.mem.writeb : size === 2 ? this.mem.writew : size === 4 ? this.mem.writel : this.mem.writeq;
      return w.call(this.mem, a, value);
    }
    return this.mem.write(bar.addr + BigInt(offset), bigintToLe(value, size));
  }

  async barReadb(bar: PciBar, offset: number): Promise<number> {
    return Number(await this.barRead(bar, offset, 1));
  }
  async barReadw(bar: PciBar, offset: number): Promise<number> {
    return Number(await this.barRead(bar, offset, 2));
  }
  async barReadl(bar: PciBar, offset: number): Promise<number> {
    return Number(await this.barRead(bar, offset, 4));
  }
  barReadq(bar: PciBar, offset: number): Promise<bigint> {
    return this.barRead(bar, offset, 8);
  }
  barWriteb(bar: PciBar, offset: number, value: number): Promise<void> {
    return this.barWrite(bar, offset, 1, BigInt(value >>> 0));
  }
  barWritew(bar: PciBar, offset: number, value: number): Promise<void> {
    return this.barWrite(bar, offset, 2, BigInt(value >>> 0));
  }
  barWritel(bar: PciBar, offset: number, value: number): Promise<void> {
    return this.barWrite(bar, offset, 4, BigInt(value >>> 0));
  }
  barWriteq(bar: PciBar, offset: number, value: bigint): Promise<void> {
    return this.barWrite(bar, offset, 8, value);
  }
}
