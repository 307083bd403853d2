/**
 * Circular-queue index arithmetic for the command and event queues (IHI 0070 3.5; QEMU 10.2.2
 * smmuv3-internal.h Q_* macros): PROD/CONS hold an index in bits [log2size−1:0] and a wrap bit at
 * [log2size]; CMDQ_CONS also carries ERR in [30:24], which increments preserve. Pure functions on
 * 32-bit register values; the queue size is clamped to 2^19 entries as QEMU clamps it.
 */
import { deposit32, extract64, u32 } from './bits.js';
import { SMMU_BASE_ADDR_MASK } from './stream-table.js';

/** IDR1.CMDQS / IDR1.EVENTQS: largest log2 queue size. */
export const SMMU_CMDQS = 19;
export const SMMU_EVENTQS = 19;
export const CMD_ENTRY_BYTES = 16;
export const EVT_ENTRY_BYTES = 32;

/** Effective log2size from a *_BASE value: LOG2SIZE [4:0] clamped to `max`. */
export function queueLog2Size(baseValue: bigint, max: number): number {
  return Math.min(Number(extract64(baseValue, 0, 5)), max);
}

export const indexMask = (log2size: number): number => 2 ** log2size - 1;
export const wrapBit = (log2size: number): number => 2 ** log2size;
export const wrapIndexMask = (log2size: number): number => 2 ** (log2size + 1) - 1;

export const queueIndex = (ptr: number, log2size: number): number => ptr & indexMask(log2size);
export const queueWrap = (ptr: number, log2size: number): number => ((ptr & wrapBit(log2size)) === 0 ? 0 : 1);

export function isEmpty(prod: number, cons: number, log2size: number): boolean {
  const m = wrapIndexMask(log2size);
  return (prod & m) === (cons & m);
}

export function isFull(prod: number, cons: number, log2size: number): boolean {
  return ((prod ^ cons) & wrapIndexMask(log2size)) === wrapBit(log2size);
}

/** Entry address: (base & bits 51:6) + entryBytes × index. No alignment to the queue size. */
export function entryAddress(baseValue: bigint, ptr: number, log2size: number, entryBytes: number): bigint {
  return (baseValue & SMMU_BASE_ADDR_MASK) + BigInt(entryBytes * queueIndex(ptr, log2size));
}

/** Producer increment as the SMMU does it (event queue): upper bits, incl. OVFLG, are cleared. */
export function prodIncrement(prod: number, log2size: number): number {
  return (prod + 1) & wrapIndexMask(log2size);
}

/** Consumer increment as the SMMU does it (command queue): bits above the wrap bit are kept. */
export function consIncrement(cons: number, log2size: number): number {
  return deposit32(u32(cons), 0, log2size + 1, (cons + 1) % 2 ** 32);
}

/** Number of valid entries between CONS and PROD. */
export function occupancy(prod: number, cons: number, log2size: number): number {
  const m = wrapIndexMask(log2size);
  return ((prod & m) - (cons & m) + (m + 1)) % (m + 1);
}
