/**
 * The GPEX PCIe host bridge of `virt`: root bus `pcie.0` with the host function at 00:00.0
 * (1b36:0008), the ECAM window, BAR decoding into the PCI memory and I/O spaces (pci_bar_address
 * rules, allow-0-address as on virt), INTx routing with virt's swizzle onto SPIs 3..6, slot
 * assignment as QEMU does it (first free slot, or addr=S[.F]), and each function's DMA view
 * (through the IOMMU when one protects the bus). Bridges (pci-bridge.ts) each own a secondary bus:
 * ECAM accesses reach it by bus number (pci_find_bus_nr), BARs behind a bridge decode only inside
 * its forwarding windows, INTx is swizzled at every level, StreamIDs are bus << 8 | devfn, and
 * slot power gates the functions behind it. Does not model expansion ROMs, VGA/ISA bridge
 * control, or I/O windows with 32-bit decoding beyond what the registers say.
 */
import type { VirtualClock } from '../sim/clock.js';
import { IrqLine, IrqOrGate } from '../sim/irq.js';
import type { Logger } from '../base/log.js';
import { AddressSpace } from '../memory/address-space.js';
import { DmaView } from '../memory/dma-view.js';
import type { Iommu } from '../memory/dma-view.js';
import type { AccessSize, BusAccess, IoRegion, RamRegion } from '../memory/types.js';
import { PCI_CFG, PCI_COMMAND, PCI_STATUS } from './config-space.js';
import { PciBridgeDevice } from './pci-bridge.js';
import type { BridgeWindow } from './pci-bridge.js';
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

/** Where a BAR is mapped: its address (what query-pci reports) and the visible pieces. */
interface MappedBar {
  addr: bigint;
  key: string;
  pieces: Array<IoRegion | RamRegion>;
}

interface Plugged {
  device: PciDevice;
  bus: PciBus;
  intxLevel: number;
  mappedBars: Map<PciBar, MappedBar>;
  /** pci_set_enabled: false while the slot feeding the function is powered off. */
  enabled: boolean;
  hotplugged: boolean;
}

export class PlugError extends Error {}

/** One PCI bus: `pcie.0`, or the secondary bus of a bridge (named after the bridge's id). */
export class PciBus {
  readonly slots = new Map<number, Plugged>();
  /** Bridges plugged on this bus, most recent first (QEMU's bus->child list order). */
  readonly childBridges: PciBridgeDevice[] = [];
  constructor(
    readonly name: string,
    readonly bridge?: PciBridgeDevice,
  ) {}

  /** pci_bus_num. */
  get number(): number {
    return this.bridge ? this.bridge.secondaryBus : 0;
  }

  devices(): PciDevice[] {
    return [...this.slots.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p.device);
  }
}

/** A view of part of a BAR region (the part a bridge window lets through). */
function subRegion(region: IoRegion | RamRegion, delta: bigint, size: bigint): IoRegion | RamRegion {
  if (region.kind === 'ram') {
    return {
      kind: 'ram',
      name: region.name,
      size,
      readBytes: (off, out) => region.readBytes(off + delta, out),
      writeBytes: (off, data) => region.writeBytes(off + delta, data),
      fill: (off, len, byte) => region.fill(off + delta, len, byte),
    };
  }
  return {
    kind: 'io',
    name: region.name,
    size,
    valid: region.valid,
    impl: region.impl,
    read: (off, sz, attrs) => region.read(off + delta, sz, attrs),
    write: (off, sz, v, attrs) => region.write(off + delta, sz, v, attrs),
  };
}

export class PciHost {
  /** PCI memory space (BARs); windows of the system map alias into it. */
  readonly pciMemory = new AddressSpace('gpex_mmio');
  /** PCI I/O space (I/O BARs); the PIO window aliases into it. */
  readonly pciIo = new AddressSpace('gpex_ioport');
  readonly ecam: IoRegion;
  readonly root = new GpexRoot();
  readonly rootBus = new PciBus('pcie.0');
  private readonly entries = new Map<PciDevice, Plugged>();
  private readonly bridgeBuses = new Map<PciBridgeDevice, PciBus>();
  private readonly intxGates: IrqOrGate[];
  /** Called when functions disappear because of the guest or a slot (not for direct unplug() calls). */
  onRemoved?: (device: PciDevice) => void;

  constructor(private readonly opts: PciHostOptions) {
    this.pciMemory.map(0n, allOnesRegion('gpex_mmio_window', 1n << 64n), -1);
    this.pciIo.map(0n, allOnesRegion('gpex_ioport_window', 0x10000n), -1);
    this.intxGates = opts.intxLines.map((l) => new IrqOrGate(l));
    this.ecam = this.makeEcam();
    this.plug(this.root, 0);
  }

  /** Devices on pcie.0 in devfn order. */
  devices(): PciDevice[] {
    return this.rootBus.devices();
  }

  /** Every plugged function, bus by bus (depth first, as `info pci` walks them). */
  allDevices(): PciDevice[] {
    const out: PciDevice[] = [];
    const walk = (bus: PciBus): void => {
      for (const d of bus.devices()) {
        out.push(d);
        if (d instanceof PciBridgeDevice) walk(this.bridgeBuses.get(d)!);
      }
    };
    walk(this.rootBus);
    return out;
  }

  deviceAt(devfn: number): PciDevice | undefined {
    return this.rootBus.slots.get(devfn)?.device;
  }

  /** The bus a function sits on. */
  busOf(device: PciDevice): PciBus | undefined {
    return this.entries.get(device)?.bus;
  }

  /** A bridge's secondary bus. */
  secondaryBusOf(bridge: PciBridgeDevice): PciBus | undefined {
    return this.bridgeBuses.get(bridge);
  }

  /** A bus by its qdev name (`pcie.0`, or a bridge's id). */
  busByName(name: string): PciBus | undefined {
    if (name === this.rootBus.name) return this.rootBus;
    for (const bus of this.bridgeBuses.values()) if (bus.name === name) return bus;
    return undefined;
  }

  isEnabled(device: PciDevice): boolean {
    return this.entries.get(device)?.enabled ?? false;
  }

  /** First free slot with function 0 (QEMU's automatic devfn). */
  freeDevfn(bus: PciBus = this.rootBus): number | undefined {
    for (let slot = 0; slot < 32; slot++) {
      const devfn = devfnOf(slot, 0);
      if (!bus.slots.has(devfn)) return devfn;
    }
    return undefined;
  }

  /** Plug `device` at `devfn` (or the first free slot) of `bus`; throws PlugError with QEMU's wording. */
  plug(device: PciDevice, devfn?: number, opts: { bus?: PciBus; hotplugged?: boolean } = {}): void {
    const bus = opts.bus ?? this.rootBus;
    const hotplugged = opts.hotplugged ?? false;
    const at = devfn ?? this.freeDevfn(bus);
    if (at === undefined) throw new PlugError(`PCI: no slot/function available for ${device.typeName}, all in use or reserved`);
    const taken = bus.slots.get(at);
    if (taken) {
      const who = `${taken.device.typeName},id=${taken.device.id ?? '(null)'}`;
      throw new PlugError(`PCI: slot ${slotOf(at)} function ${funcOf(at)} not available for ${device.typeName}, in use by ${who}`);
    }
    const pre = bus.bridge?.prePlug(device, hotplugged);
    if (pre !== undefined) throw new PlugError(pre);
    device.devfn = at;
    const entry: Plugged = { device, bus, intxLevel: 0, mappedBars: new Map(), enabled: true, hotplugged };
    bus.slots.set(at, entry);
    this.entries.set(device, entry);
    const dma = new DmaView({
      memory: this.opts.memory,
      iommu: this.opts.iommu,
      requesterId: () => device.requesterId(),
      busMasterEnabled: () => device.busMasterEnabled && entry.enabled,
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
      busNumber: () => entry.bus.number,
    });
    if (device instanceof PciBridgeDevice) this.attachBridge(device, bus);
    bus.bridge?.plugged(device, hotplugged);
  }

  private attachBridge(bridge: PciBridgeDevice, parent: PciBus): void {
    const sec = new PciBus(bridge.id ?? `pcie.${this.bridgeBuses.size + 1}`, bridge);
    this.bridgeBuses.set(bridge, sec);
    parent.childBridges.unshift(bridge);
    bridge.hooks = {
      devices: () => sec.devices(),
      hasFunction0: () => sec.slots.has(0), // pci_get_function_0 behind a PCIe port: devfn 0
      resetBus: () => {
        for (const d of sec.devices()) this.resetTree(this.entries.get(d)!);
      },
      unplugAll: () => {
        for (const d of sec.devices()) {
          this.unplug(d);
          this.onRemoved?.(d);
        }
      },
      setPower: (on) => {
        for (const d of sec.devices()) this.setEnabled(this.entries.get(d)!, on);
      },
    };
  }

  /** Remove a device at once: unmap its BARs, drop its INTx contribution (and everything behind a bridge). */
  unplug(device: PciDevice): void {
    const entry = this.entries.get(device);
    if (!entry) return;
    if (device instanceof PciBridgeDevice) {
      const sec = this.bridgeBuses.get(device)!;
      for (const d of sec.devices()) this.unplug(d);
      this.bridgeBuses.delete(device);
      const i = entry.bus.childBridges.indexOf(device);
      if (i >= 0) entry.bus.childBridges.splice(i, 1);
    }
    this.setIntx(entry, 0);
    for (const [bar, m] of entry.mappedBars) for (const piece of m.pieces) this.spaceFor(bar.kind).unmap(piece);
    entry.mappedBars.clear();
    device.unrealize();
    entry.bus.slots.delete(device.devfn);
    this.entries.delete(device);
  }

  /**
   * device_del of a function: refused on pcie.0 (no hot-plug controller there); behind a bridge the
   * bridge's slot decides. Throws PlugError with QEMU's text.
   */
  requestUnplug(device: PciDevice): 'removed' | 'pending' {
    const entry = this.entries.get(device);
    if (!entry) throw new PlugError(`Device not plugged`);
    const bridge = entry.bus.bridge;
    if (!bridge) throw new PlugError(`Bus '${entry.bus.name}' does not support hotplugging`);
    let outcome: 'removed' | 'pending';
    try {
      outcome = bridge.unplugRequest(device);
    } catch (e) {
      throw new PlugError((e as Error).message);
    }
    if (outcome === 'removed' && this.entries.has(device)) {
      // A function other than 0 removed on its own (multifunction hot-add cancelled).
      this.unplug(device);
      this.onRemoved?.(device);
    }
    return outcome;
  }

  /** Whether a device may be hot-plugged on `bus` (QEMU: the bus has a hot-plug handler). */
  hotpluggable(bus: PciBus): boolean {
    return bus.bridge !== undefined;
  }

  /** system_reset of every function: config header, BARs, INTx, then device state (children first). */
  reset(): void {
    for (const d of this.rootBus.devices()) this.resetTree(this.entries.get(d)!);
  }

  private resetTree(entry: Plugged): void {
    if (entry.device instanceof PciBridgeDevice) {
      const sec = this.bridgeBuses.get(entry.device)!;
      for (const d of sec.devices()) this.resetTree(this.entries.get(d)!);
    }
    this.resetEntry(entry);
  }

  private resetEntry(entry: Plugged): void {
    const wasDisabled = this.intxDisabled(entry.device);
    entry.device.reset();
    this.afterConfigWrite(entry, wasDisabled);
  }

  /** pci_set_enabled: (un)map BARs, gate bus mastering, and reset the function on a change. */
  private setEnabled(entry: Plugged, on: boolean): void {
    if (entry.enabled === on) return;
    entry.enabled = on;
    this.updateMappings(entry);
    this.resetEntry(entry);
  }

  private pin(device: PciDevice): number {
    return device.config.get(PCI_CFG.INTERRUPT_PIN, 1);
  }

  /** The host line a pin (1..4) of a function reaches: swizzled at every bridge, then virt's swizzle. */
  private hostLineFor(entry: Plugged, pin: number): number {
    let irq = pin - 1;
    let e: Plugged | undefined = entry;
    while (e) {
      irq = (slotOf(e.device.devfn) + irq) % 4;
      e = e.bus.bridge ? this.entries.get(e.bus.bridge) : undefined;
    }
    return irq;
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
    this.intxGates[this.hostLineFor(entry, this.pin(entry.device))].set(entry, lvl);
  }

  /**
   * Re-evaluate BAR mappings and the INTx mask after a config write (pci_default_write_config).
   * A change of COMMAND.INTX_DISABLE re-drives the host lines of all four pins of the function
   * (pci_update_irq_disabled), which qtest sees even when no level changes (observed on 10.2.2).
   * A bridge's windows may have changed too: everything behind it is re-evaluated.
   */
  private afterConfigWrite(entry: Plugged, intxWasDisabled: boolean): void {
    this.updateMappings(entry);
    if (entry.device instanceof PciBridgeDevice) this.updateBehind(entry.device);
    const disabled = this.intxDisabled(entry.device);
    if (disabled === intxWasDisabled) return;
    for (let pin = 1; pin <= 4; pin++) {
      const gate = this.intxGates[this.hostLineFor(entry, pin)];
      if (pin === this.pin(entry.device)) gate.set(entry, disabled ? 0 : entry.intxLevel);
      else gate.redrive();
    }
  }

  private updateBehind(bridge: PciBridgeDevice): void {
    const sec = this.bridgeBuses.get(bridge);
    if (!sec) return;
    for (const d of sec.devices()) {
      const e = this.entries.get(d)!;
      this.updateMappings(e);
      if (d instanceof PciBridgeDevice) this.updateBehind(d);
    }
  }

  private spaceFor(kind: PciBar['kind']): AddressSpace {
    return kind === 'io' ? this.pciIo : this.pciMemory;
  }

  /** QEMU pci_bar_address(): where a BAR decodes, or undefined when unmapped. */
  barAddress(device: PciDevice, bar: PciBar): bigint | undefined {
    const entry = this.entries.get(device);
    if (entry && !entry.enabled) return undefined;
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

  /** The ranges [start, end) of a BAR the bridges above it let through to the host's spaces. */
  private visibleRanges(entry: Plugged, bar: PciBar, addr: bigint): Array<[bigint, bigint]> {
    let ranges: Array<[bigint, bigint]> = [[addr, addr + bar.size]];
    let bridge = entry.bus.bridge;
    while (bridge && ranges.length) {
      const windows: BridgeWindow[] = bridge.forwardingWindows(bar.kind === 'io' ? 'io' : 'memory');
      const next: Array<[bigint, bigint]> = [];
      for (const [s, e] of ranges) {
        for (const w of windows) {
          const lo = s > w.base ? s : w.base;
          const hi = e < w.limit + 1n ? e : w.limit + 1n;
          if (lo < hi) next.push([lo, hi]);
        }
      }
      ranges = next;
      bridge = this.entries.get(bridge)?.bus.bridge;
    }
    return ranges;
  }

  private updateMappings(entry: Plugged): void {
    for (const bar of entry.device.bars) {
      const want = this.barAddress(entry.device, bar);
      const ranges = want === undefined ? [] : this.visibleRanges(entry, bar, want);
      const key = want === undefined ? '' : `${want}:${ranges.map(([s, e]) => `${s}-${e}`).join(',')}`;
      const have = entry.mappedBars.get(bar);
      if ((have?.key ?? '') === key && (have !== undefined) === (want !== undefined)) continue;
      const space = this.spaceFor(bar.kind);
      if (have) for (const piece of have.pieces) space.unmap(piece);
      entry.mappedBars.delete(bar);
      if (want === undefined) continue;
      const pieces = ranges.map(([s, e]) => (s === want && e === want + bar.size ? bar.region : subRegion(bar.region, s - want, e - s)));
      ranges.forEach(([s], i) => space.map(s, pieces[i], 1));
      entry.mappedBars.set(bar, { addr: want, key, pieces });
    }
  }

  /** Where each BAR of `device` is mapped now (for info pci / query-pci). */
  mappedBar(device: PciDevice, bar: PciBar): bigint | undefined {
    return this.entries.get(device)?.mappedBars.get(bar)?.addr;
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
        if (!entry || !host.configVisible(entry)) return ones;
        const limit = entry.device.config.size;
        if (reg >= limit) return ones;
        const len = Math.min(size, limit - reg) as 1 | 2 | 4;
        return BigInt(entry.device.configRead(reg, len));
      },
      write(offset: bigint, size: AccessSize, value: bigint): void {
        const { entry, reg } = host.decodeEcam(offset);
        if (!entry || !host.configVisible(entry)) return;
        const limit = entry.device.config.size;
        if (reg >= limit) return;
        const len = Math.min(size, limit - reg) as 1 | 2 | 4;
        const wasDisabled = host.intxDisabled(entry.device);
        entry.device.configWrite(reg, len, Number(value & 0xffff_ffffn));
        // The write may have unplugged the function itself (a slot powered off by the guest).
        if (host.entries.get(entry.device) === entry) host.afterConfigWrite(entry, wasDisabled);
      },
    };
  }

  /** pci_host_config_{read,write}_common: powered-off functions and orphan hot-plugged functions are absent. */
  private configVisible(entry: Plugged): boolean {
    if (!entry.enabled) return false;
    // pci_get_function_0: behind a PCIe port the only function 0 is devfn 0.
    const fn0 = entry.bus.bridge ? 0 : entry.device.devfn & ~7;
    if (entry.hotplugged && !entry.bus.slots.has(fn0)) return false;
    return true;
  }

  /** pci_find_bus_nr from the root bus. */
  findBus(busNum: number, bus: PciBus = this.rootBus): PciBus | undefined {
    if (bus.number === busNum) return bus;
    if (bus.bridge && !bus.bridge.secondaryBusInRange(busNum)) return undefined;
    let cur: PciBus | undefined = bus;
    while (cur) {
      let next: PciBus | undefined;
      for (const br of cur.childBridges) {
        const sec = this.bridgeBuses.get(br)!;
        if (sec.number === busNum) return sec;
        if (br.secondaryBusInRange(busNum)) {
          next = sec;
          break;
        }
      }
      cur = next;
    }
    return undefined;
  }

  private decodeEcam(offset: bigint): { entry?: Plugged; reg: number } {
    const busNum = Number(offset >> 20n) & 0xff;
    const devfn = Number(offset >> 12n) & 0xff;
    const reg = Number(offset & 0xfffn);
    const bus = this.findBus(busNum);
    return { entry: bus?.slots.get(devfn), reg };
  }
}
