/**
 * A PCI function's bus-master view of memory (QEMU's bus_master_as): optionally through an IOMMU,
 * gated by COMMAND.MASTER. Mirrors how QEMU's flatview loop treats an IOMMU region: each piece is
 * translated, a successful translation covers the rest of its page (addr_mask), and a failed one
 * becomes an unassigned access split into ≤4-byte naturally aligned chunks, each translated (and
 * faulting, with its own event) again. Failed reads yield zeros; failed writes are dropped.
 */
import { accessSizeFor, UNASSIGNED_RULE } from './address-space.js';
import { ADDR_MASK, NO_ATTRS } from './types.js';
import type { Addr, BusAccess, MemTxAttrs, MemTxResult } from './types.js';

/** Outcome of one IOMMU translation (QEMU IOMMUTLBEntry reduced to what the data path needs). */
export type IommuResult =
  | {
      ok: true;
      /** Output address of the translated `iova` itself (not page-aligned). */
      pa: Addr;
      /** addr_mask of the mapping: the mapping covers `iova & ~mask` … `iova | mask`. */
      mask: bigint;
      /** The output's memory view when it is not the default one (a Secure PA space). */
      target?: BusAccess;
    }
  | { ok: false };

/** What an IOMMU offers to the DMA path. Faults are recorded by the IOMMU itself. */
export interface Iommu {
  translate(requesterId: number, iova: Addr, isWrite: boolean, attrs: MemTxAttrs): IommuResult;
  /** Translations may name an output view (`target`); devices then read back through it. */
  readonly outputViews?: boolean;
  /** A function behind this IOMMU got its address space (QEMU pci_device_iommu_address_space). */
  deviceAdded?(requesterId: number, devfn: number): void;
}

export interface DmaViewOptions {
  /** Downstream memory (the system address space). */
  memory: BusAccess;
  /** The IOMMU in front of `memory`, or undefined for direct DMA. */
  iommu?: Iommu;
  /** Requester ID / StreamID, read at each access (devfn can change). */
  requesterId: () => number;
  /** COMMAND.MASTER of the function; false makes every access fail. */
  busMasterEnabled: () => boolean;
}

export class DmaView implements BusAccess {
  constructor(private readonly opts: DmaViewOptions) {}

  readBytes(addr: Addr, out: Uint8Array, attrs: MemTxAttrs = NO_ATTRS): MemTxResult {
    return this.access(addr, out, false, attrs);
  }

  writeBytes(addr: Addr, data: Uint8Array, attrs: MemTxAttrs = NO_ATTRS): MemTxResult {
    return this.access(addr, data, true, attrs);
  }

  private access(addr: Addr, buf: Uint8Array, isWrite: boolean, attrs: MemTxAttrs): MemTxResult {
    const { memory, iommu } = this.opts;
    if (!this.opts.busMasterEnabled()) {
      if (!isWrite) buf.fill(0);
      return buf.length ? 'decode-error' : 'ok';
    }
    if (!iommu) return isWrite ? memory.writeBytes(addr, buf, attrs) : memory.readBytes(addr, buf, attrs);
    const sid = this.opts.requesterId();
    let result: MemTxResult = 'ok';
    let pos = 0;
    let iova = addr & ADDR_MASK;
    while (pos < buf.length) {
      const remaining = buf.length - pos;
      const t = iommu.translate(sid, iova, isWrite, attrs);
      let n: number;
      if (t.ok) {
        const inPage = t.mask - (iova & t.mask) + 1n;
        n = inPage < BigInt(remaining) ? Number(inPage) : remaining;
        const piece = buf.subarray(pos, pos + n);
        const out = t.target ?? memory;
        const r = isWrite ? out.writeBytes(t.pa, piece, attrs) : out.readBytes(t.pa, piece, attrs);
        if (r !== 'ok') result = r;
      } else {
        n = accessSizeFor(UNASSIGNED_RULE, UNASSIGNED_RULE, iova, remaining);
        // A failed translation touches no memory, but it is work all the same.
        memory.meter?.charge(n);
        if (!isWrite) buf.fill(0, pos, pos + n);
        result = 'decode-error';
      }
      pos += n;
      iova = (iova + BigInt(n)) & ADDR_MASK;
    }
    return result;
  }
}
