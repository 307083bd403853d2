/**
 * The shape of the PCI tree behind the host bridge: buses (`pcie.0` and each bridge's secondary
 * bus), which function sits in which slot, and the lookups QEMU does on them (first free devfn,
 * bus by qdev name, pci_find_bus_nr). Pure bookkeeping: plugging, BAR mapping and INTx live in
 * host-bridge.ts, bar-mapping.ts and intx.ts.
 */
import type { IoRegion, RamRegion } from '../memory/types.js';
import { PciBridgeDevice } from './pci-bridge.js';
import type { PciBar, PciDevice } from './pci-device.js';
import { devfnOf } from './requester-id.js';

/** Where a BAR is mapped: its address (what query-pci reports) and the visible pieces. */
export interface MappedBar {
  addr: bigint;
  key: string;
  pieces: Array<IoRegion | RamRegion>;
}

/** One plugged function and the host's state for it. */
export interface Plugged {
  device: PciDevice;
  bus: PciBus;
  intxLevel: number;
  mappedBars: Map<PciBar, MappedBar>;
  /** pci_set_enabled: false while the slot feeding the function is powered off. */
  enabled: boolean;
  hotplugged: boolean;
}

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

/** The bridge part of a function, if it is one. */
export function bridgeOf(device: PciDevice): PciBridgeDevice | undefined {
  return device instanceof PciBridgeDevice ? device : undefined;
}

export class PciTopology {
  readonly rootBus = new PciBus('pcie.0');
  private readonly entries = new Map<PciDevice, Plugged>();
  private readonly bridgeBuses = new Map<PciBridgeDevice, PciBus>();

  entryOf(device: PciDevice): Plugged | undefined {
    return this.entries.get(device);
  }

  /** Record a function in its slot (the caller has checked the slot is free). */
  add(entry: Plugged): void {
    entry.bus.slots.set(entry.device.devfn, entry);
    this.entries.set(entry.device, entry);
  }

  /** Forget a function (and, for a bridge, its secondary bus; the caller empties it first). */
  remove(entry: Plugged): void {
    const bridge = bridgeOf(entry.device);
    if (bridge) {
      this.bridgeBuses.delete(bridge);
      const i = entry.bus.childBridges.indexOf(bridge);
      if (i >= 0) entry.bus.childBridges.splice(i, 1);
    }
    entry.bus.slots.delete(entry.device.devfn);
    this.entries.delete(entry.device);
  }

  /** Automatic names handed out so far (QEMU counts them per bus type; pcie.0 of the host is named, not counted). */
  private autoBusIds = 0;

  /** Give a bridge plugged on `parent` its secondary bus (named after its id, else `pcie.N`). */
  addBridgeBus(bridge: PciBridgeDevice, parent: PciBus): PciBus {
    const sec = new PciBus(bridge.id ?? `pcie.${this.autoBusIds++}`, bridge);
    this.bridgeBuses.set(bridge, sec);
    parent.childBridges.unshift(bridge);
    return sec;
  }

  /** Entries of the functions on a bus, in devfn order. */
  entriesOn(bus: PciBus): Plugged[] {
    return bus.devices().map((d) => this.entries.get(d)!);
  }

  /** The secondary bus behind a function, if it is a bridge. */
  busBehind(device: PciDevice): PciBus | undefined {
    const bridge = bridgeOf(device);
    return bridge ? this.bridgeBuses.get(bridge) : undefined;
  }

  /** The entry of the bridge above a bus (undefined on pcie.0). */
  upstreamOf(bus: PciBus): Plugged | undefined {
    return bus.bridge ? this.entries.get(bus.bridge) : undefined;
  }

  /** Every plugged function, bus by bus (depth first, as `info pci` walks them). */
  allDevices(): PciDevice[] {
    const out: PciDevice[] = [];
    const walk = (bus: PciBus): void => {
      for (const d of bus.devices()) {
        out.push(d);
        const sec = this.busBehind(d);
        if (sec) walk(sec);
      }
    };
    walk(this.rootBus);
    return out;
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

  /** First free slot with function 0 (QEMU's automatic devfn). */
  freeDevfn(bus: PciBus = this.rootBus): number | undefined {
    for (let slot = 0; slot < 32; slot++) {
      const devfn = devfnOf(slot, 0);
      if (!bus.slots.has(devfn)) return devfn;
    }
    return undefined;
  }

  /** pci_find_bus_nr from `bus` (the root bus by default). */
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
}
