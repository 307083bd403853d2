/**
 * What the qtest protocol needs from a machine, and nothing more: the CPU's memory views (the
 * plain one, and the one for a set of memory attributes), the I/O port view, the virtual clock,
 * and devices' GPIO lists for IRQ interception. The session adapts a Machine to this; the
 * protocol layer never sees a device model.
 */
import type { IrqLine } from '../../sim/irq.js';
import type { Addr, MemTxAttrs, MemTxResult } from '../../memory/types.js';
import type { WorkJob } from '../../memory/work-meter.js';

/**
 * Where long protocol work (a bulk transfer) runs as a job in slices (memory/work-meter.ts):
 * present in service mode only. Without it (the launcher) every request runs at once, as on QEMU.
 */
export interface QtestJobs {
  /** Run the job: its first slice now; the rest between other sessions' requests. */
  run<T>(job: WorkJob<T>): void;
}

export interface QtestMemory {
  /** Accesses carry `attrs` when the command gave attributes; undefined = unspecified. */
  readBytes(addr: Addr, out: Uint8Array, attrs?: MemTxAttrs): MemTxResult;
  writeBytes(addr: Addr, data: Uint8Array, attrs?: MemTxAttrs): MemTxResult;
  /** memset: fill `length` bytes (may be large; implementations avoid a buffer that big). */
  fill(addr: Addr, length: bigint, byte: number, attrs?: MemTxAttrs): void;
  /** True when [addr, addr+length) is plain RAM (a fill there costs no device accesses). */
  isRam?(addr: Addr, length: bigint): boolean;
  /** Back the RAM of [addr, addr+length) before a write in pieces (throws having done nothing when memory is short). */
  prepareRam?(addr: Addr, length: bigint): void;
}

/** A QOM device as irq_intercept_* / set_irq_in see it. */
export interface QtestDevice {
  /** Stable identity (the same device resolves to the same key). */
  readonly key: object;
  /** GPIO list names (union of in and out lists); '' is the unnamed list. */
  gpioListNames(): string[];
  gpioIn(name: string): IrqLine[];
  gpioOut(name: string): IrqLine[];
}

export interface QtestClock {
  readonly nowNs: bigint;
  nextDeadlineNs(): bigint | undefined;
  advanceTo(targetNs: bigint): void;
}

export interface QtestTarget {
  /** The first CPU's Non-secure view: what plain commands use (QEMU: first_cpu->as). */
  memory: QtestMemory;
  /**
   * The CPU view for accesses with these attributes (QEMU: cpu_asidx_from_attrs — the Secure
   * view when attrs.secure, else the Non-secure one), or undefined when the machine has no such
   * view (a Secure access without `-machine secure=on`).
   */
  memoryFor(attrs: MemTxAttrs): QtestMemory | undefined;
  /**
   * Plain and `*_space`/`*_secure` commands answer `ERR memory access failed 0x%x` when an access
   * fails (the `x-qtestd-memtx-errors=on` opt-in); 10.2.2 answers OK (the default).
   */
  reportMemTxErrors: boolean;
  ioPorts: QtestMemory;
  clock: QtestClock;
  bigEndian: boolean;
  /** Slicing of long requests (the service); undefined: everything runs at once. */
  jobs?: QtestJobs;
  /** Resolve a QOM path (absolute or partial) to a device, or undefined. */
  resolveDevice(path: string): QtestDevice | undefined;
}
