/**
 * A PCI function's configuration space as QEMU keeps it: the bytes, a write mask and a
 * write-1-to-clear mask per byte (pci_default_write_config semantics). Registers of the type-0
 * header are declared in PCI_CFG below; devices fill IDs and capabilities through the helpers.
 * Knows nothing of BAR mapping or interrupts (see pci-device.ts and host-bridge.ts).
 */

/** Type-0 header offsets (PCI Local Bus spec names). */
export const PCI_CFG = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION_ID: 0x08,
  CLASS_PROG: 0x09,
  CLASS_DEVICE: 0x0a,
  CACHE_LINE_SIZE: 0x0c,
  LATENCY_TIMER: 0x0d,
  HEADER_TYPE: 0x0e,
  BAR0: 0x10,
  SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e,
  ROM_ADDRESS: 0x30,
  CAPABILITY_LIST: 0x34,
  INTERRUPT_LINE: 0x3c,
  INTERRUPT_PIN: 0x3d,
} as const;

export const PCI_COMMAND = {
  IO: 0x1,
  MEMORY: 0x2,
  MASTER: 0x4,
  PARITY: 0x40,
  SERR: 0x100,
  INTX_DISABLE: 0x400,
} as const;

export const PCI_STATUS = {
  INTERRUPT: 0x08,
  CAP_LIST: 0x10,
  /** Bits QEMU makes write-1-to-clear (pci_init_w1cmask). */
  W1C: 0x0100 | 0x0800 | 0x1000 | 0x2000 | 0x4000 | 0x8000,
} as const;

/** Conventional PCI config space is 256 bytes, PCIe 4 KiB. */
export const PCI_CONFIG_SPACE_SIZE = 256;
export const PCIE_CONFIG_SPACE_SIZE = 4096;
const HEADER_SIZE = 0x40;

export class ConfigSpace {
  readonly bytes: Uint8Array;
  readonly wmask: Uint8Array;
  readonly w1cmask: Uint8Array;

  constructor(readonly size: number = PCI_CONFIG_SPACE_SIZE) {
    this.bytes = new Uint8Array(size);
    this.wmask = new Uint8Array(size);
    this.w1cmask = new Uint8Array(size);
    // pci_init_wmask / pci_init_w1cmask.
    // QEMU 10.2.2 leaves PARITY read-only for endpoints (observed: 0xffff → 0x0507).
    this.setMask(
      this.wmask,
      PCI_CFG.COMMAND,
      2,
      PCI_COMMAND.IO | PCI_COMMAND.MEMORY | PCI_COMMAND.MASTER | PCI_COMMAND.SERR | PCI_COMMAND.INTX_DISABLE,
    );
    this.wmask[PCI_CFG.CACHE_LINE_SIZE] = 0xff;
    this.wmask[PCI_CFG.INTERRUPT_LINE] = 0xff;
    this.wmask.fill(0xff, HEADER_SIZE, size);
    this.setMask(this.w1cmask, PCI_CFG.STATUS, 2, PCI_STATUS.W1C);
  }

  private setMask(mask: Uint8Array, off: number, len: number, value: number): void {
    for (let i = 0; i < len; i++) mask[off + i] = (value >>> (8 * i)) & 0xff;
  }

  get(off: number, len: 1 | 2 | 4): number {
    let v = 0;
    for (let i = len - 1; i >= 0; i--) v = v * 256 + this.bytes[off + i];
    return v;
  }

  /** Store a value directly (device side; ignores masks). */
  set(off: number, len: 1 | 2 | 4, value: number): void {
    for (let i = 0; i < len; i++) this.bytes[off + i] = Math.floor(value / 256 ** i) & 0xff;
  }

  /** Set the write mask of a register (device side). */
  setWriteMask(off: number, len: 1 | 2 | 4, value: number): void {
    this.setMask(this.wmask, off, len, value);
  }

  setW1cMask(off: number, len: 1 | 2 | 4, value: number): void {
    this.setMask(this.w1cmask, off, len, value);
  }

  /** Guest write of `len` bytes (pci_default_write_config byte rule). */
  guestWrite(off: number, len: number, value: number): void {
    for (let i = 0; i < len && off + i < this.size; i++) {
      const v = Math.floor(value / 256 ** i) & 0xff;
      const a = off + i;
      this.bytes[a] = (this.bytes[a] & ~this.wmask[a]) | (v & this.wmask[a]);
      this.bytes[a] &= ~(v & this.w1cmask[a]);
    }
  }

  /** Identity fields of the header. */
  setIdentity(id: {
    vendor: number;
    device: number;
    revision?: number;
    classCode: number;
    progIf?: number;
    subsystemVendor?: number;
    subsystem?: number;
    headerType?: number;
  }): void {
    this.set(PCI_CFG.VENDOR_ID, 2, id.vendor);
    this.set(PCI_CFG.DEVICE_ID, 2, id.device);
    this.set(PCI_CFG.REVISION_ID, 1, id.revision ?? 0);
    this.set(PCI_CFG.CLASS_PROG, 1, id.progIf ?? 0);
    this.set(PCI_CFG.CLASS_DEVICE, 2, id.classCode);
    this.set(PCI_CFG.HEADER_TYPE, 1, id.headerType ?? 0);
    // QEMU's default subsystem IDs (pci_init_default_subsystem... via PCI_SUBVENDOR_ID_REDHAT_QUMRANET).
    this.set(PCI_CFG.SUBSYSTEM_VENDOR_ID, 2, id.subsystemVendor ?? 0x1af4);
    this.set(PCI_CFG.SUBSYSTEM_ID, 2, id.subsystem ?? 0x1100);
  }

  /**
   * Add a capability of `length` bytes at `offset` with ID `capId` (pci_add_capability): links it
   * at the head of the list, sets STATUS.CAP_LIST, and clears the write mask over it.
   */
  addCapability(capId: number, offset: number, length: number): void {
    this.bytes[offset] = capId;
    this.bytes[offset + 1] = this.bytes[PCI_CFG.CAPABILITY_LIST];
    this.bytes[PCI_CFG.CAPABILITY_LIST] = offset;
    this.set(PCI_CFG.STATUS, 2, this.get(PCI_CFG.STATUS, 2) | PCI_STATUS.CAP_LIST);
    this.wmask.fill(0, offset, offset + length);
    this.w1cmask.fill(0, offset, offset + length);
  }

  /**
   * The config-space part of pci_do_device_reset(): writable COMMAND and STATUS bits cleared,
   * cache line size and interrupt line zeroed. BARs are reset by the device (it knows their
   * type bits); the device-specific area (0x40 and up) keeps its contents, as in QEMU.
   */
  resetHeader(): void {
    for (const reg of [PCI_CFG.COMMAND, PCI_CFG.STATUS]) {
      const clear = this.wmask[reg] | this.w1cmask[reg] | ((this.wmask[reg + 1] | this.w1cmask[reg + 1]) << 8);
      this.set(reg, 2, this.get(reg, 2) & ~clear);
    }
    this.bytes[PCI_CFG.CACHE_LINE_SIZE] = 0;
    this.bytes[PCI_CFG.INTERRUPT_LINE] = 0;
  }
}
