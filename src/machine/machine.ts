/**
 * Machine: one emulated `virt` (or `none`) board built from a MachineConfig — RAM, the system and
 * I/O-port address spaces, the board stand-ins, the GIC inputs, the PCIe host, the SMMUv3 and the
 * -device list — plus its virtual clock and QOM tree. A plain object: no globals, no sockets, no
 * wall-clock time, so one process can hold many. Device and SMMU models come in through
 * MachinePlugins so that this file does not depend on any particular device.
 */
import type { Logger } from '../base/log.js';
import type { Tracer } from '../base/trace.js';
import { DEFAULT_LIMITS } from '../base/limits.js';
import type { Limits } from '../base/limits.js';
import { AddressSpace } from '../memory/address-space.js';
import type { AliasRegion } from '../memory/address-space.js';
import { SparseRam } from '../memory/sparse-ram.js';
import type { MemoryAccount } from '../memory/memory-budget.js';
import { WorkMeter } from '../memory/work-meter.js';
import type { MemTxAttrs } from '../memory/types.js';
import { allOnesRegion } from '../pci/bar-mapping.js';
import { PciHost, PlugError } from '../pci/host-bridge.js';
import type { PciBus } from '../pci/host-bridge.js';
import type { PciDevice } from '../pci/pci-device.js';
import type { SmmuV3Irqs } from '../smmu/smmu-v3.js';
import { buildSecureView, SECURE_QOM, viewForAttrs } from './secure-view.js';
import type { AccessAttrs } from './secure-view.js';
import { BOARD_STUBS, GicInputs } from './board-devices.js';
import { VirtualClock } from '../sim/clock.js';
import { ConfigError, validateMachineConfig } from './config.js';
import type { DeviceSpec, MachineConfig, ObjectSpec } from './config.js';
import type { MachinePlugins, SmmuModel } from './machine-plugins.js';
import { IrqLine } from '../sim/irq.js';
import { QomNode, QomTree } from './qom-tree.js';
import { addCpuGpios, applyLayout, machineLayout, objectLayout, ramBackendId } from './machine-props.js';
import { creationOrder, removeUserObject } from './user-objects.js';
import { possibleCpus } from './topology.js';
import type { CpuProps } from './topology.js';
import { VIRT_MAP, VIRT_NUM_SPIS, VIRT_SPI } from './virt-map.js';
import type { BusAccess } from '../memory/types.js';

export type { MachinePlugins, SmmuModel } from './machine-plugins.js';

/** A device that went away (what DEVICE_DELETED reports): its id, if any, and its QOM path. */
export interface DeletedDevice {
  id?: string;
  path: string;
}

/** QEMU's pending_deleted_expires_ms: a repeated device_del is refused for 5 s of virtual time. */
const UNPLUG_PENDING_MS = 5000n;

export interface MachineDeps {
  log: Logger;
  limits?: Limits;
  plugins: MachinePlugins;
  trace?: Tracer; // trace events (-trace); default: all off
  /** Where guest RAM pages are charged (the service's memory budget); default: nowhere. */
  memory?: MemoryAccount;
}

export { buildCanFail } from './config.js';

export class Machine {
  readonly clock = new VirtualClock();
  /** The CPU's view of physical memory (what readl/writel use). */
  readonly system = new AddressSpace('memory');
  /** The CPU's I/O port space (inb/outb); empty on virt, reads all-ones. */
  readonly ioPorts = new AddressSpace('I/O');
  readonly qom = new QomTree();
  /** The work count every access through the machine's own spaces charges (per-request budget). */
  readonly work = new WorkMeter();
  readonly ram?: SparseRam;
  readonly pci?: PciHost;
  readonly smmu?: SmmuModel;
  readonly gic?: GicInputs;
  /** The Secure view with `-machine secure=on` (secure-view.ts). */
  readonly secureView?: AddressSpace;
  /** Devices created from -device or device_add, with their QOM nodes. */
  readonly userDevices = new Map<PciDevice, QomNode>();
  /** The qdev property values each user device was created with (what `info qtree` prints). */
  readonly qdevProps = new WeakMap<PciDevice, ReadonlyMap<string, unknown>>();
  readonly log: Logger;
  private readonly machineNode: QomNode;
  private readonly peripheral: QomNode;
  private readonly peripheralAnon: QomNode;
  private readonly unattached: QomNode;
  /** /objects: user-created objects and the RAM backend. */
  readonly objects: QomNode;
  /** device_del requests waiting for the guest: virtual-clock ms until which a repeat is refused. */
  private readonly pendingUnplug = new Map<PciDevice, bigint>();
  private readonly deletedListeners = new Set<(d: DeletedDevice) => void>();
  /** While device_del runs, deletions are collected here instead of being announced. */
  private collecting?: DeletedDevice[];
  /** (chassis, slot) pairs taken by PCIe slots (pcie_chassis_add_slot). */
  private readonly chassisSlots = new Set<string>();

  constructor(
    readonly config: MachineConfig,
    private readonly deps: MachineDeps,
  ) {
    validateMachineConfig(config);
    this.log = deps.log;
    const limits = deps.limits ?? DEFAULT_LIMITS;
    for (const space of [this.system, this.ioPorts]) space.meter = this.work;
    this.machineNode = this.qom.root.add(
      new QomNode('machine', config.machine === 'virt' ? 'virt-10.2-machine' : 'none-machine'),
    );
    applyLayout(this.machineNode, machineLayout(config));
    this.unattached = this.machineNode.children.get('unattached')!;
    this.peripheral = this.machineNode.children.get('peripheral')!;
    this.peripheralAnon = this.machineNode.children.get('peripheral-anon')!;
    this.objects = this.qom.root.add(new QomNode('objects', 'container').hashOrdered());
    const ramId = ramBackendId(config);
    for (const o of creationOrder(config.objects)) this.addObject(o);
    if (ramId !== undefined)
      this.addObject({ type: 'memory-backend-ram', id: ramId, props: [['size', String(config.ramBytes)]] });
    this.ioPorts.map(0n, allOnesRegion('io', 0x10000n), -1);

    if (config.machine === 'none') {
      const d = config.devices[0];
      if (d) {
        const bad = deps.plugins.checkDriver(d.driver);
        throw new ConfigError(`-device ${d.text}: ${bad ?? `No 'PCI' bus found for device '${d.driver}'`}`);
      }
      return;
    }

    this.ram = new SparseRam('mach-virt.ram', config.ramBytes, limits.maxTouchedRamBytes, deps.memory);
    const cpuType = `${config.cpu}-arm-cpu`;
    for (let i = 0; i < config.smp; i++) addCpuGpios(this.unattached.addIndexed({ typeName: cpuType }), i);

    this.gic = new GicInputs(VIRT_NUM_SPIS, config.smp);
    const gicNode = this.unattached.addIndexed({ typeName: config.gicVersion === 3 ? 'arm-gicv3' : 'arm_gic' });
    gicNode.gpioIn.set('', this.gic.lines);
    // IRQ, FIQ, VIRQ, VFIQ per CPU: outputs towards the CPUs (never driven: no CPU runs).
    gicNode.gpioOut.set(
      'sysbus-irq',
      Array.from({ length: 4 * config.smp }, (_, i) => new IrqLine(`gic-out[${i}]`)),
    );
    this.unattached.addIndexed({ typeName: config.gicVersion === 3 ? 'arm-gicv3-its' : 'arm-gicv2m' });
    this.mapBoard();
    if (config.secure) this.secureView = buildSecureView(this.system, limits.maxTouchedRamBytes, deps.memory);
    this.unattached.addIndexed({ typeName: 'pl011' });
    if (config.secure) SECURE_QOM.afterUart(this.unattached);
    this.unattached.addIndexed({ typeName: 'pl031' });

    // PCIe host: INTA..INTD → SPIs 3..6.
    const intx = [0, 1, 2, 3].map((i) => new IrqLine(`gpex-intx[${i}]`));
    intx.forEach((l, i) => l.connectTo(this.gic!.spi(VIRT_SPI.PCIE_INTA + i)));
    const gpexNode = this.unattached.addIndexed({ typeName: 'gpex-pcihost' });
    gpexNode.gpioOut.set('sysbus-irq', intx);

    if (config.iommu === 'smmuv3') {
      const irqs: SmmuV3Irqs = {
        eventq: new IrqLine('smmu-eventq'),
        priq: new IrqLine('smmu-priq'),
        cmdSync: new IrqLine('smmu-cmd-sync'),
        gerror: new IrqLine('smmu-gerror'),
      };
      [irqs.eventq, irqs.priq, irqs.cmdSync, irqs.gerror].forEach((l, i) =>
        l.connectTo(this.gic!.spi(VIRT_SPI.SMMU + i)),
      );
      this.smmu = deps.plugins.createSmmu({
        memory: this.system,
        irqs,
        log: this.log.child({ component: 'smmuv3' }),
        secureMemory: this.secureView,
        globals: config.globals,
        trace: deps.trace,
        secSidOf: (rid) => [...this.userDevices.keys()].find((d) => d.requesterId() === rid)?.secSid ?? 0,
      });
      this.system.map(VIRT_MAP.SMMU.base, this.smmu);
      const smmuNode = this.unattached.addIndexed({ typeName: 'arm-smmuv3' });
      smmuNode.gpioOut.set('sysbus-irq', [irqs.eventq, irqs.priq, irqs.cmdSync, irqs.gerror]);
    }

    this.pci = new PciHost({
      memory: this.system,
      iommu: this.smmu,
      intxLines: intx,
      clock: this.clock,
      log: this.log.child({ component: 'pci' }),
      trace: deps.trace,
    });
    this.pci.onRemoved = (device) => this.deviceGone(device);
    this.mapPci();

    this.unattached.addIndexed({ typeName: 'pl061' });
    this.unattached.addIndexed({ typeName: 'gpio-key' });
    if (config.secure) SECURE_QOM.afterGpio(this.unattached);
    for (let i = 0; i < VIRT_MAP.VIRTIO_MMIO.count; i++) this.unattached.addIndexed({ typeName: 'virtio-mmio' });
    this.unattached.addIndexed({ typeName: 'platform-bus-device' });

    this.system.map(VIRT_MAP.RAM.base, this.ram);
    for (const spec of config.devices) {
      try {
        this.addDevice(spec, false);
      } catch (e) {
        if (e instanceof ConfigError) throw new ConfigError(`-device ${spec.text}: ${e.message}`, e.hint);
        throw e;
      }
    }
    // QEMU resets the machine once everything is created: slots behind root ports get their power
    // state from what was cold-plugged into them.
    this.reset();
  }

  /** The memory view and attributes a qtest access with `attrs` uses; undefined: no such view. */
  viewFor(attrs?: AccessAttrs): { view: BusAccess; attrs: MemTxAttrs } | undefined {
    return viewForAttrs(this.system, this.secureView, attrs);
  }

  private mapBoard(): void {
    const s = this.system;
    if (!this.config.secure) s.map(VIRT_MAP.FLASH0.base, BOARD_STUBS.flash('virt.flash0', VIRT_MAP.FLASH0.size));
    s.map(VIRT_MAP.FLASH1.base, BOARD_STUBS.flash('virt.flash1', VIRT_MAP.FLASH1.size));
    if (this.config.gicVersion === 3) {
      s.map(VIRT_MAP.GIC_DIST.base, BOARD_STUBS.gicv3Dist());
      s.map(VIRT_MAP.GIC_ITS.base, BOARD_STUBS.gicv3Its());
      s.map(VIRT_MAP.GIC_REDIST.base, BOARD_STUBS.gicv3Redist(this.config.smp));
    } else {
      s.map(VIRT_MAP.GIC_DIST.base, BOARD_STUBS.gicv2Dist());
      s.map(VIRT_MAP.GIC_CPU.base, BOARD_STUBS.gicv2Cpu());
    }
    s.map(VIRT_MAP.UART.base, BOARD_STUBS.pl011());
    s.map(VIRT_MAP.RTC.base, BOARD_STUBS.pl031());
    s.map(VIRT_MAP.FW_CFG.base, BOARD_STUBS.fwCfg());
    s.map(VIRT_MAP.GPIO.base, BOARD_STUBS.pl061());
    for (let i = 0; i < VIRT_MAP.VIRTIO_MMIO.count; i++) {
      s.map(VIRT_MAP.VIRTIO_MMIO.base + BigInt(i) * VIRT_MAP.VIRTIO_MMIO.size, BOARD_STUBS.virtioMmio());
    }
    s.map(VIRT_MAP.PLATFORM_BUS.base, BOARD_STUBS.platformBus());
    if (this.config.highmem) s.map(VIRT_MAP.CXL_HOST.base, BOARD_STUBS.cxlHost());
  }

  private mapPci(): void {
    const pci = this.pci!;
    const alias = (name: string, size: bigint, target: AddressSpace, targetBase: bigint): AliasRegion => ({
      kind: 'alias',
      name,
      size,
      target,
      targetBase,
    });
    const ecamSpace = new AddressSpace('pcie-mmcfg');
    for (const space of [ecamSpace, pci.pciMemory, pci.pciIo, this.secureView]) if (space) space.meter = this.work;
    ecamSpace.map(0n, pci.ecam);
    this.system.map(
      VIRT_MAP.PCIE_MMIO.base,
      alias('pcie-mmio', VIRT_MAP.PCIE_MMIO.size, pci.pciMemory, VIRT_MAP.PCIE_MMIO.base),
    );
    this.system.map(VIRT_MAP.PCIE_PIO.base, alias('gpex_ioport_window', VIRT_MAP.PCIE_PIO.size, pci.pciIo, 0n));
    if (this.config.highmem && this.config.highmemEcam) {
      this.system.map(VIRT_MAP.HIGH_PCIE_ECAM.base, alias('pcie-ecam', VIRT_MAP.HIGH_PCIE_ECAM.size, ecamSpace, 0n));
    } else {
      this.system.map(VIRT_MAP.PCIE_ECAM.base, alias('pcie-ecam', VIRT_MAP.PCIE_ECAM.size, ecamSpace, 0n));
    }
    if (this.config.highmem) {
      this.system.map(
        VIRT_MAP.HIGH_PCIE_MMIO.base,
        alias('pcie-mmio-high', VIRT_MAP.HIGH_PCIE_MMIO.size, pci.pciMemory, VIRT_MAP.HIGH_PCIE_MMIO.base),
      );
    }
  }

  /** Every possible CPU's ids and NUMA node (index = cpu-index; the first `config.smp` exist). */
  possibleCpus(): CpuProps[] {
    return possibleCpus(this.config.topology!, this.config.numa);
  }

  /** Add a user object (memory backend, rng-builtin) under /objects. */
  addObject(o: ObjectSpec): QomNode {
    if (this.objects.children.has(o.id))
      throw new ConfigError(`attempt to add duplicate property '${o.id}' to object (type 'container')`);
    const node = this.objects.add(new QomNode(o.id, o.type));
    applyLayout(node, objectLayout(o, this.config));
    return node;
  }

  /** object-del (QEMU's texts for an unknown id and for a backend the machine uses). */
  removeObject = (id: string): void => removeUserObject(this.objects, this.config, id);

  /** Create and plug a device (cold plug at start, or device_add). Throws ConfigError. */
  addDevice(spec: DeviceSpec, hotplug: boolean): PciDevice {
    const bad = this.deps.plugins.checkDriver(spec.driver);
    if (bad) throw new ConfigError(bad);
    if (!this.pci) throw new ConfigError(`No 'PCI' bus found for device '${spec.driver}'`);
    const props = new Map(spec.props);
    const busName = props.get('bus');
    let bus: PciBus = this.pci.rootBus;
    if (busName !== undefined) {
      const found = this.pci.busByName(String(busName));
      if (!found) throw new ConfigError(`Bus '${String(busName)}' not found`);
      bus = found;
    }
    if (hotplug && !this.pci.hotpluggable(bus)) throw new ConfigError(`Bus '${bus.name}' does not support hotplugging`);
    const { device, devfn, props: set } = this.deps.plugins.createDevice(spec);
    if (set) this.qdevProps.set(device, set);
    const idValue = props.get('id');
    const id = idValue === undefined ? undefined : String(idValue);
    if (id !== undefined) {
      if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(id)) {
        throw new ConfigError(
          `Parameter 'id' expects an identifier`,
          "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.",
        );
      }
      if (this.peripheral.children.has(id)) throw new ConfigError(`Duplicate device ID '${id}'`);
      device.id = id;
    }
    try {
      this.pci.plug(device, devfn, { bus, hotplugged: hotplug });
    } catch (e) {
      if (e instanceof PlugError) throw new ConfigError(e.message);
      throw e;
    }
    const pcieSlot = device.pcieSlot();
    if (pcieSlot) {
      const key = `${pcieSlot.chassis}:${pcieSlot.slot}`;
      if (this.chassisSlots.has(key)) {
        this.pci.unplug(device);
        throw new ConfigError(`Can't add chassis slot, error -16`);
      }
      this.chassisSlots.add(key);
    }
    const node =
      id !== undefined ? this.peripheral.add(new QomNode(id, device.typeName)) : this.peripheralAnon.addIndexed(device);
    for (const [name, p] of Object.entries(device.qomProperties())) node.properties.push({ name, ...p });
    this.userDevices.set(device, node);
    return device;
  }

  /**
   * device_del: refused on pcie.0 (as on QEMU 10.2.2); behind a hot-plug slot either removed at
   * once (slot powered off) or left to the guest (attention button). Returns the devices that went
   * away, for DEVICE_DELETED after the reply. Throws ConfigError with QEMU's text.
   */
  removeDevice(id: string): DeletedDevice[] {
    const node = this.peripheral.children.get(id);
    const device = node ? [...this.userDevices.entries()].find(([, n]) => n === node)?.[0] : undefined;
    if (!node || !device || !this.pci) throw new ConfigError(`Device '${id}' not found`);
    const nowMs = this.clock.nowNs / 1_000_000n;
    const expires = this.pendingUnplug.get(device);
    if (expires !== undefined && expires > nowMs)
      throw new ConfigError(`Device ${id} is already in the process of unplug`);
    const collected: DeletedDevice[] = [];
    this.collecting = collected;
    try {
      const bus = this.pci.busOf(device);
      if (bus?.bridge) this.pendingUnplug.set(device, nowMs + UNPLUG_PENDING_MS);
      this.pci.requestUnplug(device);
    } catch (e) {
      if (!(e instanceof PlugError)) throw e;
      // QEMU marks the unplug as pending only once the slot accepted the request.
      if (expires === undefined) this.pendingUnplug.delete(device);
      else this.pendingUnplug.set(device, expires);
      throw new ConfigError(e.message);
    } finally {
      this.collecting = undefined;
    }
    return collected;
  }

  /** Listen for devices removed outside device_del's own reply (e.g. the guest powered a slot off). */
  onDeviceDeleted(listener: (d: DeletedDevice) => void): () => void {
    this.deletedListeners.add(listener);
    return () => this.deletedListeners.delete(listener);
  }

  /** A PCI function went away (host bridge callback): drop its QOM node and announce it. */
  private deviceGone(device: PciDevice): void {
    const node = this.userDevices.get(device);
    if (!node) return;
    const path = node.path;
    node.parent?.remove(node);
    this.userDevices.delete(device);
    this.pendingUnplug.delete(device);
    const pcieSlot = device.pcieSlot();
    if (pcieSlot) this.chassisSlots.delete(`${pcieSlot.chassis}:${pcieSlot.slot}`);
    const deleted: DeletedDevice = device.id !== undefined ? { id: device.id, path } : { path };
    if (this.collecting) this.collecting.push(deleted);
    else for (const l of [...this.deletedListeners]) l(deleted);
  }

  /** system_reset: PCI functions (config + device state), SMMU. RAM and the clock are kept. */
  reset(): void {
    this.smmu?.reset();
    this.pci?.reset();
  }
}
