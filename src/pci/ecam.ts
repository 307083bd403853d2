/**
 * The ECAM window (`pcie-mmcfg-mmio`): an offset decodes to bus (found as pci_find_bus_nr does),
 * devfn and register; absent, powered-off and orphan hot-plugged functions read all-ones and ignore
 * writes, and accesses are clipped at the function's config space size.
 */
import { TRACE_IDS } from '../base/trace-events.js';
import type { Tracer } from '../base/trace.js';
import type { AccessSize, IoRegion } from '../memory/types.js';
import type { Plugged, PciTopology } from './pci-topology.js';

/** What the ECAM needs of the host around a config write. */
export interface EcamHost {
  readonly topology: PciTopology;
  /** pci_cfg_read / pci_cfg_write (base/trace.ts). */
  readonly trace: Tracer;
  /** Whether the function's INTx is masked now (sampled before a write). */
  intxDisabled(entry: Plugged): boolean;
  /** pci_default_write_config's follow-up: BARs, windows, INTx mask. */
  afterConfigWrite(entry: Plugged, intxWasDisabled: boolean): void;
}

/** pci_host_config_{read,write}_common: powered-off functions and orphan hot-plugged functions are absent. */
function configVisible(entry: Plugged): boolean {
  if (!entry.enabled) return false;
  // pci_get_function_0: behind a PCIe port the only function 0 is devfn 0.
  const fn0 = entry.bus.bridge ? 0 : entry.device.devfn & ~7;
  if (entry.hotplugged && !entry.bus.slots.has(fn0)) return false;
  return true;
}

/** The device name, bus, slot and function pci_cfg_* print. */
function cfgWho(entry: Plugged): [string, number, number, number] {
  const devfn = entry.device.devfn;
  return [entry.device.typeName, entry.bus.number, devfn >> 3, devfn & 7];
}

function decode(topology: PciTopology, offset: bigint): { entry?: Plugged; reg: number } {
  const busNum = Number(offset >> 20n) & 0xff;
  const devfn = Number(offset >> 12n) & 0xff;
  const reg = Number(offset & 0xfffn);
  const bus = topology.findBus(busNum);
  return { entry: bus?.slots.get(devfn), reg };
}

export function makeEcamRegion(host: EcamHost): IoRegion {
  const topology = host.topology;
  const tr = host.trace;
  const { pci_cfg_read: CFG_READ, pci_cfg_write: CFG_WRITE } = TRACE_IDS;
  return {
    kind: 'io',
    name: 'pcie-mmcfg-mmio',
    size: 0x1000_0000n,
    read(offset: bigint, size: AccessSize): bigint {
      const ones = (1n << BigInt(size * 8)) - 1n;
      const { entry, reg } = decode(topology, offset);
      if (!entry || !configVisible(entry)) return ones;
      const limit = entry.device.config.size;
      if (reg >= limit) return ones;
      const len = Math.min(size, limit - reg) as 1 | 2 | 4;
      const v = entry.device.configRead(reg, len);
      if (tr.on[CFG_READ]) tr.emit(CFG_READ, ...cfgWho(entry), reg, v);
      return BigInt(v);
    },
    write(offset: bigint, size: AccessSize, value: bigint): void {
      const { entry, reg } = decode(topology, offset);
      if (!entry || !configVisible(entry)) return;
      const limit = entry.device.config.size;
      if (reg >= limit) return;
      const len = Math.min(size, limit - reg) as 1 | 2 | 4;
      if (tr.on[CFG_WRITE]) tr.emit(CFG_WRITE, ...cfgWho(entry), reg, value);
      const wasDisabled = host.intxDisabled(entry);
      entry.device.configWrite(reg, len, Number(value & 0xffff_ffffn));
      // The write may have unplugged the function itself (a slot powered off by the guest).
      if (topology.entryOf(entry.device) === entry) host.afterConfigWrite(entry, wasDisabled);
    },
  };
}
