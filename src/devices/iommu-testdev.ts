/**
 * The upstream `iommu-testdev` (PCI 1b36:0005), docs/devices.md#iommu-testdev: arm with the doorbell, then a read
 * of DMA_TRIGGERING writes a 0x12345678 pattern to an IOVA through the IOMMU address space, reads
 * it back from a GPA in system memory and reports a result code. Synchronous, 4-byte MMIO only.
 * Does not use the attributes for anything but the consistency check (the SMMU ignores them).
 */
import { TRACE_OFF } from '../base/trace.js';
import type { Tracer } from '../base/trace.js';
import { TRACE_IDS as T } from '../base/trace-events.js';
import type { RegisterFile } from '../memory/register-file.js';
import type { RegisterTable } from '../memory/register-file.js';
import type { AccessSize, BusAccess, MemTxAttrs } from '../memory/types.js';
import { PciDevice } from '../pci/pci-device.js';
import { setTestdevIdentity, TESTDEV_BAR0_BYTES, testdevRegisterBar } from './testdev-bar.js';
import type { DeviceDeclaration } from './declaration.js';
import { MmioGuard } from './reentrancy.js';
import { runWorkJob } from '../memory/work-meter.js';

export const IOMMU_TESTDEV_RESULT = {
  OK: 0,
  IDLE: 0xffffffff,
  BUSY: 0xfffffffe,
  BAD_LEN: 0xdead0001,
  TX_FAIL: 0xdead0002,
  RD_FAIL: 0xdead0003,
  MISMATCH: 0xdead0004,
  NOT_ARMED: 0xdead0005,
  BAD_ATTRS: 0xdead0006,
} as const;

const PATTERN_WORD = 0x12345678;
const SPACE_SECURE = 0;
const SPACE_NONSECURE = 1;
/** DMA is done in pieces of this many bytes (the smallest page), aligned in IOVA space (see chunks). */
const CHUNK_BYTES = 0x1000n;

export const IOMMU_TESTDEV_REGISTERS = {
  DMA_TRIGGERING: { offset: 0x00, width: 32, access: 'ro', read: 'trigger' },
  DMA_GVA_LO: { offset: 0x04, width: 32, access: 'rw' },
  DMA_GVA_HI: { offset: 0x08, width: 32, access: 'rw' },
  DMA_LEN: { offset: 0x0c, width: 32, access: 'rw' },
  DMA_RESULT: { offset: 0x10, width: 32, access: 'rw', reset: 0xffffffffn },
  DMA_DBELL: { offset: 0x14, width: 32, access: 'wo', write: 'doorbell' },
  /** bit 0 secure, bits 2:1 space, bit 3 space valid; reset: space 1 (Non-secure), not valid. */
  DMA_ATTRS: { offset: 0x18, width: 32, access: 'rw', reset: 0x2n },
  DMA_GPA_LO: { offset: 0x1c, width: 32, access: 'rw' },
  DMA_GPA_HI: { offset: 0x20, width: 32, access: 'rw' },
} as const satisfies RegisterTable;

function patternByte(i: bigint): number {
  return (PATTERN_WORD >>> (Number(i & 3n) * 8)) & 0xff;
}

/**
 * [start, start+length) in pieces that end on CHUNK_BYTES-aligned addresses, so that the DMA view
 * splits (and faults) exactly as one big access would, without one huge buffer.
 */
function* chunks(start: bigint, length: bigint): Generator<[addr: bigint, done: bigint, n: number]> {
  let done = 0n;
  while (done < length) {
    const addr = BigInt.asUintN(64, start + done);
    const toBoundary = CHUNK_BYTES - (addr % CHUNK_BYTES);
    const n = toBoundary < length - done ? toBoundary : length - done;
    yield [addr, done, Number(n)];
    done += n;
  }
}

/**
 * The read-back data as 4-byte little-endian words from the start of the transfer (the last one
 * possibly shorter), kept up to the first word that differs from the pattern.
 */
class WordCollector {
  private readonly actual: number[] = [];
  private partial = 0;
  private stopped = false;

  /** Bytes at transfer offset `done`. */
  add(buf: Uint8Array, done: bigint): void {
    if (this.stopped) return;
    let off = Number(done);
    for (let i = 0; i < buf.length; i++, off++) {
      const shift = (off & 3) * 8;
      this.partial = (this.partial | (buf[i]! << shift)) >>> 0;
      if ((off & 3) === 3) {
        this.actual.push(this.partial);
        this.partial = 0;
        if (this.actual[this.actual.length - 1] !== PATTERN_WORD) {
          this.stopped = true;
          return;
        }
      }
    }
  }

  /** [expected, actual] per word, for a transfer of `length` bytes. */
  *words(length: bigint): Generator<[number, number]> {
    for (const a of this.actual) {
      yield [PATTERN_WORD, a];
      if (a !== PATTERN_WORD) return;
    }
    const rest = Number(length & 3n);
    if (!this.stopped && rest !== 0) yield [PATTERN_WORD & (2 ** (8 * rest) - 1), this.partial];
  }
}

/** Longest DMA qtestd performs (a deviation: upstream has none). */
export const MAX_DMA_BYTES = 16n << 20n;

export class IommuTestdev extends PciDevice {
  /** QEMU's re-entrancy guard over the BAR (reentrancy.ts). */
  readonly mmioGuard = new MmioGuard(() => this.ctx.log);
  readonly typeName = 'iommu-testdev';
  readonly regs: RegisterFile<typeof IOMMU_TESTDEV_REGISTERS>;
  private armed = false;

  constructor() {
    super();
    setTestdevIdentity(this.config);
    this.regs = testdevRegisterBar('iommu-testdev', IOMMU_TESTDEV_REGISTERS, {
      read: {
        trigger: () => {
          this.runDma();
          return 0n;
        },
      },
      write: {
        doorbell: (w) => {
          this.armed = (w.data & 1n) !== 0n;
          this.setResult(this.armed ? IOMMU_TESTDEV_RESULT.BUSY : IOMMU_TESTDEV_RESULT.IDLE);
          if (this.tr.on[T.iommu_testdev_dma_armed]) this.tr.emit(T.iommu_testdev_dma_armed, this.armed);
        },
      },
    });
    this.addBar({
      index: 0,
      size: TESTDEV_BAR0_BYTES,
      kind: 'mem32',
      region: this.mmioGuard.wrap(this.tracedMmio(this.regs)),
    });
  }

  /**
   * iommu_testdev_mmio_read after the access (so after a trigger's DMA events), _mmio_write before
   * it; inside the re-entrancy guard, so a refused access prints nothing.
   */
  private tracedMmio<R extends RegisterFile<typeof IOMMU_TESTDEV_REGISTERS>>(region: R): R {
    const traced = Object.create(region) as R;
    traced.read = (offset: bigint, size: AccessSize, attrs: MemTxAttrs): bigint => {
      const v = region.read(offset, size, attrs);
      if (this.tr.on[T.iommu_testdev_mmio_read]) this.tr.emit(T.iommu_testdev_mmio_read, offset, v, size);
      return v;
    };
    traced.write = (offset: bigint, size: AccessSize, value: bigint, attrs: MemTxAttrs): void => {
      if (this.tr.on[T.iommu_testdev_mmio_write]) this.tr.emit(T.iommu_testdev_mmio_write, offset, value, size);
      region.write(offset, size, value, attrs);
    };
    return traced;
  }

  /** The machine's trace events (iommu_testdev_*). */
  private get tr(): Tracer {
    return this.ctx.trace ?? TRACE_OFF;
  }

  private setResult(code: number): void {
    this.regs.set('DMA_RESULT', BigInt(code));
  }

  private get iova(): bigint {
    return (this.regs.get('DMA_GVA_HI') << 32n) | this.regs.get('DMA_GVA_LO');
  }

  private get gpa(): bigint {
    return (this.regs.get('DMA_GPA_HI') << 32n) | this.regs.get('DMA_GPA_LO');
  }

  /** The trigger state machine (§9.1 steps 1–7). */
  private runDma(): void {
    if (!this.armed) {
      this.setResult(IOMMU_TESTDEV_RESULT.NOT_ARMED);
      if (this.tr.on[T.iommu_testdev_dma_result])
        this.tr.emit(T.iommu_testdev_dma_result, IOMMU_TESTDEV_RESULT.NOT_ARMED);
      return;
    }
    if (this.tr.on[T.iommu_testdev_dma_start]) this.tr.emit(T.iommu_testdev_dma_start);
    // A long transfer may run in slices (memory/work-meter.ts): DMA_RESULT stays BUSY until it
    // ends. Cut short by the work budget: disarmed, DMA_TX_FAIL (docs/devices.md#iommu-testdev).
    const finish = (result: number): void => {
      this.setResult(result);
      if (this.tr.on[T.iommu_testdev_dma_result]) this.tr.emit(T.iommu_testdev_dma_result, result);
      this.armed = false;
    };
    runWorkJob(this.ctx.memory.meter, {
      steps: this.transfer(),
      done: finish,
      settle: () => finish(IOMMU_TESTDEV_RESULT.TX_FAIL),
    });
  }

  /** The transfer, yielding after each piece; returns the result code. */
  private *transfer(): Generator<void, number> {
    const length = this.regs.get('DMA_LEN');
    if (length === 0n) return IOMMU_TESTDEV_RESULT.BAD_LEN;
    // Upstream has no maximum; a 4 GiB DMA would take minutes to hours here and stall every
    // session of the process. Longer transfers are refused (protocol/deviations-devices.md).
    if (length > MAX_DMA_BYTES) return IOMMU_TESTDEV_RESULT.BAD_LEN;
    const cfg = Number(this.regs.get('DMA_ATTRS'));
    const secure = (cfg & 1) !== 0;
    const spaceValid = (cfg & 8) !== 0;
    const space = spaceValid ? (cfg >> 1) & 3 : SPACE_NONSECURE;
    const attrs: MemTxAttrs = { secure, space };
    if (spaceValid && (space === SPACE_SECURE || space === SPACE_NONSECURE) && secure !== (space === SPACE_SECURE)) {
      return IOMMU_TESTDEV_RESULT.BAD_ATTRS;
    }
    const iommu: BusAccess = this.ctx.iommu ?? this.ctx.dma;
    if (this.tr.on[T.iommu_testdev_dma_write]) this.tr.emit(T.iommu_testdev_dma_write, this.iova, length);
    let ok = true;
    for (const [addr, done, n] of chunks(this.iova, length)) {
      const buf = new Uint8Array(n);
      for (let i = 0; i < n; i++) buf[i] = patternByte(done + BigInt(i));
      if (iommu.writeBytes(addr, buf, attrs) !== 'ok') ok = false;
      yield;
    }
    if (!ok) return IOMMU_TESTDEV_RESULT.TX_FAIL;
    if (this.tr.on[T.iommu_testdev_dma_read]) this.tr.emit(T.iommu_testdev_dma_read, this.iova, length);
    // With a Secure SMMU the RFC device reads GPA back through the view the translation of GVA
    // outputs to (docs/secure-smmu.md "iommu-testdev"); QEMU 10.2.2 reads system memory.
    let readView: BusAccess = this.ctx.memory;
    if (this.ctx.translate) {
      const t = this.ctx.translate(this.iova, false, attrs);
      if (!t.ok) return IOMMU_TESTDEV_RESULT.RD_FAIL;
      if (t.target) readView = t.target;
    }
    let mismatch = false;
    // iommu_testdev_dma_verify: one line per 4-byte word read back, up to the first that differs,
    // printed only when the whole read succeeded (QEMU reads everything, then compares).
    const verify = this.tr.on[T.iommu_testdev_dma_verify] ? new WordCollector() : undefined;
    for (const [addr, done, n] of chunks(this.gpa, length)) {
      const buf = new Uint8Array(n);
      if (readView.readBytes(addr, buf, attrs) !== 'ok') ok = false;
      for (let i = 0; i < n && !mismatch; i++) {
        if (buf[i] !== patternByte(done + BigInt(i))) mismatch = true;
      }
      verify?.add(buf, done);
      yield;
    }
    if (!ok) return IOMMU_TESTDEV_RESULT.RD_FAIL;
    if (verify)
      for (const [expected, actual] of verify.words(length)) this.tr.emit(T.iommu_testdev_dma_verify, expected, actual);
    return mismatch ? IOMMU_TESTDEV_RESULT.MISMATCH : IOMMU_TESTDEV_RESULT.OK;
  }

  /** Device reset (legacy reset handler): everything back to the realize values. */
  protected override resetDevice(): void {
    this.regs.reset();
    this.armed = false;
  }
}

/** The `iommu-testdev` type as the registry lists it. */
export const IOMMU_TESTDEV_DEVICE: DeviceDeclaration = {
  name: 'iommu-testdev',
  parent: 'pci-device',
  interfaces: ['conventional-pci-device'],
  category: 'Misc devices',
  bus: 'PCI',
  desc: 'A test device for IOMMU',
  userCreatable: true,
  hotpluggable: true,
  properties: [],
  create: () => new IommuTestdev(),
};
