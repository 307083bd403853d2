/**
 * What the qtest protocol needs from a machine, and nothing more: the CPU's memory and I/O port
 * views, the virtual clock, and devices' GPIO lists for IRQ interception. The session adapts a
 * Machine to this; the protocol layer never sees a device model.
 */
import type { IrqLine } from '../../sim/irq.js';
import type { Addr, MemTxResult } from '../../memory/types.js';

export interface QtestMemory {
  readBytes(addr: Addr, out: Uint8Array): MemTxResult;
  writeBytes(addr: Addr, data: Uint8Array): MemTxResult;
  /** memset: fill `length` bytes (may be large; implementations avoid a buffer that big). */
  fill(addr: Addr, length: bigint, byte: number): void;
  /** True when [addr, addr+length) is plain RAM (a fill there costs no device accesses). */
  isRam?(addr: Addr, length: bigint): boolean;
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
  memory: QtestMemory;
  ioPorts: QtestMemory;
  clock: QtestClock;
  bigEndian: boolean;
  /** Resolve a QOM path (absolute or partial) to a device, or undefined. */
  resolveDevice(path: string): QtestDevice | undefined;
}
