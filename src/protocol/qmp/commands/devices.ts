/**
 * device_add, device_del and query-pci. device_add is `'gen': false` in QEMU: only `driver` is
 * checked here (missing or not a string → `Parameter 'driver' is missing`, observed); everything else
 * goes to the host, which answers with QEMU's texts. query-pci rebuilds the host's PciInfo in QAPI
 * member order so the writer reproduces QEMU's order (PciMemoryRegion `type`/`address` share a bucket).
 */
import { arg } from '../args.js';
import type { PciBridgeInfo, PciBusInfo, PciDeviceInfo, PciMemoryRange, PciMemoryRegion } from '../host.js';
import { emptyJsonObject, type JsonObject } from '../json-value.js';
import { QmpError } from '../messages.js';
import { defineCommand } from '../registry.js';

function range(r: PciMemoryRange): JsonObject {
  return { base: r.base, limit: r.limit };
}

function region(r: PciMemoryRegion): JsonObject {
  const out: JsonObject = { bar: r.bar, type: r.type, address: r.address, size: r.size };
  if (r.prefetch !== undefined) out.prefetch = r.prefetch;
  if (r.mem_type_64 !== undefined) out.mem_type_64 = r.mem_type_64;
  return out;
}

function bus(b: PciBusInfo): JsonObject {
  return {
    number: b.number,
    secondary: b.secondary,
    subordinate: b.subordinate,
    io_range: range(b.io_range),
    memory_range: range(b.memory_range),
    prefetchable_range: range(b.prefetchable_range),
  };
}

function bridge(b: PciBridgeInfo): JsonObject {
  const out: JsonObject = { bus: bus(b.bus) };
  if (b.devices !== undefined) out.devices = b.devices.map(device);
  return out;
}

function device(d: PciDeviceInfo): JsonObject {
  const classInfo: JsonObject = {};
  if (d.class_info.desc !== undefined) classInfo.desc = d.class_info.desc;
  classInfo.class = d.class_info.class;
  const id: JsonObject = { device: d.id.device, vendor: d.id.vendor };
  if (d.id.subsystem !== undefined) id.subsystem = d.id.subsystem;
  if (d.id['subsystem-vendor'] !== undefined) id['subsystem-vendor'] = d.id['subsystem-vendor'];
  const out: JsonObject = { bus: d.bus, slot: d.slot, function: d.function, class_info: classInfo, id };
  if (d.irq !== undefined) out.irq = d.irq;
  out.irq_pin = d.irq_pin;
  out.qdev_id = d.qdev_id;
  if (d.pci_bridge !== undefined) out.pci_bridge = bridge(d.pci_bridge);
  out.regions = d.regions.map(region);
  return out;
}

export const deviceCommands = [
  defineCommand({
    name: 'device_add',
    args: {},
    openArgs: true,
    run(_args, { host }, raw) {
      if (typeof raw.driver !== 'string') throw QmpError.generic("Parameter 'driver' is missing");
      const outcome = host.deviceAdd(raw);
      if (!outcome.ok) throw QmpError.from(outcome.error);
      return emptyJsonObject();
    },
  }),
  defineCommand({
    name: 'device_del',
    args: { id: arg.str() },
    run(args, { host }) {
      const outcome = host.deviceDel(args.id);
      if (!outcome.ok) throw QmpError.from(outcome.error);
      return emptyJsonObject();
    },
  }),
  defineCommand({
    name: 'query-pci',
    args: {},
    run(_args, { host }) {
      return host.pci().map((b): JsonObject => ({ bus: b.bus, devices: b.devices.map(device) }));
    },
  }),
];
