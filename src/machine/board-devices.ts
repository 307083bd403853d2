/**
 * Stand-ins for the `virt` board devices outside qtestd's byte-exact scope (flash, GIC register
 * blocks, PL011, PL031, fw_cfg, PL061, virtio-mmio transports, platform bus, CXL host registers).
 * Each is a small table of the values QEMU 10.2.2 was observed to return (qemu-10.2.2/qtest/
 * qtest-oddities.txt) plus ID registers; everything else reads 0 and ignores writes. What they do
 * not model is listed in protocol/deviations.md ("board devices").
 */
import { IrqLine } from '../sim/irq.js';
import type { AccessRule, AccessSize, IoRegion } from '../memory/types.js';

interface StubSpec {
  name: string;
  size: bigint;
  valid?: Partial<AccessRule>;
  /** 32-bit values by offset; a narrower read at that exact offset returns the low bytes. */
  values?: Record<number, number>;
  /** Reads wider than 4 bytes return 0 (the GIC answers 8-byte reads only for a few registers). */
  narrowOnly?: boolean;
}

export function stubRegion(spec: StubSpec): IoRegion {
  const values = spec.values ?? {};
  return {
    kind: 'io',
    name: spec.name,
    size: spec.size,
    valid: spec.valid,
    impl: { minSize: 1, maxSize: 8 },
    read(offset: bigint, size: AccessSize): bigint {
      if (spec.narrowOnly && size > 4) return 0n;
      const v = values[Number(offset)];
      if (v === undefined) return 0n;
      return BigInt(v) & ((1n << BigInt(size * 8)) - 1n);
    },
    write(): void {},
  };
}

/** PrimeCell peripheral/component ID bytes at 0xfe0..0xffc. */
function primeCellIds(ids: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  ids.forEach((b, i) => (out[0xfe0 + 4 * i] = b));
  return out;
}

export const BOARD_STUBS = {
  flash: (name: string, size: bigint) => stubRegion({ name, size, valid: { minSize: 1, maxSize: 8, unaligned: true } }),
  gicv3Dist: () =>
    stubRegion({
      name: 'gicv3_dist',
      size: 0x10000n,
      valid: { minSize: 4, maxSize: 8 },
      narrowOnly: true,
      values: { 0x0: 0x50, 0x4: 0x037a0008, 0x8: 0x43b, 0xffe8: 0x3b },
    }),
  gicv3Its: () => stubRegion({ name: 'gicv3_its', size: 0x20000n, valid: { minSize: 4, maxSize: 8 } }),
  gicv3Redist: (cpus: number) =>
    stubRegion({
      name: 'gicv3_redist_region[0]',
      size: 0x20000n * BigInt(cpus),
      valid: { minSize: 4, maxSize: 8 },
      narrowOnly: true,
      values: { 0x0: 0x2, 0x8: 0x01000011, 0xffe8: 0x3b },
    }),
  gicv2Dist: () => stubRegion({ name: 'gic_dist', size: 0x1000n, valid: { minSize: 1, maxSize: 4 } }),
  gicv2Cpu: () => stubRegion({ name: 'gic_cpu', size: 0x2000n, valid: { minSize: 1, maxSize: 4 } }),
  pl011: () =>
    stubRegion({
      name: 'pl011',
      size: 0x1000n,
      values: { 0x18: 0x90, ...primeCellIds([0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1]) },
    }),
  pl031: () =>
    stubRegion({
      name: 'pl031',
      size: 0x1000n,
      values: primeCellIds([0x31, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1]),
    }),
  pl061: () =>
    stubRegion({
      name: 'pl061',
      size: 0x1000n,
      values: primeCellIds([0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1]),
    }),
  fwCfg: () => stubRegion({ name: 'fwcfg', size: 0x18n, valid: { minSize: 1, maxSize: 8 } }),
  // Without a backend, QEMU's virtio-mmio answers only magic, version (legacy: 1) and vendor.
  virtioMmio: () =>
    stubRegion({ name: 'virtio-mmio', size: 0x200n, values: { 0x0: 0x74726976, 0x4: 0x1, 0xc: 0x554d4551 } }),
  platformBus: () => stubRegion({ name: 'platform bus', size: 0x2000000n }),
  cxlHost: () => stubRegion({ name: 'cxl_host_reg', size: 0x100000n }),
} as const;

/**
 * The GIC's input lines as qtest sees them: SPIs 0..nSpi-1, then 32 per CPU (SGIs/PPIs).
 * Interrupt delivery to a CPU is not modelled (there is no CPU under qtest).
 */
export class GicInputs {
  readonly lines: IrqLine[];

  constructor(numSpis: number, cpus: number) {
    this.lines = [];
    for (let i = 0; i < numSpis + 32 * cpus; i++) this.lines.push(new IrqLine(`gic-in[${i}]`));
  }

  spi(n: number): IrqLine {
    return this.lines[n];
  }
}
