// The one test rig for device models: a device built through the registry (a type missing from the
// registry throws, so the test fails instead of skipping), a system address space with RAM, the DMA
// views and context the host bridge would give it, its BARs mapped, and byte-level accessors.
import type { Tracer } from '../../src/base/trace.js';
import type { Logger } from '../../src/base/log.js';
import { silentLogger } from '../../src/base/log.js';
import { findDeviceType } from '../../src/devices/registry.js';
import type { PropValue } from '../../src/devices/properties.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import { loadLE, toLE } from '../../src/memory/bytes.js';
import { DmaView } from '../../src/memory/dma-view.js';
import type { Iommu } from '../../src/memory/dma-view.js';
import { SparseRam } from '../../src/memory/sparse-ram.js';
import type { PciDevice } from '../../src/pci/pci-device.js';
import { VirtualClock } from '../../src/sim/clock.js';

/** Where the rig maps BAR0 and guest RAM by default. */
export const RIG_BAR = 0x10000000n;
export const RIG_RAM = 0x40000000n;

/** Create `typeName` through its registry declaration, with props by their QOM names. */
export function registryDevice<T extends PciDevice>(
  typeName: string,
  cls: abstract new (...args: never[]) => T,
  props: Record<string, PropValue> = {},
): T {
  const decl = findDeviceType(typeName);
  if (!decl) throw new Error(`device type '${typeName}' is missing from the registry`);
  const dev = decl.create(new Map(Object.entries(props)));
  if (!(dev instanceof cls)) throw new Error(`registry type '${typeName}' does not build a ${cls.name}`);
  return dev;
}

export interface RigOptions {
  /** Bytes of RAM at RIG_RAM (default 512 MiB; 0 for none). */
  ramBytes?: bigint;
  /** IOMMU behind the DMA views. */
  iommu?: Iommu;
  /** Also hand the device the ungated IOMMU view (what the SMMU test devices use). */
  iommuView?: boolean;
  log?: Logger;
  setIntx?: (level: number) => void;
  /** Which BARs to map where (default: BAR0 at RIG_BAR). */
  bars?: ReadonlyArray<readonly [index: number, addr: bigint]>;
  /** Write BAR0's address into config space (as a guest would before enabling it). */
  programBar0?: boolean;
  /** COMMAND value to write after plugging, if any. */
  command?: number;
  /** Attach the device to a context (false: the bare model, BARs only). */
  attach?: boolean;
  /** The machine's trace events (default: off). */
  trace?: Tracer;
}

export interface Rig<T extends PciDevice> {
  dev: T;
  memory: AddressSpace;
  clock: VirtualClock;
  /** Little-endian read of `size` bytes at BAR0 + off. */
  rd(off: number, size?: number): bigint;
  /** Little-endian write of `size` bytes at BAR0 + off. */
  wr(off: number, v: bigint, size?: number): void;
  /** Little-endian read of `size` bytes at an address. */
  load(addr: bigint, size?: number): bigint;
  /** Little-endian write at an address. */
  store(addr: bigint, v: bigint, size: number): void;
  /** Hex dump of `n` bytes at an address. */
  hex(addr: bigint, n: number): string;
  /** Write hex bytes at an address. */
  poke(addr: bigint, hex: string): void;
}

export function deviceRig<T extends PciDevice>(dev: T, opts: RigOptions = {}): Rig<T> {
  const memory = new AddressSpace('system');
  const ramBytes = opts.ramBytes ?? 512n << 20n;
  if (ramBytes > 0n) memory.map(RIG_RAM, new SparseRam('ram', ramBytes));
  const clock = new VirtualClock();
  const bars = opts.bars ?? [[0, RIG_BAR]];
  if (opts.attach ?? true) {
    dev.devfn = 8; // the bus put it in slot 1
    const view = (gated: boolean) =>
      new DmaView({
        memory,
        iommu: opts.iommu,
        requesterId: () => dev.requesterId(),
        busMasterEnabled: () => (gated ? dev.busMasterEnabled : true),
      });
    const ctx = {
      dma: view(true),
      memory,
      clock,
      log: opts.log ?? silentLogger(),
      setIntx: opts.setIntx ?? (() => {}),
      ...(opts.trace ? { trace: opts.trace } : {}),
    };
    dev.attach(opts.iommuView ? { ...ctx, iommu: view(false) } : ctx);
  }
  for (const [index, addr] of bars) memory.map(addr, dev.bars.find((b) => b.index === index)!.region);
  if (opts.programBar0) dev.configWrite(0x10, 4, Number(bars[0][1] & 0xffffffffn));
  if (opts.command !== undefined) dev.configWrite(0x04, 2, opts.command);
  const load = (addr: bigint, size = 4) => {
    const b = new Uint8Array(size);
    memory.readBytes(addr, b);
    return loadLE(b);
  };
  const store = (addr: bigint, v: bigint, size: number) => void memory.writeBytes(addr, toLE(v, size));
  const bar0 = bars[0][1];
  return {
    dev,
    memory,
    clock,
    rd: (off, size = 4) => load(bar0 + BigInt(off), size),
    wr: (off, v, size = 4) => store(bar0 + BigInt(off), v, size),
    load,
    store,
    hex(addr, n) {
      const b = new Uint8Array(n);
      memory.readBytes(addr, b);
      return Buffer.from(b).toString('hex');
    },
    poke: (addr, hex) => void memory.writeBytes(addr, Buffer.from(hex, 'hex')),
  };
}
