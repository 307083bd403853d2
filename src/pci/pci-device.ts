/**
 * The contract between a PCI function model and the host bridge. A device declares its identity
 * and capabilities in its ConfigSpace and its BARs as regions; the bridge maps BARs, routes INTx
 * through the swizzle, gives the device its DMA view (through the SMMU when present), and calls
 * the hooks below. Models QEMU's PCIDevice as far as qtest clients can observe it.
 */
import type { VirtualClock } from '../sim/clock.js';
import type { Logger } from '../base/log.js';
import type { Tracer } from '../base/trace.js';
import type { BusAccess, IoRegion, MemTxAttrs, RamRegion } from '../memory/types.js';
import type { IommuResult } from '../memory/dma-view.js';
import { ConfigSpace, PCI_CFG, PCI_COMMAND, PCI_CONFIG_SPACE_SIZE } from './config-space.js';
import { requesterIdOf } from './requester-id.js';

export type PciBarKind = 'mem32' | 'mem64' | 'io';

export interface PciBar {
  index: number;
  /** Power of two, ≥ 16 for memory BARs and ≥ 4 for I/O. */
  size: bigint;
  kind: PciBarKind;
  prefetchable?: boolean;
  region: IoRegion | RamRegion;
}

/** What the host bridge hands a device when it is plugged. */
export interface PciDeviceContext {
  /** Bus-master DMA view: through the IOMMU when present, gated by COMMAND.MASTER. */
  dma: BusAccess;
  /** System memory as seen without any IOMMU (for DMA that bypasses the SMMU). */
  memory: BusAccess;
  /**
   * The IOMMU address space without the COMMAND.MASTER gate (QEMU pci_device_iommu_address_space),
   * used by the SMMU test devices. Absent: devices fall back to `dma`.
   */
  iommu?: BusAccess;
  /**
   * One translation of the function's IOMMU, only where translations name their output view
   * (a Secure SMMU): the RFC iommu-testdev reads back through it.
   */
  translate?: (iova: bigint, isWrite: boolean, attrs: MemTxAttrs) => IommuResult;
  clock: VirtualClock;
  log: Logger;
  /** Drive the device's INTx pin (the bridge applies INTX_DISABLE and the swizzle). */
  setIntx(level: number): void;
  /** The number of the bus the function sits on now (0 on pcie.0; a bridge's secondary bus number). */
  busNumber?(): number;
  /** Trace events of the machine (-trace); absent: all off. */
  trace?: Tracer;
}

export abstract class PciDevice {
  /** QOM type name, e.g. `edu`. */
  abstract readonly typeName: string;
  readonly config: ConfigSpace;
  readonly bars: PciBar[] = [];
  /** Device/function number on its bus, assigned by the host bridge when plugged. */
  devfn = -1;
  /** QOM id (`-device edu,id=X`), if any. */
  id?: string;
  /** `sec-sid`: 1 when the function may issue Secure DMA (docs/secure-smmu.md); default 0. */
  secSid: 0 | 1 = 0;
  private context?: PciDeviceContext;

  constructor(configSize: number = PCI_CONFIG_SPACE_SIZE) {
    this.config = new ConfigSpace(configSize);
  }

  protected get ctx(): PciDeviceContext {
    if (!this.context) throw new Error(`${this.typeName}: used before it was plugged into a bus`);
    return this.context;
  }

  /** Called by the host bridge when the device is plugged. */
  attach(context: PciDeviceContext): void {
    this.context = context;
  }

  /** Declare a BAR: sets its type bits and write mask in config space. */
  protected addBar(bar: PciBar): void {
    this.bars.push(bar);
    const off = PCI_CFG.BAR0 + 4 * bar.index;
    this.config.set(off, 4, barTypeBits(bar));
    const low = Number(~(bar.size - 1n) & 0xffffffffn) >>> 0;
    const typeMask = bar.kind === 'io' ? 0x3 : 0xf;
    this.config.setWriteMask(off, 4, (low & ~typeMask) >>> 0);
    if (bar.kind === 'mem64') {
      const high = Number((~(bar.size - 1n) >> 32n) & 0xffffffffn) >>> 0;
      this.config.set(off + 4, 4, 0);
      this.config.setWriteMask(off + 4, 4, high);
    }
  }

  /** The BAR's programmed address bits (before the bridge's decode checks). */
  barRegisterValue(bar: PciBar): bigint {
    const off = PCI_CFG.BAR0 + 4 * bar.index;
    let v = BigInt(this.config.get(off, 4));
    if (bar.kind === 'mem64') v |= BigInt(this.config.get(off + 4, 4)) << 32n;
    return v;
  }

  get command(): number {
    return this.config.get(PCI_CFG.COMMAND, 2);
  }

  get busMasterEnabled(): boolean {
    return (this.command & PCI_COMMAND.MASTER) !== 0;
  }

  /** Requester ID / StreamID used for DMA: bus << 8 | devfn. Devices may override (smmu-testdev). */
  requesterId(): number {
    return requesterIdOf(this.context?.busNumber?.() ?? 0, this.devfn);
  }

  /**
   * Guest config read; default returns the stored bytes. `off + len` ≤ config size.
   */
  configRead(off: number, len: 1 | 2 | 4): number {
    return this.config.get(off, len);
  }

  /** Guest config write; default applies the masks. The bridge re-maps BARs and INTx afterwards. */
  configWrite(off: number, len: 1 | 2 | 4, value: number): void {
    this.config.guestWrite(off, len, value);
  }

  /** Full device reset (system_reset): config header and BARs, then the device's own state. */
  reset(): void {
    this.config.resetHeader();
    for (const bar of this.bars) {
      const off = PCI_CFG.BAR0 + 4 * bar.index;
      this.config.set(off, 4, barTypeBits(bar));
      if (bar.kind === 'mem64') this.config.set(off + 4, 4, 0);
    }
    this.resetDevice();
  }

  /** Device-specific reset (QEMU's DeviceClass reset); default: nothing (like edu). */
  protected resetDevice(): void {}

  /**
   * The (chassis, slot) pair this function claims as a PCIe slot (pcie_chassis_add_slot), which
   * must be unique in the machine; undefined for functions that are not slots.
   */
  pcieSlot(): { chassis: number; slot: number } | undefined {
    return undefined;
  }

  /** Called when the device is removed (device_del); cancel timers here. */
  unrealize(): void {}

  /** Read-only QOM properties for qom-get/qom-list (name → value). */
  qomProperties(): Record<string, { type: string; get: () => unknown; set?: (v: unknown) => void }> {
    return {};
  }
}

export function barTypeBits(bar: PciBar): number {
  if (bar.kind === 'io') return 0x1;
  return (bar.kind === 'mem64' ? 0x4 : 0) | (bar.prefetchable ? 0x8 : 0);
}
