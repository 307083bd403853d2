/**
 * QEMU's `edu` teaching device (PCI 1234:11e8), docs/devices.md#edu: identity and liveness
 * registers, factorial, interrupt status/raise/ack over INTx or MSI, and a DMA engine between a
 * 4 KiB device buffer and bus addresses, completed by a 100 ms virtual-clock timer.
 * Deliberately different from 10.2.2 (see protocol/deviations-devices.md): the factorial completes
 * synchronously, and out-of-buffer DMA copies only the in-buffer part instead of host memory.
 */
import { RegisterFile } from '../memory/register-file.js';
import type { RegisterTable, RegisterWrite } from '../memory/register-file.js';
import type { VirtualTimer } from '../sim/clock.js';
import { PCI_CFG } from '../pci/config-space.js';
import { MsiCapability } from '../pci/msi.js';
import { PciDevice } from '../pci/pci-device.js';
import type { PciDeviceContext } from '../pci/pci-device.js';
import { prop } from './declaration.js';
import type { DeviceDeclaration } from './declaration.js';
import { settleOnLimit } from './work-limit.js';
import { MmioGuard } from './reentrancy.js';

export interface EduProps {
  /** Bus-side DMA addresses are ANDed with this (QOM `dma_mask`, default 28 bits). */
  dmaMask?: bigint;
}

export const EDU_DEFAULT_DMA_MASK = 0x0fffffffn;

const BAR0_BYTES = 1n << 20n;
/** The device buffer window (device-side DMA addresses). */
const DMA_BUFFER_START = 0x40000n;
const DMA_BUFFER_BYTES = 4096;
const DMA_DELAY_MS = 100n;
const NS_PER_MS = 1_000_000n;

const STATUS_COMPUTING = 0x01n;
const STATUS_IRQFACT = 0x80n;
const DMA_CMD_RUN = 0x1n;
const DMA_CMD_TO_BUS = 0x2n;
const DMA_CMD_IRQ = 0x4n;
const IRQ_FACTORIAL = 0x1n;
const IRQ_DMA = 0x100n;

/**
 * BAR0 registers (§1.2). Offsets that are not registers read all ones; 64-bit DMA registers have no
 * separately readable upper half (0x84 … 0x9c are not registers).
 */
export const EDU_REGISTERS = {
  IDENTIFICATION: { offset: 0x00, width: 32, access: 'ro', reset: 0x010000edn },
  LIVENESS: { offset: 0x04, width: 32, access: 'rw', write: 'liveness' },
  FACTORIAL: { offset: 0x08, width: 32, access: 'rw', write: 'factorial' },
  STATUS: { offset: 0x20, width: 32, access: 'rw', writeMask: STATUS_IRQFACT },
  IRQ_STATUS: { offset: 0x24, width: 32, access: 'ro' },
  IRQ_RAISE: { offset: 0x60, width: 32, access: 'wo', write: 'irqRaise' },
  IRQ_ACK: { offset: 0x64, width: 32, access: 'wo', write: 'irqAck' },
  DMA_SRC: { offset: 0x80, width: 64, access: 'rw', highHalf: false, write: 'dmaParam' },
  DMA_DST: { offset: 0x88, width: 64, access: 'rw', highHalf: false, write: 'dmaParam' },
  DMA_CNT: { offset: 0x90, width: 64, access: 'rw', highHalf: false, write: 'dmaParam' },
  DMA_CMD: { offset: 0x98, width: 64, access: 'rw', highHalf: false, write: 'dmaCmd' },
} as const satisfies RegisterTable;

type EduReg = keyof typeof EDU_REGISTERS;

function factorial32(n: bigint): bigint {
  if (n >= 34n) return 0n; // 34! has 32 factors of 2: every product from here on is 0 mod 2^32 (and the loop would run up to 2^32 times)
  let r = 1n;
  for (let i = n; i > 0n; i--) r = BigInt.asUintN(32, r * i);
  return r;
}

function hex16(v: bigint): string {
  return '0x' + BigInt.asUintN(64, v).toString(16).padStart(16, '0');
}

export class Edu extends PciDevice {
  /** QEMU's re-entrancy guard over the BAR (reentrancy.ts). */
  readonly mmioGuard = new MmioGuard(() => this.ctx.log);
  readonly typeName = 'edu';
  readonly regs: RegisterFile<typeof EDU_REGISTERS>;
  readonly msi: MsiCapability;
  /** The DMA buffer; never cleared, not even by system_reset. */
  readonly buffer = new Uint8Array(DMA_BUFFER_BYTES);
  dmaMask: bigint;
  private timer?: VirtualTimer;

  constructor(props: EduProps = {}) {
    super();
    this.dmaMask = BigInt.asUintN(64, props.dmaMask ?? EDU_DEFAULT_DMA_MASK);
    this.config.setIdentity({ vendor: 0x1234, device: 0x11e8, revision: 0x10, classCode: 0x00ff });
    this.config.set(PCI_CFG.INTERRUPT_PIN, 1, 1);
    this.msi = new MsiCapability(this.config, { offset: 0x40, vectors: 1, is64bit: true, perVectorMask: false });
    this.regs = new RegisterFile({
      name: 'edu-mmio',
      size: BAR0_BYTES,
      registers: EDU_REGISTERS,
      unknown: 'ones',
      // edu_mmio_ops: valid and impl 4..8 bytes; the handler itself refuses 8 bytes below 0x80.
      valid: { minSize: 4, maxSize: 8 },
      impl: { minSize: 4, maxSize: 8 },
      hooks: {
        read: {},
        write: {
          liveness: (w) => ~w.data,
          factorial: (w) => this.writeFactorial(w),
          irqRaise: (w) => {
            this.raiseIrq(w.data);
          },
          irqAck: (w) => {
            this.lowerIrq(w.data);
          },
          dmaParam: (w) => (this.dmaRunning ? w.previous : w.data),
          dmaCmd: (w) => this.writeDmaCmd(w),
        },
      },
    });
    this.addBar({ index: 0, size: BAR0_BYTES, kind: 'mem32', region: this.mmioGuard.wrap(this.regs) });
  }

  override attach(context: PciDeviceContext): void {
    super.attach(context);
    this.timer ??= context.clock.createTimer(() => this.dmaTimerFired());
  }

  private get dmaRunning(): boolean {
    return (this.regs.get('DMA_CMD') & DMA_CMD_RUN) !== 0n;
  }

  /** Deadline of the pending DMA, if any (ns). */
  get dmaDeadlineNs(): bigint | undefined {
    return this.timer?.deadlineNs;
  }

  private writeFactorial(w: RegisterWrite<EduReg>): bigint {
    if (this.regs.get('STATUS') & STATUS_COMPUTING) return w.previous;
    // 10.2.2 computes in a worker thread; we finish before the write returns (deviation).
    const result = factorial32(w.data);
    if (this.regs.get('STATUS') & STATUS_IRQFACT) this.raiseIrq(IRQ_FACTORIAL);
    return result;
  }

  private writeDmaCmd(w: RegisterWrite<EduReg>): bigint {
    if (this.dmaRunning || (w.data & DMA_CMD_RUN) === 0n) return w.previous;
    const nowMs = this.ctx.clock.nowNs / NS_PER_MS;
    this.timer!.armAt((nowMs + DMA_DELAY_MS) * NS_PER_MS);
    return w.data;
  }

  /** edu_raise_irq: accumulate the cause; MSI on every call while any cause is set, else INTx. */
  private raiseIrq(cause: bigint): void {
    const status = this.regs.get('IRQ_STATUS') | cause;
    this.regs.set('IRQ_STATUS', status);
    if (status === 0n) return;
    if (this.msi.enabled) this.msi.notify(this.ctx.dma, 0);
    else this.ctx.setIntx(1);
  }

  /** edu_lower_irq: INTx drops when no cause is left and MSI is off. */
  private lowerIrq(cause: bigint): void {
    const status = this.regs.get('IRQ_STATUS') & ~cause;
    this.regs.set('IRQ_STATUS', status);
    if (status === 0n && !this.msi.enabled) this.ctx.setIntx(0);
  }

  private clampDma(addr: bigint): bigint {
    const clamped = addr & this.dmaMask;
    if (clamped !== addr) {
      this.ctx.log.debug({ guestError: true }, `EDU: clamping DMA ${hex16(addr)} to ${hex16(clamped)}!`);
    }
    return clamped;
  }

  /**
   * The part of [start, start+count) inside the buffer window, as an offset into the transfer and
   * into the buffer. Logs the 10.2.2 guest-error text when the transfer is out of range.
   */
  private bufferWindow(start: bigint, count: bigint): { skip: bigint; bufferOffset: number; length: number } {
    const end = start + count; // unbounded: no 64-bit wrap
    const windowEnd = DMA_BUFFER_START + BigInt(DMA_BUFFER_BYTES);
    if (start < DMA_BUFFER_START || end > windowEnd) {
      this.ctx.log.debug(
        { guestError: true },
        `EDU: DMA range ${hex16(start)}-${hex16(end - 1n)} out of bounds (${hex16(DMA_BUFFER_START)}-${hex16(windowEnd - 1n)})!`,
      );
    }
    const lo = start > DMA_BUFFER_START ? start : DMA_BUFFER_START;
    const hi = end < windowEnd ? end : windowEnd;
    if (hi <= lo) return { skip: 0n, bufferOffset: 0, length: 0 };
    return { skip: lo - start, bufferOffset: Number(lo - DMA_BUFFER_START), length: Number(hi - lo) };
  }

  /** edu_dma_timer: the whole copy happens here, then RUN clears and the IRQ may be raised. */
  private dmaTimerFired(): void {
    const cmd = this.regs.get('DMA_CMD');
    if ((cmd & DMA_CMD_RUN) === 0n) return;
    // Out of work budget mid-copy: RUN clears (idle), no completion interrupt.
    settleOnLimit(
      () => this.dmaCopy(cmd),
      () => this.regs.set('DMA_CMD', cmd & ~DMA_CMD_RUN),
    );
    this.regs.set('DMA_CMD', cmd & ~DMA_CMD_RUN);
    if (cmd & DMA_CMD_IRQ) this.raiseIrq(IRQ_DMA);
  }

  private dmaCopy(cmd: bigint): void {
    const count = this.regs.get('DMA_CNT');
    if (cmd & DMA_CMD_TO_BUS) {
      const w = this.bufferWindow(this.regs.get('DMA_SRC'), count);
      const bus = this.clampDma(this.regs.get('DMA_DST'));
      if (w.length > 0)
        this.ctx.dma.writeBytes(bus + w.skip, this.buffer.subarray(w.bufferOffset, w.bufferOffset + w.length));
    } else {
      const w = this.bufferWindow(this.regs.get('DMA_DST'), count);
      const bus = this.clampDma(this.regs.get('DMA_SRC'));
      if (w.length > 0)
        this.ctx.dma.readBytes(bus + w.skip, this.buffer.subarray(w.bufferOffset, w.bufferOffset + w.length));
    }
  }

  override configWrite(off: number, len: 1 | 2 | 4, value: number): void {
    super.configWrite(off, len, value);
    this.msi.configWritten(off, len, { deassertIntx: () => this.ctx.setIntx(0), dma: () => this.ctx.dma });
  }

  /**
   * edu has no reset handler: registers, buffer, dma_mask and a pending DMA timer survive. Only the
   * PCI core's part of the reset applies here: MSI is reset and INTx deasserted.
   */
  protected override resetDevice(): void {
    this.msi.reset();
    this.ctx.setIntx(0);
  }

  override unrealize(): void {
    this.timer?.cancel();
  }

  override qomProperties(): ReturnType<PciDevice['qomProperties']> {
    return {
      dma_mask: {
        type: 'uint64',
        get: () => this.dmaMask,
        set: (v: unknown) => {
          this.dmaMask = BigInt.asUintN(64, BigInt(v as bigint | number));
        },
      },
    };
  }
}

/** The `edu` type as the registry lists it. */
export const EDU_DEVICE: DeviceDeclaration = {
  name: 'edu',
  parent: 'pci-device',
  interfaces: ['conventional-pci-device'],
  category: 'Misc devices',
  bus: 'PCI',
  userCreatable: true,
  hotpluggable: true,
  // A plain QOM property (object_property_add_uint64_ptr): help shows no default.
  properties: [{ name: 'dma_mask', kind: 'uint64' }],
  create: (p) => new Edu({ dmaMask: prop.u64(p, 'dma_mask') }),
};
