/**
 * BAR decoding into the host's PCI memory and I/O spaces: where a BAR decodes (QEMU
 * pci_bar_address, with allow-0-address as on virt), which part of it the bridges above let
 * through (their forwarding windows), and keeping the spaces' mappings in step with the registers.
 * Does not model expansion ROMs or VGA/ISA forwarding.
 */
import { AddressSpace } from '../memory/address-space.js';
import type { AccessSize, IoRegion, RamRegion } from '../memory/types.js';
import { PCI_COMMAND } from './config-space.js';
import type { BridgeWindow } from './pci-bridge.js';
import type { PciBar, PciDevice } from './pci-device.js';
import type { Plugged, PciTopology } from './pci-topology.js';

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

export class BarMapper {
  /** PCI memory space (BARs); windows of the system map alias into it. */
  readonly pciMemory = new AddressSpace('gpex_mmio');
  /** PCI I/O space (I/O BARs); the PIO window aliases into it. */
  readonly pciIo = new AddressSpace('gpex_ioport');

  constructor(private readonly topology: PciTopology) {
    this.pciMemory.map(0n, allOnesRegion('gpex_mmio_window', 1n << 64n), -1);
    this.pciIo.map(0n, allOnesRegion('gpex_ioport_window', 0x10000n), -1);
  }

  private spaceFor(kind: PciBar['kind']): AddressSpace {
    return kind === 'io' ? this.pciIo : this.pciMemory;
  }

  /** QEMU pci_bar_address(): where a BAR decodes, or undefined when unmapped. */
  barAddress(device: PciDevice, bar: PciBar): bigint | undefined {
    const entry = this.topology.entryOf(device);
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
      bridge = this.topology.entryOf(bridge)?.bus.bridge;
    }
    return ranges;
  }

  /** Bring the mappings of a function's BARs in line with its registers and the windows above it. */
  update(entry: Plugged): void {
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
      const pieces = ranges.map(([s, e]) =>
        s === want && e === want + bar.size ? bar.region : subRegion(bar.region, s - want, e - s),
      );
      ranges.forEach(([s], i) => space.map(s, pieces[i], 1));
      entry.mappedBars.set(bar, { addr: want, key, pieces });
    }
  }

  /** A bridge's windows may have changed: re-evaluate everything behind it. */
  updateBehind(device: PciDevice): void {
    const sec = this.topology.busBehind(device);
    if (!sec) return;
    for (const e of this.topology.entriesOn(sec)) {
      this.update(e);
      this.updateBehind(e.device);
    }
  }

  /** Take every BAR of a function out of the spaces (unplug). */
  unmapAll(entry: Plugged): void {
    for (const [bar, m] of entry.mappedBars) for (const piece of m.pieces) this.spaceFor(bar.kind).unmap(piece);
    entry.mappedBars.clear();
  }

  /** Where a BAR is mapped now (for info pci / query-pci). */
  mappedAddress(device: PciDevice, bar: PciBar): bigint | undefined {
    return this.topology.entryOf(device)?.mappedBars.get(bar)?.addr;
  }
}
