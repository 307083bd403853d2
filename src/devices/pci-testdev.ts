/**
 * QEMU's `pci-testdev` (PCI 1b36:0005), docs/devices.md#pci-testdev: six ioeventfd self-tests behind
 * a 4 KiB memory BAR0 and a 256-byte I/O BAR1, plus the optional `membar` BAR2. Under the qtest
 * accelerator an armed ioeventfd swallows matching writes before the device sees them; that is
 * modelled per bus access piece. Does not model eventfds as file descriptors (nothing is signalled).
 */
import { SparseRam } from '../memory/sparse-ram.js';
import type { AccessSize, IoRegion, MemTxAttrs } from '../memory/types.js';
import { PciDevice } from '../pci/pci-device.js';
import { prop } from './declaration.js';
import type { DeviceDeclaration } from './declaration.js';

export interface PciTestdevProps {
  /** Size of BAR2 in bytes (power of two); 0 = no BAR2. */
  membar?: bigint;
  /** BAR2 backed by RAM (true) or an empty region (false). */
  membarBacked?: boolean;
}

type IoTestRegion = 'mmio' | 'portio';

interface IoTestSpec {
  region: IoTestRegion;
  name: string;
  /** Offset (in either BAR) whose writes the test counts. */
  triggerOffset: number;
  data: number;
  /** What the test's ioeventfd matches, if it has one. size 0 = any access size. */
  eventfd?: { size: number; matchData: boolean };
}

/** The six tests in index order (header byte 0). BAR0 selects 0–2, BAR1 selects 3–5. */
export const PCI_TESTDEV_TESTS = [
  { region: 'mmio', name: 'mmio-no-eventfd', triggerOffset: 0x800, data: 0xfa },
  {
    region: 'mmio',
    name: 'mmio-wildcard-eventfd',
    triggerOffset: 0x801,
    data: 0xce,
    eventfd: { size: 0, matchData: false },
  },
  {
    region: 'mmio',
    name: 'mmio-datamatch-eventfd',
    triggerOffset: 0x802,
    data: 0xfa,
    eventfd: { size: 1, matchData: true },
  },
  { region: 'portio', name: 'portio-no-eventfd', triggerOffset: 0x83, data: 0xfa },
  {
    region: 'portio',
    name: 'portio-wildcard-eventfd',
    triggerOffset: 0x84,
    data: 0xce,
    eventfd: { size: 1, matchData: false },
  },
  {
    region: 'portio',
    name: 'portio-datamatch-eventfd',
    triggerOffset: 0x85,
    data: 0xfa,
    eventfd: { size: 1, matchData: true },
  },
] as const satisfies readonly IoTestSpec[];

const TESTS_PER_REGION = 3;
/** Header: +0 test, +1 width, +4 offset, +8 data, +12 count, +16 name + NUL. */
const HDR = { TEST: 0, WIDTH: 1, OFFSET: 4, DATA: 8, COUNT: 12, NAME: 16 } as const;
const ACCESS_WIDTH = 1;

function buildHeader(index: number, spec: IoTestSpec): Uint8Array {
  const hdr = new Uint8Array(HDR.NAME + spec.name.length + 1);
  const dv = new DataView(hdr.buffer);
  hdr[HDR.TEST] = index;
  hdr[HDR.WIDTH] = ACCESS_WIDTH;
  dv.setUint32(HDR.OFFSET, spec.triggerOffset, true);
  hdr[HDR.DATA] = spec.data;
  for (let i = 0; i < spec.name.length; i++) hdr[HDR.NAME + i] = spec.name.charCodeAt(i);
  return hdr;
}

/** One BAR (memory or I/O) of the device: byte-granular, little-endian. */
class TestdevRegion implements IoRegion {
  readonly kind = 'io' as const;
  // QEMU: valid defaults (1..4, aligned), impl 1..1. We take whole valid-sized pieces so that the
  // ioeventfd check sees them as QEMU's memory_region_dispatch_write does, then split into bytes.
  readonly valid = { minSize: 1, maxSize: 4, unaligned: false } as const;
  readonly impl = { minSize: 1, maxSize: 4, unaligned: false } as const;

  constructor(
    readonly name: string,
    readonly size: bigint,
    private readonly dev: PciTestdev,
    private readonly type: IoTestRegion,
  ) {}

  read(offset: bigint, size: AccessSize, _attrs: MemTxAttrs): bigint {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.dev.readByte(Number(offset) + i));
    return v;
  }

  write(offset: bigint, size: AccessSize, value: bigint, _attrs: MemTxAttrs): void {
    if (this.dev.eventfdSwallows(this.type, Number(offset), size, value)) return;
    for (let i = 0; i < size; i++)
      this.dev.writeByte(this.type, Number(offset) + i, Number((value >> BigInt(8 * i)) & 0xffn));
  }
}

/** BAR2 without backing: an empty container, so accesses fall through to the window (all ones). */
class EmptyRegion implements IoRegion {
  readonly kind = 'io' as const;
  constructor(
    readonly name: string,
    readonly size: bigint,
  ) {}
  read(_offset: bigint, size: AccessSize): bigint {
    return (1n << BigInt(size * 8)) - 1n;
  }
  write(): void {}
}

export class PciTestdev extends PciDevice {
  readonly typeName = 'pci-testdev';
  private readonly headers: Uint8Array[];
  /** Index of the selected test, or -1. */
  current = -1;

  constructor(props: PciTestdevProps = {}) {
    super();
    this.config.setIdentity({ vendor: 0x1b36, device: 0x0005, revision: 0, classCode: 0x00ff });
    this.headers = PCI_TESTDEV_TESTS.map((spec, i) => buildHeader(i, spec));
    this.addBar({
      index: 0,
      size: 0x1000n,
      kind: 'mem32',
      region: new TestdevRegion('pci-testdev-mmio', 0x1000n, this, 'mmio'),
    });
    this.addBar({
      index: 1,
      size: 0x100n,
      kind: 'io',
      region: new TestdevRegion('pci-testdev-portio', 0x100n, this, 'portio'),
    });
    const membar = props.membar ?? 0n;
    if (membar > 0n) {
      const region = props.membarBacked
        ? new SparseRam('pci-testdev-membar', membar)
        : new EmptyRegion('pci-testdev-membar', membar);
      this.addBar({ index: 2, size: membar, kind: 'mem64', prefetchable: true, region });
    }
  }

  /** The selected test's count (header +12), or undefined when none is selected. */
  get count(): number | undefined {
    if (this.current < 0) return undefined;
    return new DataView(this.headers[this.current].buffer).getUint32(HDR.COUNT, true);
  }

  /** Reads do not depend on the BAR: byte A of the selected header while A + 1 < header size. */
  readByte(addr: number): number {
    if (this.current < 0) return 0;
    const hdr = this.headers[this.current];
    if (addr + ACCESS_WIDTH >= hdr.length) return 0;
    return hdr[addr];
  }

  /** Under qtest an armed ioeventfd consumes a matching access piece (memory_region_dispatch_write). */
  eventfdSwallows(type: IoTestRegion, offset: number, size: number, value: bigint): boolean {
    if (this.current < 0) return false;
    const spec: IoTestSpec = PCI_TESTDEV_TESTS[this.current];
    if (!spec.eventfd || spec.region !== type || offset !== spec.triggerOffset) return false;
    if (spec.eventfd.size !== 0 && spec.eventfd.size !== size) return false;
    return !spec.eventfd.matchData || value === BigInt(spec.data);
  }

  writeByte(type: IoTestRegion, addr: number, value: number): void {
    if (addr === HDR.TEST) {
      this.current = -1;
      if (value >= TESTS_PER_REGION) return;
      const index = (type === 'mmio' ? 0 : TESTS_PER_REGION) + value;
      new DataView(this.headers[index].buffer).setUint32(HDR.COUNT, 0, true);
      this.current = index;
      return;
    }
    if (this.current < 0) return;
    const spec: IoTestSpec = PCI_TESTDEV_TESTS[this.current];
    if (addr !== spec.triggerOffset) return;
    // match_data tests compare the byte; the wildcard ones count any value.
    if (spec.eventfd && !spec.eventfd.matchData) {
      this.bumpCount();
      return;
    }
    if (value === spec.data) this.bumpCount();
  }

  private bumpCount(): void {
    const dv = new DataView(this.headers[this.current].buffer);
    dv.setUint32(HDR.COUNT, (dv.getUint32(HDR.COUNT, true) + 1) >>> 0, true);
  }

  /** pci_testdev_reset: deselect the test (counts are kept until the next selection). */
  protected override resetDevice(): void {
    this.current = -1;
  }
}

/** The `pci-testdev` type as the registry lists it. */
export const PCI_TESTDEV_DEVICE: DeviceDeclaration = {
  name: 'pci-testdev',
  parent: 'pci-device',
  interfaces: ['conventional-pci-device'],
  category: 'Misc devices',
  bus: 'PCI',
  desc: 'PCI Test Device',
  userCreatable: true,
  hotpluggable: true,
  properties: [
    { name: 'membar', kind: 'size', helpDefault: '0' },
    { name: 'membar-backed', kind: 'bool', helpDefault: 'off' },
  ],
  validate(p) {
    const membar = prop.u64(p, 'membar');
    // QEMU 10.2.2 aborts on an assertion in pci_register_bar for a size that is not a power of two.
    if (membar !== undefined && membar !== 0n && (membar & (membar - 1n)) !== 0n) {
      return `Property 'pci-testdev.membar' doesn't take value '${membar}': BAR size must be a power of two`;
    }
    return undefined;
  },
  create: (p) => new PciTestdev({ membar: prop.u64(p, 'membar'), membarBacked: prop.bool(p, 'membar-backed') }),
};
