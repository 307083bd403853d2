/**
 * The type-1 (PCI-to-PCI bridge) part of a function, as QEMU's pci_bridge.c keeps it: header
 * layout and write masks (bus numbers, I/O, memory and prefetchable windows, bridge control),
 * window decoding (pci_bridge_get_base/limit), the bridge reset and "disable forwarding" values, and
 * the hooks through which the host bridge lets a bridge act on its secondary bus. Knows nothing of
 * PCIe capabilities (see pcie-root-port.ts) nor of how buses are routed (see host-bridge.ts).
 */
import { PCI_CFG } from './config-space.js';
import { PciDevice } from './pci-device.js';

/** Type-1 header offsets (PCI-to-PCI Bridge spec names, as QEMU's pci_regs.h). */
export const PCI_BRIDGE_CFG = {
  PRIMARY_BUS: 0x18,
  SECONDARY_BUS: 0x19,
  SUBORDINATE_BUS: 0x1a,
  SEC_LATENCY_TIMER: 0x1b,
  IO_BASE: 0x1c,
  IO_LIMIT: 0x1d,
  SEC_STATUS: 0x1e,
  MEMORY_BASE: 0x20,
  MEMORY_LIMIT: 0x22,
  PREF_MEMORY_BASE: 0x24,
  PREF_MEMORY_LIMIT: 0x26,
  PREF_BASE_UPPER32: 0x28,
  PREF_LIMIT_UPPER32: 0x2c,
  IO_BASE_UPPER16: 0x30,
  IO_LIMIT_UPPER16: 0x32,
  ROM_ADDRESS1: 0x38,
  BRIDGE_CONTROL: 0x3e,
} as const;

export const PCI_BRIDGE_CTL = {
  PARITY: 0x01,
  SERR: 0x02,
  ISA: 0x04,
  VGA: 0x08,
  VGA_16BIT: 0x10,
  BUS_RESET: 0x40,
} as const;

/** A decoded window: [base, limit] inclusive, as pci_bridge_get_base/limit compute it. */
export interface BridgeWindow {
  base: bigint;
  limit: bigint;
}

/** What the host bridge lets a bridge do to its secondary bus. */
export interface BridgeHostHooks {
  /** Devices on the secondary bus, in devfn order. */
  devices(): PciDevice[];
  /** Whether a function 0 sits on the secondary bus. */
  hasFunction0(): boolean;
  /** Secondary bus reset (bus_cold_reset of everything below the bridge). */
  resetBus(): void;
  /** Unplug every device on the secondary bus (the slot was powered off by the guest, or device_del). */
  unplugAll(): void;
  /** Power every function of the secondary bus on or off (pci_set_power). */
  setPower(on: boolean): void;
}

const S = PCI_BRIDGE_CFG;

export abstract class PciBridgeDevice extends PciDevice {
  /** Set by the host bridge when the bridge is plugged. */
  hooks?: BridgeHostHooks;

  /** Type-1 identity, masks and initial values (pci_bridge_initfn + pci_init_mask_bridge, PCIe port flavour). */
  protected initBridgeHeader(id: { vendor: number; device: number; revision?: number }): void {
    const c = this.config;
    c.setIdentity({ vendor: id.vendor, device: id.device, revision: id.revision, classCode: 0x0604, headerType: 0x01 });
    // A type-1 header has no subsystem IDs at 0x2c (they are the prefetchable upper limit).
    c.set(PCI_CFG.SUBSYSTEM_VENDOR_ID, 2, 0);
    c.set(PCI_CFG.SUBSYSTEM_ID, 2, 0);
    // Observed masks on 10.2.2: bus numbers writable, secondary latency timer not.
    c.setWriteMask(S.PRIMARY_BUS, 1, 0xff);
    c.setWriteMask(S.SECONDARY_BUS, 1, 0xff);
    c.setWriteMask(S.SUBORDINATE_BUS, 1, 0xff);
    c.setWriteMask(S.IO_BASE, 1, 0xf0);
    c.setWriteMask(S.IO_LIMIT, 1, 0xf0);
    c.setW1cMask(S.SEC_STATUS, 2, 0x0100 | 0x0800 | 0x1000 | 0x2000 | 0x4000 | 0x8000);
    c.setWriteMask(S.MEMORY_BASE, 2, 0xfff0);
    c.setWriteMask(S.MEMORY_LIMIT, 2, 0xfff0);
    c.setWriteMask(S.PREF_MEMORY_BASE, 2, 0xfff0);
    c.setWriteMask(S.PREF_MEMORY_LIMIT, 2, 0xfff0);
    c.setWriteMask(S.PREF_BASE_UPPER32, 4, 0xffffffff);
    c.setWriteMask(S.PREF_LIMIT_UPPER32, 4, 0xffffffff);
    // PCIe ports hardwire master-abort, fast back-to-back and the discard bits (pcie_port_init_reg).
    c.setWriteMask(
      S.BRIDGE_CONTROL,
      2,
      PCI_BRIDGE_CTL.PARITY |
        PCI_BRIDGE_CTL.SERR |
        PCI_BRIDGE_CTL.ISA |
        PCI_BRIDGE_CTL.VGA |
        PCI_BRIDGE_CTL.VGA_16BIT |
        PCI_BRIDGE_CTL.BUS_RESET,
    );
    // 16-bit I/O and 64-bit prefetchable decoding (read-only type nibbles).
    c.set(S.IO_BASE, 1, 0x00);
    c.set(S.IO_LIMIT, 1, 0x00);
    c.set(S.PREF_MEMORY_BASE, 2, 0x0001);
    c.set(S.PREF_MEMORY_LIMIT, 2, 0x0001);
    this.disableBaseLimit();
  }

  /** pci_bridge_reset: bus numbers, windows (then disabled, as root ports do) and bridge control. */
  protected resetBridge(): void {
    const c = this.config;
    c.set(S.PRIMARY_BUS, 4, 0);
    c.set(S.IO_BASE, 1, c.get(S.IO_BASE, 1) & 0x0f);
    c.set(S.IO_LIMIT, 1, c.get(S.IO_LIMIT, 1) & 0x0f);
    c.set(S.MEMORY_BASE, 2, c.get(S.MEMORY_BASE, 2) & 0x000f);
    c.set(S.MEMORY_LIMIT, 2, c.get(S.MEMORY_LIMIT, 2) & 0x000f);
    c.set(S.PREF_MEMORY_BASE, 2, c.get(S.PREF_MEMORY_BASE, 2) & 0x000f);
    c.set(S.PREF_MEMORY_LIMIT, 2, c.get(S.PREF_MEMORY_LIMIT, 2) & 0x000f);
    c.set(S.PREF_BASE_UPPER32, 4, 0);
    c.set(S.PREF_LIMIT_UPPER32, 4, 0);
    c.set(S.BRIDGE_CONTROL, 2, 0);
    this.disableBaseLimit();
  }

  /** pci_bridge_disable_base_limit: base above limit in every window. */
  protected disableBaseLimit(): void {
    const c = this.config;
    c.set(S.IO_BASE, 1, c.get(S.IO_BASE, 1) | 0xf0);
    c.set(S.IO_LIMIT, 1, c.get(S.IO_LIMIT, 1) & 0x0f);
    c.set(S.MEMORY_BASE, 2, c.get(S.MEMORY_BASE, 2) | 0xfff0);
    c.set(S.MEMORY_LIMIT, 2, c.get(S.MEMORY_LIMIT, 2) & 0x000f);
    c.set(S.PREF_MEMORY_BASE, 2, c.get(S.PREF_MEMORY_BASE, 2) | 0xfff0);
    c.set(S.PREF_MEMORY_LIMIT, 2, c.get(S.PREF_MEMORY_LIMIT, 2) & 0x000f);
    c.set(S.PREF_BASE_UPPER32, 4, 0);
    c.set(S.PREF_LIMIT_UPPER32, 4, 0);
  }

  get primaryBus(): number {
    return this.config.get(S.PRIMARY_BUS, 1);
  }

  get secondaryBus(): number {
    return this.config.get(S.SECONDARY_BUS, 1);
  }

  get subordinateBus(): number {
    return this.config.get(S.SUBORDINATE_BUS, 1);
  }

  get bridgeControl(): number {
    return this.config.get(S.BRIDGE_CONTROL, 2);
  }

  /** pci_secondary_bus_in_range. */
  secondaryBusInRange(bus: number): boolean {
    return !(this.bridgeControl & PCI_BRIDGE_CTL.BUS_RESET) && this.secondaryBus <= bus && bus <= this.subordinateBus;
  }

  /** pci_bridge_get_base/limit for 'io', 'mem' or 'pref' (no enable or base ≤ limit check). */
  window(kind: 'io' | 'mem' | 'pref'): BridgeWindow {
    const c = this.config;
    if (kind === 'io') {
      const decode = (lo: number, hiOff: number): bigint => {
        let v = BigInt(c.get(lo, 1) & 0xf0) << 8n;
        if ((c.get(lo, 1) & 0x0f) === 0x01) v |= BigInt(c.get(hiOff, 2)) << 16n;
        return v;
      };
      return { base: decode(S.IO_BASE, S.IO_BASE_UPPER16), limit: decode(S.IO_LIMIT, S.IO_LIMIT_UPPER16) | 0xfffn };
    }
    if (kind === 'mem') {
      return {
        base: BigInt(c.get(S.MEMORY_BASE, 2) & 0xfff0) << 16n,
        limit: (BigInt(c.get(S.MEMORY_LIMIT, 2) & 0xfff0) << 16n) | 0xfffffn,
      };
    }
    const decode = (lo: number, upper: number): bigint => {
      let v = BigInt(c.get(lo, 2) & 0xfff0) << 16n;
      if ((c.get(lo, 2) & 0x000f) === 0x0001) v |= BigInt(c.get(upper, 4)) << 32n;
      return v;
    };
    return {
      base: decode(S.PREF_MEMORY_BASE, S.PREF_BASE_UPPER32),
      limit: decode(S.PREF_MEMORY_LIMIT, S.PREF_LIMIT_UPPER32) | 0xfffffn,
    };
  }

  /**
   * The windows that forward now (pci_bridge_init_alias): memory and prefetchable windows when
   * COMMAND.MEMORY is set, the I/O window when COMMAND.IO is set, each only if limit ≥ base.
   */
  forwardingWindows(space: 'io' | 'memory'): BridgeWindow[] {
    const cmd = this.command;
    const kinds: Array<'io' | 'mem' | 'pref'> =
      space === 'io' ? (cmd & 0x1 ? ['io'] : []) : cmd & 0x2 ? ['pref', 'mem'] : [];
    return kinds.map((k) => this.window(k)).filter((w) => w.limit >= w.base);
  }

  /** Called by the host after a device was hot-plugged behind the bridge (the slot's plug callback). */
  abstract plugged(device: PciDevice, hotplugged: boolean): void;
  /** Checks before a device is plugged behind the bridge; returns an error text or undefined. */
  abstract prePlug(device: PciDevice, hotplugged: boolean): string | undefined;
  /**
   * device_del of a device behind the bridge (the unplug request callback). Returns 'removed' when
   * the device is gone on return, 'pending' when the guest must act; throws an Error with QEMU's text.
   */
  abstract unplugRequest(device: PciDevice): 'removed' | 'pending';
}
