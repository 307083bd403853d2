/**
 * HMP `info mtree` (no flags): the `virt` board's memory-region tree as data, and one printer in QEMU
 * 10.2.2's format (protocol/captures/qemu-10.2.2/hmp/mtree-*.txt are the oracle's outputs).
 *
 * The tree is declared here region by region: names, priorities, sizes, kinds (`romd`, `ram`, `i/o`)
 * and aliases with their offsets, as QEMU builds them for the board, including regions qtestd does not
 * model as devices (virtio-mmio, platform bus, cxl_host_reg, ...), which appear as stand-ins. What
 * depends on the session is filled in from the Machine: RAM size, secure=on, the PCI functions (each
 * has a bus-master address space, plus an SMMU IOMMU address space when iommu=smmuv3) and BARs mapped
 * into the PCI windows.
 *
 * Printing follows QEMU's walk: address spaces sharing a root print their names (sorted) above one
 * tree; children print by address, then higher priority first; every alias target met on the way (even
 * under a disabled alias) is printed afterwards as a `memory-region:` section. QEMU orders the
 * address-space blocks by a pointer hash (it changes from run to run); qtestd prints a fixed order
 * (protocol/deviations.md).
 *
 * Not modelled (known differences): `its=off` (the ITS regions and gicv3-its-sysmem stay), more CPUs
 * than the first redistributor region holds, MSI-X BARs other than the root port's, and the SMMU
 * numbering after a hot-unplug (QEMU keeps a slot's IOMMU region; here a re-plugged function is
 * numbered again). The flags -f/-d/-o/-D answer "not supported by qtestd" (commands/hmp.ts).
 */
import type { PciBus } from '../pci/host-bridge.js';
import { PCI_BRIDGE_CTL } from '../pci/pci-bridge.js';
import type { PciBridgeDevice } from '../pci/pci-bridge.js';
import type { PciDevice } from '../pci/pci-device.js';
import type { Machine } from './machine.js';

export type RegionKind = 'i/o' | 'ram' | 'romd' | 'rom';

export interface MemRegion {
  name: string;
  /** offset in the parent */
  addr: bigint;
  /** 2^64 for a whole address space */
  size: bigint;
  prio: number;
  kind: RegionKind;
  enabled: boolean;
  alias?: { target: MemRegion; offset: bigint };
  children: MemRegion[];
}

export interface NamedSpace {
  name: string;
  root: MemRegion;
}

const FULL = 1n << 64n;
const PCI_COMMAND = 0x04;
const PCI_COMMAND_IO = 0x1;
const PCI_COMMAND_MEMORY = 0x2;
const PCI_COMMAND_MASTER = 0x4;

function region(
  name: string,
  addr: bigint,
  size: bigint,
  opts: Partial<Pick<MemRegion, 'prio' | 'kind' | 'enabled' | 'alias' | 'children'>> = {},
): MemRegion {
  return { name, addr, size, prio: 0, kind: 'i/o', enabled: true, children: [], ...opts };
}

function alias(name: string, addr: bigint, size: bigint, target: MemRegion, offset: bigint): MemRegion {
  return region(name, addr, size, { alias: { target, offset } });
}

const hex16 = (v: bigint): string => v.toString(16).padStart(16, '0');
/** MR_SIZE: the offset of the last byte, 0 for an empty region. */
const lastByte = (size: bigint): bigint => (size === 0n ? 0n : size - 1n);

function printRegion(mr: MemRegion, level: number, base: bigint, queue: MemRegion[], out: string[]): void {
  const start = base + mr.addr;
  const span = `${hex16(start)}-${hex16(start + lastByte(mr.size))} (prio ${mr.prio}, ${mr.kind})`;
  const off = mr.enabled ? '' : ' [disabled]';
  if (mr.alias) {
    if (!queue.includes(mr.alias.target)) queue.push(mr.alias.target);
    const o = mr.alias.offset;
    if (mr.enabled)
      out.push(
        `${'  '.repeat(level)}${span}: alias ${mr.name} @${mr.alias.target.name} ${hex16(o)}-${hex16(o + lastByte(mr.size))}${off}`,
      );
  } else if (mr.enabled) {
    out.push(`${'  '.repeat(level)}${span}: ${mr.name}${off}`);
  }
  const kids = mr.children
    .map((c, i) => ({ c, i }))
    .sort((a, b) =>
      a.c.addr !== b.c.addr ? (a.c.addr < b.c.addr ? -1 : 1) : a.c.prio !== b.c.prio ? b.c.prio - a.c.prio : a.i - b.i,
    );
  for (const { c } of kids) printRegion(c, level + 1, start, queue, out);
}

/** QEMU's `info mtree` text for these address spaces, in the given order. */
export function formatMtree(spaces: readonly NamedSpace[]): string {
  const roots: MemRegion[] = [];
  const names = new Map<MemRegion, string[]>();
  for (const s of spaces) {
    if (!names.has(s.root)) {
      roots.push(s.root);
      names.set(s.root, []);
    }
    names.get(s.root)!.push(s.name);
  }
  const out: string[] = [];
  const queue: MemRegion[] = [];
  for (const root of roots) {
    for (const n of names.get(root)!.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) out.push(`address-space: ${n}`);
    printRegion(root, 1, 0n, queue, out);
    out.push('');
  }
  for (let i = 0; i < queue.length; i++) {
    out.push(`memory-region: ${queue[i].name}`);
    printRegion(queue[i], 1, 0n, queue, out);
    out.push('');
  }
  return out.map((l) => l + '\n').join('');
}

/** The sysbus regions of the board, by base address (hw/arm/virt.c's memory map, as QEMU maps them). */
function boardRegions(machine: Machine, mmioWindow: MemRegion, ecam: MemRegion, ioport: MemRegion): MemRegion[] {
  const rs: MemRegion[] = [region('virt.flash1', 0x0400_0000n, 0x0400_0000n, { kind: 'romd' })];
  if (machine.config.gicVersion === 3)
    rs.push(
      region('gicv3_dist', 0x0800_0000n, 0x1_0000n),
      region('gicv3_its', 0x0808_0000n, 0x2_0000n, {
        children: [region('control', 0n, 0x1_0000n), region('translation', 0x1_0000n, 0x1_0000n)],
      }),
      // one 128 KiB redistributor frame per CPU
      region('gicv3_redist_region[0]', 0x080a_0000n, 0x2_0000n * BigInt(machine.config.smp)),
    );
  else
    rs.push(
      region('gic_dist', 0x0800_0000n, 0x1000n),
      region('gic_cpu', 0x0801_0000n, 0x2000n),
      region('gicv2m', 0x0802_0000n, 0x1000n),
    );
  rs.push(
    region('pl011', 0x0900_0000n, 0x1000n),
    region('pl031', 0x0901_0000n, 0x1000n),
    region('fwcfg.data', 0x0902_0000n, 8n),
    region('fwcfg.ctl', 0x0902_0008n, 2n),
    region('fwcfg.dma', 0x0902_0010n, 8n),
    region('pl061', 0x0903_0000n, 0x1000n),
  );
  if (machine.smmu) rs.push(region('arm-smmuv3', 0x0905_0000n, 0x2_0000n));
  for (let i = 0n; i < 32n; i++) rs.push(region('virtio-mmio', 0x0a00_0000n + i * 0x200n, 0x200n));
  rs.push(
    region('platform bus', 0x0c00_0000n, 0x0200_0000n),
    alias('pcie-mmio', 0x1000_0000n, 0x2eff_0000n, mmioWindow, 0x1000_0000n),
    region('gpex_ioport_window', 0x3eff_0000n, 0x1_0000n, { children: [ioport] }),
    region('mach-virt.ram', 0x4000_0000n, BigInt(machine.config.ramBytes), { kind: 'ram' }),
    region('cxl_host_reg', 0x40_0400_0000n, 0x10_0000n),
    alias('pcie-ecam', 0x40_1000_0000n, 0x1000_0000n, ecam, 0n),
    alias('pcie-mmio-high', 0x80_0000_0000n, 0x80_0000_0000n, mmioWindow, 0x80_0000_0000n),
  );
  return rs;
}

type Pci = NonNullable<Machine['pci']>;

/** A PCI bus's memory and I/O containers: gpex_mmio / gpex_ioport for pcie.0, a bridge's own below it. */
interface BusSpaces {
  mem: MemRegion;
  io: MemRegion;
}

/**
 * Regions QEMU puts inside a BAR: msix_init's table and PBA in the root port's one-vector MSI-X BAR
 * (table at 0, 16 bytes; PBA at 0x800, 8 bytes; the layout src/pci/pcie-root-port.ts decodes).
 */
const BAR_SUBREGIONS: Readonly<Record<string, ReadonlyArray<[string, bigint, bigint]>>> = {
  'pcie-root-port-msix': [
    ['msix-table', 0n, 0x10n],
    ['msix-pba', 0x800n, 8n],
  ],
};

/** Mapped BARs (overlapping at priority 1, as pci_update_mappings adds them) of the functions on a bus. */
function addBars(pci: Pci, devices: readonly PciDevice[], into: BusSpaces): void {
  for (const d of devices)
    for (const bar of d.bars) {
      const at = pci.mappedBar(d, bar);
      if (at === undefined) continue;
      const children = (BAR_SUBREGIONS[bar.region.name] ?? []).map(([name, addr, size]) => region(name, addr, size));
      (bar.kind === 'io' ? into.io : into.mem).children.push(
        region(bar.region.name, at, bar.size, { prio: 1, children }),
      );
    }
}

/**
 * A bridge's windows into its parent bus (pci_bridge_region_init): each alias sits at the window's base,
 * priority 1, sized limit + 1 - base when the command register enables it and limit >= base, else 0;
 * with the bridge control VGA bit set, the VGA aliases are added too, each enabled by its command bit.
 */
function addBridgeWindows(bridge: PciBridgeDevice, parent: BusSpaces, own: BusSpaces): void {
  const cmd = bridge.config.get(PCI_COMMAND, 2);
  // QEMU moves the aliases only when the guest writes a window, the command register or the bridge
  // control; until then (command still off, every window still closed as reset leaves it) they are
  // where realize put them: at 0, empty.
  const closed = (['io', 'mem', 'pref'] as const).every((k) => bridge.window(k).limit < bridge.window(k).base);
  const pristine = closed && (cmd & (PCI_COMMAND_IO | PCI_COMMAND_MEMORY)) === 0;
  const win = (kind: 'io' | 'mem' | 'pref', name: string, target: MemRegion, enabled: boolean): MemRegion => {
    const w = bridge.window(kind);
    if (pristine) return { ...alias(name, 0n, 0n, target, 0n), prio: 1 };
    const size = enabled && w.limit >= w.base ? w.limit + 1n - w.base : 0n;
    return { ...alias(name, w.base, size, target, w.base), prio: 1 };
  };
  const vgaOn = (bridge.bridgeControl & PCI_BRIDGE_CTL.VGA) !== 0;
  const vga = (name: string, addr: bigint, size: bigint, target: MemRegion, bit: number): MemRegion[] =>
    vgaOn ? [{ ...alias(name, addr, size, target, addr), prio: 1, enabled: (cmd & bit) !== 0 }] : [];
  parent.mem.children.push(
    win('mem', 'pci_bridge_mem', own.mem, (cmd & PCI_COMMAND_MEMORY) !== 0),
    win('pref', 'pci_bridge_pref_mem', own.mem, (cmd & PCI_COMMAND_MEMORY) !== 0),
    ...vga('pci_bridge_vga_mem', 0xa_0000n, 0x2_0000n, own.mem, PCI_COMMAND_MEMORY),
  );
  parent.io.children.push(
    win('io', 'pci_bridge_io', own.io, (cmd & PCI_COMMAND_IO) !== 0),
    ...vga('pci_bridge_vga_io_lo', 0x3b0n, 0xcn, own.io, PCI_COMMAND_IO),
    ...vga('pci_bridge_vga_io_hi', 0x3c0n, 0x20n, own.io, PCI_COMMAND_IO),
  );
}

/** The address spaces of `machine`, in qtestd's fixed order. */
export function machineAddressSpaces(machine: Machine): NamedSpace[] {
  const pci = machine.pci;
  const gpexMmio = region('gpex_mmio', 0n, FULL);
  const mmioWindow = region('gpex_mmio_window', 0n, FULL, { children: [gpexMmio] });
  const ecam = region('pcie-mmcfg-mmio', 0n, 0x1000_0000n);
  const ioport = region('gpex_ioport', 0n, 0x1_0000n);
  const flash0 = region('virt.flash0', 0n, 0x0400_0000n, { kind: 'romd' });
  const secure = machine.config.secure;
  const system = region('system', 0n, FULL, {
    prio: secure ? -1 : 0,
    children: [...(secure ? [] : [flash0]), ...boardRegions(machine, mmioWindow, ecam, ioport)],
  });
  const cpus = [...Array(machine.config.smp).keys()];
  const spaces: NamedSpace[] = [
    { name: 'memory', root: system },
    ...cpus.map((i) => ({ name: `cpu-memory-${i}`, root: system })),
  ];
  if (machine.config.gicVersion === 3) spaces.push({ name: 'gicv3-its-sysmem', root: system });
  if (secure) {
    // The Secure view: flash0 and the Secure-only devices over the whole system map.
    const secureMemory = region('secure-memory', 0n, FULL, {
      children: [
        flash0,
        system,
        region('pl011', 0x0904_0000n, 0x1000n),
        region('pl061', 0x090b_0000n, 0x1000n),
        region('virt.secure-ram', 0x0e00_0000n, 0x0100_0000n, { kind: 'ram' }),
      ],
    });
    spaces.push(...cpus.map((i) => ({ name: `cpu-secure-memory-${i}`, root: secureMemory })));
  }
  spaces.push({ name: 'I/O', root: region('io', 0n, 0x1_0000n) });
  if (pci) pciSpaces(machine, pci, { mem: gpexMmio, io: ioport }, system, spaces);
  return spaces;
}

/**
 * The PCI part: BARs and bridge windows in the bus containers, a bus-master address space per function
 * (its alias enabled by COMMAND.MASTER, to the function's IOMMU region or to system memory), a memory
 * and an I/O space per bridge, and with iommu=smmuv3 an IOMMU space per function, named
 * `smmuv3-iommu-memory-region-<devfn>-<n>`: QEMU numbers them when the machine is ready, walking the
 * buses newest first and each bus by devfn; functions plugged later follow in plug order.
 */
function pciSpaces(machine: Machine, pci: Pci, root: BusSpaces, system: MemRegion, spaces: NamedSpace[]): void {
  const buses: Array<{ bus: PciBus; spaces: BusSpaces }> = [{ bus: pci.topology.rootBus, spaces: root }];
  const bridgeSpaces: NamedSpace[] = [];
  for (const d of pci.allDevices()) {
    const bus = pci.topology.busBehind(d);
    if (!bus) continue;
    const parent = buses.find((b) => b.bus.devices().includes(d))!.spaces;
    const own = { mem: region('pci_bridge_pci', 0n, FULL), io: region('pci_bridge_io', 0n, 1n << 32n) };
    addBridgeWindows(d as PciBridgeDevice, parent, own);
    bridgeSpaces.push({ name: 'pci_bridge_pci_mem', root: own.mem }, { name: 'pci_bridge_pci_io', root: own.io });
    buses.push({ bus, spaces: own });
  }
  for (const b of buses) addBars(pci, b.bus.devices(), b.spaces);
  const coldFirst = [...buses].reverse().flatMap((b) => b.bus.devices());
  const numbered = [
    ...coldFirst.filter((d) => !pci.topology.entryOf(d)?.hotplugged),
    ...pci.allDevices().filter((d) => pci.topology.entryOf(d)?.hotplugged),
  ];
  const iommus: NamedSpace[] = [];
  for (const d of pci.allDevices()) {
    let target = system;
    if (machine.smmu) {
      const name = `smmuv3-iommu-memory-region-${d.devfn}-${numbered.indexOf(d)}`;
      target = region(name, 0n, FULL);
      iommus.push({ name, root: target });
    }
    const master = alias('bus master', 0n, FULL, target, 0n);
    master.enabled = (d.config.get(PCI_COMMAND, 2) & PCI_COMMAND_MASTER) !== 0;
    spaces.push({ name: d.typeName, root: region('bus master container', 0n, FULL, { children: [master] }) });
  }
  spaces.push(...bridgeSpaces, ...iommus.sort((a, b) => (a.name < b.name ? -1 : 1)));
}

/** HMP `info mtree` for `machine`. */
export function formatMachineMtree(machine: Machine): string {
  return formatMtree(machineAddressSpaces(machine));
}
