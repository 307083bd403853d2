/**
 * What QMP `query-pci` and HMP `info pci` / `info mtree` report about a Machine, built from the
 * machine's own structures in the shapes and formats QEMU 10.2.2 uses (captured in
 * qemu-10.2.2/qmp/query-pci.json and hmp/info-pci.txt). HMP text uses LF here; the QMP layer turns
 * it into the monitor's CRLF. Pure functions of the machine state.
 */
import { PCI_CFG } from '../pci/config-space.js';
import type { PciHost } from '../pci/host-bridge.js';
import { barTypeBits } from '../pci/pci-device.js';
import type { PciBridgeDevice } from '../pci/pci-bridge.js';
import type { PciDevice } from '../pci/pci-device.js';
import { funcOf, slotOf } from '../pci/requester-id.js';
import type { Machine } from './machine.js';
import { formatMachineMtree } from './memory-tree.js';
import { formatQdevTree } from './qdev-tree.js';

/** QEMU pci_class_descriptions entries for the classes our devices use. */
const CLASS_NAMES: Record<number, string> = {
  0x0600: 'Host bridge',
  0x0604: 'PCI bridge',
  0x0200: 'Ethernet controller',
  0x0100: 'SCSI controller',
};

export type PciRegionInfo =
  | { prefetch: boolean; mem_type_64: boolean; bar: number; size: number; address: number; type: 'memory' }
  | { bar: number; size: number; address: number; type: 'io' };

export interface PciRangeInfo {
  limit: number | bigint;
  base: number | bigint;
}

export interface PciBridgeInfo {
  bus: {
    prefetchable_range: PciRangeInfo;
    memory_range: PciRangeInfo;
    secondary: number;
    io_range: PciRangeInfo;
    number: number;
    subordinate: number;
  };
  devices?: PciDeviceInfo[];
}

export interface PciDeviceInfo {
  irq_pin: number;
  bus: number;
  pci_bridge?: PciBridgeInfo;
  qdev_id: string;
  irq?: number;
  slot: number;
  class_info: { class: number; desc?: string };
  id: { device: number; 'subsystem-vendor'?: number; vendor: number; subsystem?: number };
  function: number;
  regions: PciRegionInfo[];
}

/** A JSON integer: a number when exact, else a bigint. */
const int = (v: bigint): number | bigint => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

function bridgeInfo(pci: PciHost, bridge: PciBridgeDevice): PciBridgeInfo {
  const range = (k: 'io' | 'mem' | 'pref'): PciRangeInfo => {
    const w = bridge.window(k);
    return { limit: int(w.limit), base: int(w.base) };
  };
  const info: PciBridgeInfo = {
    bus: {
      prefetchable_range: range('pref'),
      memory_range: range('mem'),
      secondary: bridge.secondaryBus,
      io_range: range('io'),
      number: bridge.primaryBus,
      subordinate: bridge.subordinateBus,
    },
  };
  // qmp_query_pci_bridge: the devices of the bus its secondary number finds, if programmed.
  if (bridge.secondaryBus !== 0) {
    const child = pci.findBus(bridge.secondaryBus, pci.busOf(bridge));
    if (child) info.devices = busDevices(pci, child.devices(), bridge.secondaryBus);
  }
  return info;
}

function deviceInfo(pci: PciHost, d: PciDevice, busNum: number): PciDeviceInfo {
  const c = d.config;
  const pin = c.get(PCI_CFG.INTERRUPT_PIN, 1);
  const cls = c.get(PCI_CFG.CLASS_DEVICE, 2);
  const regions = d.bars.map((bar): PciRegionInfo => {
    const mapped = pci.mappedBar(d, bar);
    const address = mapped === undefined ? -1 : Number(mapped);
    if (bar.kind === 'io') return { bar: bar.index, size: Number(bar.size), address, type: 'io' };
    return {
      prefetch: (barTypeBits(bar) & 0x8) !== 0,
      mem_type_64: bar.kind === 'mem64',
      bar: bar.index,
      size: Number(bar.size),
      address,
      type: 'memory',
    };
  });
  const bridge = (c.get(PCI_CFG.HEADER_TYPE, 1) & 0x7f) === 1 ? pci.bridgeOf(d) : undefined;
  const isBridge = bridge !== undefined;
  const id: PciDeviceInfo['id'] = isBridge
    ? { device: c.get(PCI_CFG.DEVICE_ID, 2), vendor: c.get(PCI_CFG.VENDOR_ID, 2) }
    : {
        device: c.get(PCI_CFG.DEVICE_ID, 2),
        'subsystem-vendor': c.get(PCI_CFG.SUBSYSTEM_VENDOR_ID, 2),
        vendor: c.get(PCI_CFG.VENDOR_ID, 2),
        subsystem: c.get(PCI_CFG.SUBSYSTEM_ID, 2),
      };
  // Member order as QEMU 10.2.2 prints it: irq_pin, bus, pci_bridge, qdev_id, irq, slot, ...
  const info: PciDeviceInfo = { irq_pin: pin, bus: busNum } as PciDeviceInfo;
  if (bridge) info.pci_bridge = bridgeInfo(pci, bridge);
  info.qdev_id = d.id ?? '';
  if (pin) info.irq = c.get(PCI_CFG.INTERRUPT_LINE, 1);
  info.slot = slotOf(d.devfn);
  info.class_info = CLASS_NAMES[cls] ? { class: cls, desc: CLASS_NAMES[cls] } : { class: cls };
  info.id = id;
  info.function = funcOf(d.devfn);
  info.regions = regions;
  return info;
}

function busDevices(pci: PciHost, devices: PciDevice[], busNum: number): PciDeviceInfo[] {
  return devices.map((d) => deviceInfo(pci, d, busNum));
}

export function pciInfo(pci: PciHost): Array<{ bus: number; devices: PciDeviceInfo[] }> {
  return [{ bus: 0, devices: busDevices(pci, pci.devices(), 0) }];
}

const hex = (v: number, digits: number) => v.toString(16).padStart(digits, '0');

const hexBig = (v: number | bigint, digits: number) => BigInt(v).toString(16).padStart(digits, '0');

function formatPciDevice(d: PciDeviceInfo, out: string[]): void {
  out.push(`  Bus ${String(d.bus).padStart(2)}, device ${String(d.slot).padStart(3)}, function ${d.function}:`);
  const cls = d.class_info.desc ?? `Class ${String(d.class_info.class).padStart(4, '0')}`;
  out.push(`    ${cls}: PCI device ${hex(d.id.vendor, 4)}:${hex(d.id.device, 4)}`);
  if (d.id['subsystem-vendor'] !== undefined && d.id.subsystem !== undefined)
    out.push(`      PCI subsystem ${hex(d.id['subsystem-vendor'], 4)}:${hex(d.id.subsystem, 4)}`);
  if (d.irq !== undefined) out.push(`      IRQ ${d.irq}, pin ${String.fromCharCode(64 + d.irq_pin)}`);
  const br = d.pci_bridge;
  if (br) {
    const b = br.bus;
    out.push(
      `      BUS ${b.number}.`,
      `      secondary bus ${b.secondary}.`,
      `      subordinate bus ${b.subordinate}.`,
    );
    out.push(`      IO range [0x${hexBig(b.io_range.base, 4)}, 0x${hexBig(b.io_range.limit, 4)}]`);
    out.push(`      memory range [0x${hexBig(b.memory_range.base, 8)}, 0x${hexBig(b.memory_range.limit, 8)}]`);
    out.push(
      `      prefetchable memory range [0x${hexBig(b.prefetchable_range.base, 8)}, 0x${hexBig(b.prefetchable_range.limit, 8)}]`,
    );
  }
  for (const r of d.regions) {
    if (r.type === 'io') {
      out.push(
        `      BAR${r.bar}: I/O ${r.address < 0 ? '(not mapped)' : `at 0x${hex(r.address, 4)} [0x${hex(r.address + r.size - 1, 4)}]`}`,
      );
    } else {
      const kind = `${r.mem_type_64 ? 64 : 32} bit${r.prefetch ? ' prefetchable' : ''} memory`;
      out.push(
        `      BAR${r.bar}: ${kind} ${r.address < 0 ? '(not mapped)' : `at 0x${hex(r.address, 8)} [0x${hex(r.address + r.size - 1, 8)}]`}`,
      );
    }
  }
  out.push(`      id "${d.qdev_id}"`);
  for (const child of br?.devices ?? []) formatPciDevice(child, out);
}

/** HMP `info pci` (devices behind a bridge follow it, as hmp_info_pci_device recurses). */
export function formatInfoPci(pci: PciHost): string {
  const out: string[] = [];
  for (const d of pciInfo(pci)[0].devices) formatPciDevice(d, out);
  return out.map((l) => l + '\n').join('');
}

/** HMP `info mtree`: the board's memory-region tree (memory-tree.ts). */
export function formatInfoMtree(machine: Machine): string {
  return formatMachineMtree(machine);
}

/** HMP `info qtree` (`brief`: -b, without properties): the board's qdev tree (qdev-tree.ts). */
export function formatInfoQtree(machine: Machine, brief = false): string {
  return formatQdevTree(machine, brief);
}
