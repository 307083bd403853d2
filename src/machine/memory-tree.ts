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
 * (protocol/deviations.md, "HMP").
 */
import type { AddressSpace } from '../memory/address-space.js';
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
const lastByte = (size: bigint): bigint => (size === FULL ? FULL - 1n : size - 1n);

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
  const its = machine.config.gicVersion === 3;
  const rs: MemRegion[] = [
    region('virt.flash1', 0x0400_0000n, 0x0400_0000n, { kind: 'romd' }),
    region('gicv3_dist', 0x0800_0000n, 0x1_0000n),
  ];
  if (its)
    rs.push(
      region('gicv3_its', 0x0808_0000n, 0x2_0000n, {
        children: [region('control', 0n, 0x1_0000n), region('translation', 0x1_0000n, 0x1_0000n)],
      }),
    );
  rs.push(
    region('gicv3_redist_region[0]', 0x080a_0000n, 0x2_0000n),
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

/** BARs mapped in a PCI space, as children of the window's inner region. */
function mappedBars(space: AddressSpace): MemRegion[] {
  return [...space.listMappings()]
    .filter((m) => m.priority >= 0) // qtestd's all-ones background, not a QEMU region
    .map((m) => region(m.region.name, m.base, m.region.size, { prio: m.priority }));
}

/** The address spaces of `machine`, in qtestd's fixed order. */
export function machineAddressSpaces(machine: Machine): NamedSpace[] {
  const pci = machine.pci;
  const gpexMmio = region('gpex_mmio', 0n, FULL, { children: pci ? mappedBars(pci.pciMemory) : [] });
  const mmioWindow = region('gpex_mmio_window', 0n, FULL, { children: [gpexMmio] });
  const ecam = region('pcie-mmcfg-mmio', 0n, 0x1000_0000n);
  const ioport = region('gpex_ioport', 0n, 0x1_0000n, { children: pci ? mappedBars(pci.pciIo) : [] });
  const flash0 = region('virt.flash0', 0n, 0x0400_0000n, { kind: 'romd' });
  const secure = machine.config.secure;
  const system = region('system', 0n, FULL, {
    prio: secure ? -1 : 0,
    children: [...(secure ? [] : [flash0]), ...boardRegions(machine, mmioWindow, ecam, ioport)],
  });
  const spaces: NamedSpace[] = [
    { name: 'memory', root: system },
    { name: 'cpu-memory-0', root: system },
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
    spaces.push({ name: 'cpu-secure-memory-0', root: secureMemory });
  }
  spaces.push({ name: 'I/O', root: region('io', 0n, 0x1_0000n) });
  if (pci) {
    const iommus: NamedSpace[] = [];
    pci.allDevices().forEach((d, index) => {
      let target = system;
      if (machine.smmu) {
        const name = `smmuv3-iommu-memory-region-${d.devfn}-${index}`;
        target = region(name, 0n, FULL);
        iommus.push({ name, root: target });
      }
      // The alias is enabled with the Bus Master bit of the command register.
      const master = alias('bus master memory', 0n, FULL, target, 0n);
      master.enabled = (d.config.get(PCI_COMMAND, 2) & PCI_COMMAND_MASTER) !== 0;
      spaces.push({ name: d.typeName, root: region('bus master container', 0n, FULL, { children: [master] }) });
    });
    spaces.push(...iommus);
  }
  return spaces;
}

/** HMP `info mtree` for `machine`. */
export function formatMachineMtree(machine: Machine): string {
  return formatMtree(machineAddressSpaces(machine));
}
