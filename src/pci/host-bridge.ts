/**
 * The GPEX PCIe host bridge of `virt`: root bus `pcie.0` with the host function at 00:00.0
 * (1b36:0008), the ECAM window, BAR decoding into the PCI memory and I/O spaces (pci_bar_address
 * rules, allow-0-address as on virt), INTx routing with virt's swizzle onto SPIs 3..6, slot
 * assignment as QEMU does it (first free slot, or addr=S[.F]), and each function's DMA view
 * (through the IOMMU when one protects the bus). Does not model bridges behind the root bus,
 * ECAM buses other than 0, expansion ROMs or PCIe extended capabilities.
 */
import type { VirtualClock } from '../machine/clock.js';
import { IrqLine, IrqOrGate } from '../machine/irq.js';
import type { Logger } from '../log.js';
import { AddressSpace } from '../memory/address-space.js';
import { DmaView } from '../memory/dma-view.js';
import type { Iommu } from '../memory/dma-view.js';
import type { AccessSize, BusAccess, IoRegion } from '../memory/types.js';
import { PCI_CFG, PCI_COMMAND, PCI_STATUS } from './config-space.js';
import { PciDevice } from './pci-device.js';
import type { PciBar } from './pci-device.js';
import { devfnOf, funcOf, slotOf } from './requester-id.js';

/** A region that reads all-ones and ignores writes (gpex's unassigned MMIO/PIO windows). */
export function allOnesRegion(name: string, size: bigint): IoRegion {
  return {
    kind: 'io',
    name,
    size,
    read: (_off: bigint, sz: AccessSize) => (1n << BigInt(sz * 8)) - 1n,
    write: () => {},
  };
}

/** The host function at 00:00.0 (QEMU gpex-root). */
export class GpexRoot extends PciDevice {
  readonly typeName = 'gpex-root';
  constructor() {
    super();
    this.config.setIdentity({ vendor: 0x1b36, device: 0x0008, classCode: 0x0600 });
  }
}

export interface PciHostOptions {
  /** System memory: DMA target of every function. */
  memory: BusAccess;
  /** IOMMU protecting pcie.0, if any (virt,iommu=smmuv3). */
  iommu?: Iommu;
  /** The four host INTx lines (INTA..INTD of the bridge), e.g. GIC SPIs 3..6. */
  intxLines: IrqLine[];
  clock: VirtualClock;
  log: Logger;
}

interface Plugged {
  device: PciDevice;
  intxLevel: number;
  mappedBars: Map<PciBar, bigint>;
}

export class PlugError extends Error {}

export class PciHost {
  /** PCI memory space (BARs); windows of the system map alias into it. */
  readonly pciMemory = new AddressSpace('gpex_mmio');
  /** PCI I/O space (I/O BARs); the PIO window aliases into it. */
  readonly pciIo = new AddressSpace('gpex_ioport');
  readonly ecam: IoRegion;
  readonly root = new GpexRoot();
  private readonly slots = new Map<number, Plugged>();
  private readonly intxGates: IrqOrGate[];

  constructor(private readonly opts: PciHostOptions) {
    this.pciMemory.map(0n, allOnesRegion('gpex_mmio_window', 1n << 64n), -1);
    this.pciIo.map(0n, allOnesRegion('gpex_ioport_window', 0x10000n), -1);
    this.intxGates = opts.intxLines.map((l) => new IrqOrGate(l));
    this.ecam = this.makeEcam();
    this.plug(this.root, 0);
  }

  /** Devices in devfn order. */
  devices(): PciDevice[] {
    return [...this.slots.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p.device);
  }

  deviceAt(devfn: number): PciDevice | undefined {
    return this.slots.get(devfn)?.device;
  }

  /** First free slot with function 0 (QEMU's automatic devfn). */
  freeDevfn(): number | undefined {
    for (let slot = 0; slot < 32; slot++) {
      const devfn = devfnOf(slot, 0);
      if (!this.slots.has(devfn)) return devfn;
    }
    return undefined;
  }

  /** Plug `device` at `devfn` (or the first free slot); throws PlugError with QEMU's wording. */
  plug(device: PciDevice, devfn?: number): void {
    const at = devfn ?? this.freeDevfn();
    if (at === undefined) throw new PlugError(`PCI: no slot/function available for ${device.typeName}, all in use or reserved`);
    const taken = this.slots.get(at);
    if (taken) {
      const who = `${taken.device.typeName},id=${taken.device.id ?? '(null)'}`;
      throw new PlugError(`PCI: slot ${slotOf(at)} function ${funcOf(at)} not available for ${device.typeName}, in use by ${who}`);
    }
    device.devfn = at;
    const entry: Plugged = { device, intxLevel: 0, mappedBars: new Map() };
    this.slots.set(at, entry);
    const dma = new DmaView({
      memory: this.opts.memory,
      iommu: this.opts.iommu,
      requesterId: () => device.requesterId(),
      busMasterEnabled: () => device.busMasterEnabled,
    });
    const iommuView = this.opts.iommu
      ? new DmaView({ memory: this.opts.memory, iommu: this.opts.iommu, requesterId: () => device.requesterId(), busMasterEnabled: () => true })
      : this.opts.memory;
    device.attach({
      dma,
      iommu: iommuView,
      memory: this.opts.memory,
      clock: this.opts.clock,
      log: this.opts.log.child({ device: device.id ?? device.typeName, devfn: at }),
      setIntx: (level) => this.setIntx(entry, level),
    });
  }

  /** Remove a device (device_del): unmap its BARs, drop its INTx contribution. */
  unplug(device: PciDevice): void {
    const entry = this.slots.get(device.devfn);
    if (!entry || entry.device !== device) return;
    this.setIntx(entry, 0);
    for (const bar of entry.mappedBars.keys()) this.spaceFor(bar).unmap(bar.region);
    device.unrealize();
    this.slots.delete(device.devfn);
  }

  /** system_reset of every function: config header, BARs, INTx, then device state. */
  reset(): void {
    for (const entry of this.slots.values()) {
      const wasDisabled = this.intxDisabled(entry.device);
      entry.device.reset();
      this.afterConfigWrite(entry, wasDisabled);
    }
  }

  private pin(device: PciDevice): number {
    return device.config.get(PCI_CFG.INTERRUPT_PIN, 1);
  }

  /** virt's swizzle: host line (slot + pin - 1) mod 4. */
  private hostLine(device: PciDevice): number {
    return (slotOf(device.devfn) + this.pin(device) - 1) % 4;
  }

  intxDisabled(device: PciDevice): boolean {
    return (device.command & PCI_COMMAND.INTX_DISABLE) !== 0;
  }

  private setIntx(entry: Plugged, level: number): void {
    const lvl = level ? 1 : 0;
    if (entry.intxLevel === lvl) return;
    entry.intxLevel = lvl;
    const cfg = entry.device.config;
    const status = cfg.get(PCI_CFG.STATUS, 2);
    cfg.set(PCI_CFG.STATUS, 2, lvl ? status | PCI_STATUS.INTERRUPT : status & ~PCI_STATUS.INTERRUPT);
    if (this.intxDisabled(entry.device) || this.pin(entry.device) === 0) return;
    this.intxGates[this.hostLine(entry.device)].set(entry, lvl);
  }

  /**
   * Re-evaluate BAR mappings and the INTx mask after a config write (pci_default_write_config).
   * A change of COMMAND.INTX_DISABLE re-drives the host lines of all four pins of the function
   * (pci_update_irq_disabled), which qtest sees even when no level changes (observed on 10.2.2).
   */
  private afterConfigWrite(entry: Plugged, intxWasDisabled: boolean): void {
    this.updateMappings(entry);
    const disabled = this.intxDisabled(entry.device);
    if (disabled === intxWasDisabled) return;
    for (let pin = 1; pin <= 4; pin++) {
      const gate = this.intxGates[(slotOf(entry.device.devfn) + pin - 1) % 4];
      if (pin === this.pin(entry.device)) gate.set(entry, disabled ? 0 : entry.intxLevel);
      else gate.redrive();
    }
  }

  private spaceFor(bar: PciBar): AddressSpace {
    return bar.kind === 'io' ? this.pciIo : this.pciMemory;
  }

  /** QEMU pci_bar_address(): where a BAR decodes, or undefined when unmapped. */
  barAddress(device: PciDevice, bar: PciBar): bigint | undefined {
    const cmd = device.command;
    const size = bar.size;
    if (bar.kind === 'io') {
      if (!(cmd & PCI_COMMAND.IO)) return undefined;
      const addr = device.barRegisterValue(bar) & ~(size - 1n) & 0xffff_ffffn;
      const last = addr + size - 1n;
      if (last <= addr || last >= 0xffff_ffffn) return undefined;
      return addr;
    }
    if (!(cmd & PCI_COMMAND.MEMORY)) return undefined;
    const addr = device.barRegisterValue(bar) & ~(size - 1n);
    const last = addr + size - 1n;
    if (last <= addr || last === (1n << 64n) - 1n) return undefined;
    if (bar.kind === 'mem32' && last >= 0xffff_ffffn) return undefined;
    return addr;
  }

  private updateMappings(entry: Plugged): void {
    for (const bar of entry.device.bars) {
      const want = this.barAddress(entry.device, bar);
      const have = entry.mappedBars.get(bar);
      if (want === have) continue;
      const space = this.spaceFor(bar);
      if (have !== undefined) {
        space.unmap(bar.region);
        entry.mappedBars.delete(bar);
      }
      if (want !== undefined) {
        space.map(want, bar.region, 1);
        entry.mappedBars.set(bar, want);
      }
    }
  }

  /** Where each BAR of `device` is mapped now (for info pci / query-pci). */
  mappedBar(device: PciDevice, bar: PciBar): bigint | undefined {
    return this.slots.get(device.devfn)?.mappedBars.get(bar);
  }

  private makeEcam(): IoRegion {
    const host = this;
    return {
      kind: 'io',
      name: 'pcie-mmcfg-mmio',
      size: 0x1000_0000n,
      read(offset: bigint, size: AccessSize): bigint {
        const ones = (1n << BigInt(size * 8)) - 1n;
        const { entry, reg } = host.decodeEcam(offset);
        if (!entry) return ones;
        const limit = entry.device.config.size;
        if (reg >= limit) return ones;
        const len = Math.min(size, limit - reg) as 1 | 2 | 4;
        return BigInt(entry.device.configRead(reg, len));
      },
      write(offset: bigint, size: AccessSize, value: bigint): void {
        const { entry, reg } = host.decodeEcam(offset);
        if (!entry) return;
        const limit = entry.device.config.size;
        if (reg >= limit) return;
        const len = Math.min(size, limit - reg) as 1 | 2 | 4;
        const wasDisabled = host.intxDisabled(entry.device);
        entry.device.configWrite(reg, len, Number(value & 0xffff_ffffn));
        host.afterConfigWrite(entry, wasDisabled);
      },
    };
  }

  private decodeEcam(offset: bigint): { entry?: Plugged; reg: number } {
    const bus = Number(offset >> 20n) & 0xff;
    const devfn = Number(offset >> 12n) & 0xff;
    const reg = Number(offset & 0xfffn);
    if (bus !== 0) return { reg };
    return { entry: this.slots.get(devfn), reg };
  }
}
