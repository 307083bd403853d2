/**
 * The MSI capability of a PCI function, with QEMU's msi_init/msi_write_config/msi_notify/msi_reset
 * semantics: layout (32/64-bit address, optional per-vector mask and pending bits), write masks,
 * QME clamped to QMMC, INTx deasserted by any capability write while MSI is enabled, and delivery
 * as a 4-byte little-endian store of the message data through the bus-master view.
 * Does not model MSI-X, extended message data or the PCI 3.0 "no soft reset" subtleties.
 */
import type { BusAccess } from '../memory/types.js';
import type { ConfigSpace } from './config-space.js';

/** PCI capability ID of MSI. */
export const PCI_CAP_ID_MSI = 0x05;

/** Message Control bits (PCI Local Bus 3.0 §6.8.1.3; QEMU pci_regs.h names). */
export const PCI_MSI_FLAGS = {
  ENABLE: 0x0001,
  QMASK: 0x000e,
  QSIZE: 0x0070,
  BIT64: 0x0080,
  MASKBIT: 0x0100,
} as const;

export type MsiVectorCount = 1 | 2 | 4 | 8 | 16 | 32;

export interface MsiOptions {
  /** Config-space offset of the capability (QEMU places the first one at 0x40). */
  offset: number;
  vectors: MsiVectorCount;
  is64bit: boolean;
  perVectorMask: boolean;
}

/** Field offsets relative to the capability, as data. */
export interface MsiLayout {
  flags: number;
  addressLo: number;
  addressHi?: number;
  data: number;
  mask?: number;
  pending?: number;
  /** Bytes the capability occupies (QEMU msi_cap_sizeof). */
  size: number;
}

export function msiLayout(is64bit: boolean, perVectorMask: boolean): MsiLayout {
  const data = is64bit ? 0x0c : 0x08;
  const layout: MsiLayout = { flags: 0x02, addressLo: 0x04, data, size: data + 2 };
  if (is64bit) layout.addressHi = 0x08;
  if (perVectorMask) {
    layout.mask = data + 4;
    layout.pending = data + 8;
    layout.size = data + 12;
  }
  return layout;
}

/** What the capability needs from its device when config space is written. */
export interface MsiConfigWriteEffects {
  /** Lower the function's INTx pin (QEMU pci_device_deassert_intx). */
  deassertIntx(): void;
  /** Bus-master view, for delivering vectors that a write unmasked while pending. */
  dma(): BusAccess;
}

export class MsiCapability {
  readonly offset: number;
  readonly layout: MsiLayout;

  constructor(
    private readonly config: ConfigSpace,
    private readonly opts: MsiOptions,
  ) {
    this.offset = opts.offset;
    this.layout = msiLayout(opts.is64bit, opts.perVectorMask);
    const at = (field: number) => opts.offset + field;
    config.addCapability(PCI_CAP_ID_MSI, opts.offset, this.layout.size);
    let flags = (Math.log2(opts.vectors) << 1) & PCI_MSI_FLAGS.QMASK;
    if (opts.is64bit) flags |= PCI_MSI_FLAGS.BIT64;
    if (opts.perVectorMask) flags |= PCI_MSI_FLAGS.MASKBIT;
    config.set(at(this.layout.flags), 2, flags);
    config.setWriteMask(at(this.layout.flags), 2, PCI_MSI_FLAGS.QSIZE | PCI_MSI_FLAGS.ENABLE);
    config.setWriteMask(at(this.layout.addressLo), 4, 0xfffffffc);
    if (this.layout.addressHi !== undefined) config.setWriteMask(at(this.layout.addressHi), 4, 0xffffffff);
    config.setWriteMask(at(this.layout.data), 2, 0xffff);
    if (this.layout.mask !== undefined) {
      config.setWriteMask(at(this.layout.mask), 4, 0xffffffff >>> (32 - opts.vectors));
    }
  }

  private get flags(): number {
    return this.config.get(this.offset + this.layout.flags, 2);
  }

  get enabled(): boolean {
    return (this.flags & PCI_MSI_FLAGS.ENABLE) !== 0;
  }

  /** Vectors the guest enabled (2^QME). */
  get enabledVectors(): number {
    return 1 << ((this.flags & PCI_MSI_FLAGS.QSIZE) >> 4);
  }

  /** The message for `vector` (QEMU msi_get_message). */
  message(vector: number): { address: bigint; data: number } {
    const base = this.offset;
    let address = BigInt(this.config.get(base + this.layout.addressLo, 4));
    if (this.layout.addressHi !== undefined) address |= BigInt(this.config.get(base + this.layout.addressHi, 4)) << 32n;
    let data = this.config.get(base + this.layout.data, 2);
    const n = this.enabledVectors;
    if (n > 1) data = (data & ~(n - 1)) | vector;
    return { address, data };
  }

  isMasked(vector: number): boolean {
    if (this.layout.mask === undefined) return false;
    return ((this.config.get(this.offset + this.layout.mask, 4) >>> vector) & 1) === 1;
  }

  private setPending(vector: number, on: boolean): void {
    if (this.layout.pending === undefined) return;
    const off = this.offset + this.layout.pending;
    const bit = (1 << vector) >>> 0;
    const v = this.config.get(off, 4);
    this.config.set(off, 4, (on ? v | bit : v & ~bit) >>> 0);
  }

  private isPending(vector: number): boolean {
    if (this.layout.pending === undefined) return false;
    return ((this.config.get(this.offset + this.layout.pending, 4) >>> vector) & 1) === 1;
  }

  /**
   * Send `vector` (QEMU msi_notify): a masked vector becomes pending; otherwise the message data
   * is stored as 4 little-endian bytes at the message address through `dma` (the bus-master
   * view, so it is dropped when bus mastering is off and translated by the IOMMU).
   * The caller checks `enabled` first, as QEMU devices do.
   */
  notify(dma: BusAccess, vector = 0): void {
    if (this.isMasked(vector)) {
      this.setPending(vector, true);
      return;
    }
    const { address, data } = this.message(vector);
    const bytes = new Uint8Array([data & 0xff, (data >>> 8) & 0xff, 0, 0]);
    dma.writeBytes(address, bytes);
  }

  /**
   * Call after a guest config write has been applied (QEMU msi_write_config): if it touched the
   * capability while MSI is enabled, INTx is deasserted, QME is clamped to QMMC and pending
   * vectors that are now unmasked are delivered.
   */
  configWritten(off: number, len: number, effects: MsiConfigWriteEffects): void {
    const start = this.offset;
    const end = start + this.layout.size;
    if (off + len <= start || off >= end) return;
    if (!this.enabled) return;
    effects.deassertIntx();
    let flags = this.flags;
    const logMax = (flags & PCI_MSI_FLAGS.QMASK) >> 1;
    const logNum = (flags & PCI_MSI_FLAGS.QSIZE) >> 4;
    if (logNum > logMax) {
      flags = (flags & ~PCI_MSI_FLAGS.QSIZE) | (logMax << 4);
      this.config.set(start + this.layout.flags, 2, flags);
    }
    if (this.layout.mask === undefined || this.layout.pending === undefined) return;
    // Pending bits of vectors beyond the enabled count are dropped (as msi_write_config does).
    const pendingOff = start + this.layout.pending;
    this.config.set(
      pendingOff,
      4,
      (this.config.get(pendingOff, 4) & (0xffffffff >>> (32 - this.enabledVectors))) >>> 0,
    );
    for (let v = 0; v < this.enabledVectors; v++) {
      if (this.isPending(v) && !this.isMasked(v)) {
        this.setPending(v, false);
        this.notify(effects.dma(), v);
      }
    }
  }

  /** QEMU msi_reset: disable, QME = 0, address/data (and mask/pending) zeroed. */
  reset(): void {
    const base = this.offset;
    this.config.set(base + this.layout.flags, 2, this.flags & ~(PCI_MSI_FLAGS.QSIZE | PCI_MSI_FLAGS.ENABLE));
    this.config.set(base + this.layout.addressLo, 4, 0);
    if (this.layout.addressHi !== undefined) this.config.set(base + this.layout.addressHi, 4, 0);
    this.config.set(base + this.layout.data, 2, 0);
    if (this.layout.mask !== undefined) this.config.set(base + this.layout.mask, 4, 0);
    if (this.layout.pending !== undefined) this.config.set(base + this.layout.pending, 4, 0);
  }
}
