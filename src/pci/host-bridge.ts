/**
 * The GPEX PCIe host bridge of `virt`: root bus `pcie.0` with the host function at 00:00.0
 * (1b36:0008), composed of the bus tree (pci-topology.ts), the ECAM window (ecam.ts), BAR decoding
 * into the PCI memory and I/O spaces (bar-mapping.ts) and INTx routing onto SPIs 3..6 (intx.ts).
 * This file plugs and unplugs functions: slot assignment as QEMU does it (first free slot, or
 * addr=S[.F]), each function's DMA view (through the IOMMU when one protects the bus), bridges'
 * secondary buses and their hot-plug slots, slot power gating, and system_reset.
 */
import { TRACE_OFF } from '../base/trace.js';
import type { Tracer } from '../base/trace.js';
import type { VirtualClock } from '../sim/clock.js';
import type { IrqLine } from '../sim/irq.js';
import type { Logger } from '../base/log.js';
import { DmaView } from '../memory/dma-view.js';
import type { Iommu } from '../memory/dma-view.js';
import type { AddressSpace } from '../memory/address-space.js';
import type { BusAccess, IoRegion } from '../memory/types.js';
import { BarMapper } from './bar-mapping.js';
import { makeEcamRegion } from './ecam.js';
import { IntxRouter } from './intx.js';
import type { PciBridgeDevice } from './pci-bridge.js';
import { PciDevice } from './pci-device.js';
import type { PciBar } from './pci-device.js';
import { bridgeOf, PciBus, PciTopology } from './pci-topology.js';
import type { Plugged } from './pci-topology.js';
import { funcOf, slotOf } from './requester-id.js';

export { PciBus } from './pci-topology.js';

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
  /** Trace events (pci_cfg_*; handed on to the devices); default: all off. */
  trace?: Tracer;
}

export class PlugError extends Error {}

export class PciHost {
  readonly topology = new PciTopology();
  readonly rootBus: PciBus = this.topology.rootBus;
  readonly ecam: IoRegion;
  readonly root = new GpexRoot();
  private readonly bars = new BarMapper(this.topology);
  private readonly intx: IntxRouter;
  /** Called when functions disappear because of the guest or a slot (not for direct unplug() calls). */
  onRemoved?: (device: PciDevice) => void;

  constructor(private readonly opts: PciHostOptions) {
    this.intx = new IntxRouter(opts.intxLines, this.topology);
    this.ecam = makeEcamRegion({
      topology: this.topology,
      trace: opts.trace ?? TRACE_OFF,
      intxDisabled: (entry) => this.intx.disabled(entry.device),
      afterConfigWrite: (entry, wasDisabled) => this.afterConfigWrite(entry, wasDisabled),
    });
    this.plug(this.root, 0);
  }

  /** PCI memory space (BARs); windows of the system map alias into it. */
  get pciMemory(): AddressSpace {
    return this.bars.pciMemory;
  }

  /** PCI I/O space (I/O BARs); the PIO window aliases into it. */
  get pciIo(): AddressSpace {
    return this.bars.pciIo;
  }

  /** Devices on pcie.0 in devfn order. */
  devices(): PciDevice[] {
    return this.rootBus.devices();
  }

  /** Every plugged function, bus by bus (depth first, as `info pci` walks them). */
  allDevices(): PciDevice[] {
    return this.topology.allDevices();
  }

  deviceAt(devfn: number): PciDevice | undefined {
    return this.rootBus.slots.get(devfn)?.device;
  }

  /** The bus a function sits on. */
  busOf(device: PciDevice): PciBus | undefined {
    return this.topology.entryOf(device)?.bus;
  }

  /** The bridge part of a function, if it is a bridge (type-1 header and secondary bus). */
  bridgeOf(device: PciDevice): PciBridgeDevice | undefined {
    return bridgeOf(device);
  }

  /** A bridge's secondary bus. */
  secondaryBusOf(bridge: PciBridgeDevice): PciBus | undefined {
    return this.topology.secondaryBusOf(bridge);
  }

  /** A bus by its qdev name (`pcie.0`, or a bridge's id). */
  busByName(name: string): PciBus | undefined {
    return this.topology.busByName(name);
  }

  /** pci_find_bus_nr from `bus` (the root bus by default). */
  findBus(busNum: number, bus?: PciBus): PciBus | undefined {
    return this.topology.findBus(busNum, bus);
  }

  isEnabled(device: PciDevice): boolean {
    return this.topology.entryOf(device)?.enabled ?? false;
  }

  /** First free slot with function 0 (QEMU's automatic devfn). */
  freeDevfn(bus: PciBus = this.rootBus): number | undefined {
    return this.topology.freeDevfn(bus);
  }

  /** Plug `device` at `devfn` (or the first free slot) of `bus`; throws PlugError with QEMU's wording. */
  plug(device: PciDevice, devfn?: number, opts: { bus?: PciBus; hotplugged?: boolean } = {}): void {
    const bus = opts.bus ?? this.rootBus;
    const hotplugged = opts.hotplugged ?? false;
    const at = devfn ?? this.freeDevfn(bus);
    if (at === undefined)
      throw new PlugError(`PCI: no slot/function available for ${device.typeName}, all in use or reserved`);
    const taken = bus.slots.get(at);
    if (taken) {
      const who = `${taken.device.typeName},id=${taken.device.id ?? '(null)'}`;
      throw new PlugError(
        `PCI: slot ${slotOf(at)} function ${funcOf(at)} not available for ${device.typeName}, in use by ${who}`,
      );
    }
    const pre = bus.bridge?.prePlug(device, hotplugged);
    if (pre !== undefined) throw new PlugError(pre);
    device.devfn = at;
    const entry: Plugged = { device, bus, intxLevel: 0, mappedBars: new Map(), enabled: true, hotplugged };
    this.topology.add(entry);
    const dma = new DmaView({
      memory: this.opts.memory,
      iommu: this.opts.iommu,
      requesterId: () => device.requesterId(),
      busMasterEnabled: () => device.busMasterEnabled && entry.enabled,
    });
    const iommuView = this.opts.iommu
      ? new DmaView({
          memory: this.opts.memory,
          iommu: this.opts.iommu,
          requesterId: () => device.requesterId(),
          busMasterEnabled: () => true,
        })
      : this.opts.memory;
    const iommu = this.opts.iommu;
    iommu?.deviceAdded?.(device.requesterId(), at);
    device.attach({
      dma,
      iommu: iommuView,
      translate: iommu?.outputViews ? (iova, w, a) => iommu.translate(device.requesterId(), iova, w, a) : undefined,
      memory: this.opts.memory,
      clock: this.opts.clock,
      log: this.opts.log.child({ device: device.id ?? device.typeName, devfn: at }),
      setIntx: (level) => this.intx.set(entry, level),
      busNumber: () => entry.bus.number,
      trace: this.opts.trace,
    });
    const bridge = bridgeOf(device);
    if (bridge) this.attachBridge(bridge, bus);
    bus.bridge?.plugged(device, hotplugged);
  }

  private attachBridge(bridge: PciBridgeDevice, parent: PciBus): void {
    const sec = this.topology.addBridgeBus(bridge, parent);
    bridge.hooks = {
      devices: () => sec.devices(),
      hasFunction0: () => sec.slots.has(0), // pci_get_function_0 behind a PCIe port: devfn 0
      resetBus: () => {
        for (const e of this.topology.entriesOn(sec)) this.resetTree(e);
      },
      unplugAll: () => {
        for (const d of sec.devices()) {
          this.unplug(d);
          this.onRemoved?.(d);
        }
      },
      setPower: (on) => {
        for (const e of this.topology.entriesOn(sec)) this.setEnabled(e, on);
      },
    };
  }

  /** Remove a device at once: unmap its BARs, drop its INTx contribution (and everything behind a bridge). */
  unplug(device: PciDevice): void {
    const entry = this.topology.entryOf(device);
    if (!entry) return;
    const sec = this.topology.busBehind(device);
    if (sec) for (const d of sec.devices()) this.unplug(d);
    this.intx.set(entry, 0);
    this.bars.unmapAll(entry);
    device.unrealize();
    this.topology.remove(entry);
  }

  /**
   * device_del of a function: refused on pcie.0 (no hot-plug controller there); behind a bridge the
   * bridge's slot decides. Throws PlugError with QEMU's text.
   */
  requestUnplug(device: PciDevice): 'removed' | 'pending' {
    const entry = this.topology.entryOf(device);
    if (!entry) throw new PlugError(`Device not plugged`);
    const bridge = entry.bus.bridge;
    if (!bridge) throw new PlugError(`Bus '${entry.bus.name}' does not support hotplugging`);
    let outcome: 'removed' | 'pending';
    try {
      outcome = bridge.unplugRequest(device);
    } catch (e) {
      throw new PlugError((e as Error).message);
    }
    if (outcome === 'removed' && this.topology.entryOf(device)) {
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
    for (const e of this.topology.entriesOn(this.rootBus)) this.resetTree(e);
  }

  private resetTree(entry: Plugged): void {
    const sec = this.topology.busBehind(entry.device);
    if (sec) for (const e of this.topology.entriesOn(sec)) this.resetTree(e);
    this.resetEntry(entry);
  }

  private resetEntry(entry: Plugged): void {
    const wasDisabled = this.intx.disabled(entry.device);
    entry.device.reset();
    this.afterConfigWrite(entry, wasDisabled);
  }

  /** pci_set_enabled: (un)map BARs, gate bus mastering, and reset the function on a change. */
  private setEnabled(entry: Plugged, on: boolean): void {
    if (entry.enabled === on) return;
    entry.enabled = on;
    this.bars.update(entry);
    this.resetEntry(entry);
  }

  intxDisabled(device: PciDevice): boolean {
    return this.intx.disabled(device);
  }

  /**
   * Re-evaluate BAR mappings and the INTx mask after a config write (pci_default_write_config).
   * A bridge's windows may have changed too: everything behind it is re-evaluated.
   */
  private afterConfigWrite(entry: Plugged, intxWasDisabled: boolean): void {
    this.bars.update(entry);
    this.bars.updateBehind(entry.device);
    this.intx.afterConfigWrite(entry, intxWasDisabled);
  }

  /** QEMU pci_bar_address(): where a BAR decodes, or undefined when unmapped. */
  barAddress(device: PciDevice, bar: PciBar): bigint | undefined {
    return this.bars.barAddress(device, bar);
  }

  /** Where each BAR of `device` is mapped now (for info pci / query-pci). */
  mappedBar(device: PciDevice, bar: PciBar): bigint | undefined {
    return this.bars.mappedAddress(device, bar);
  }
}
