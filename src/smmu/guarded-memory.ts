/**
 * The SMMU's own accesses to one memory view (STE/CD/L1STD/PTE fetches, queue reads, event
 * writes) with QEMU's re-entrancy guard: an access that reaches the SMMU's MMIO while the SMMU is
 * in MMIO fails. A missing view (a Secure view on a machine without one) fails every access.
 */
import { U64_MASK } from './bits.js';
import type { Addr, BusAccess, MemTxResult } from '../memory/types.js';
import type { ReadDescriptor } from './page-table-walk.js';

/** Shared by every view of one SMMU: set when its MMIO refused a re-entrant access. */
export interface ReentryGuard {
  blocked: boolean;
}

export class GuardedMemory {
  constructor(
    readonly view: BusAccess | undefined,
    private readonly guard: ReentryGuard,
  ) {}

  /** Read a block; null if any part failed or hit our own MMIO re-entrantly. */
  readonly readBlock = (pa: bigint, length: number): Uint8Array | null => {
    if (!this.view) return null;
    const buf = new Uint8Array(length);
    const g = this.guard;
    const before = g.blocked;
    g.blocked = false;
    const r = this.view.readBytes(pa & U64_MASK, buf);
    const blocked = g.blocked;
    g.blocked = before;
    return r === 'ok' && !blocked ? buf : null;
  };

  /** One little-endian descriptor. */
  readonly readDescriptor: ReadDescriptor = (pa: bigint): bigint | null => {
    // Plain RAM (the usual case): no buffer, no dispatch; anything else takes readBlock's path.
    const fast = this.view?.readU64LE?.(BigInt.asUintN(64, pa));
    if (fast !== undefined) return fast;
    const b = this.readBlock(pa, 8);
    if (!b) return null;
    let v = 0n;
    for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    return v;
  };

  /** Event-queue writes (and the reads writeEvent needs). */
  readonly write = {
    writeBytes: (addr: Addr, data: Uint8Array): MemTxResult => {
      if (!this.view) return 'decode-error';
      const g = this.guard;
      const before = g.blocked;
      g.blocked = false;
      const r = this.view.writeBytes(addr & U64_MASK, data);
      const blocked = g.blocked;
      g.blocked = before;
      return blocked ? 'error' : r;
    },
    readBytes: (addr: Addr, out: Uint8Array): MemTxResult =>
      this.view ? this.view.readBytes(addr, out) : 'decode-error',
  };

  /** What a bank uses for its queues. */
  readonly queues = { read: this.readBlock, write: this.write };
}

/**
 * A descriptor reader for walks of a Secure-capable SMMU: `ns === false` reads the Secure view,
 * anything else the Non-secure one.
 */
export function dualReader(ns: GuardedMemory, s: GuardedMemory): ReadDescriptor {
  return (pa, isNs) => (isNs === false ? s.readDescriptor(pa) : ns.readDescriptor(pa));
}
