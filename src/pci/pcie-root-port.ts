/**
 * QEMU's `pcie-root-port` (1b36:000c, gen_pcie_root_port.c + pcie_root_port.c) as 10.2.2 lays it
 * out (observed with config reads on the oracle): type-1 header, capabilities SSVID at 0x40,
 * MSI-X at 0x48 (one vector, table at BAR0+0, PBA at BAR0+0x800 in a 4 KiB exclusive BAR), PCIe v2
 * at 0x54 (root port, slot implemented; Slot Capabilities/Control/Status at 0x68/0x6c/0x6e), AER at
 * 0x100 and ACS at 0x148 (values and write masks only). The native hot-plug slot follows pcie.c:
 * plug/unplug callbacks, the attention button, power controller and indicators, Slot Control write
 * side effects (guest power-off unplugs the device), events notified over MSI-X or INTx.
 * Does not model AER error logging/reporting, ACS semantics, PME, the resource-reserve capability
 * (bus/io/mem-reserve) or link training; x-speed/x-width are fixed at their defaults (16 GT/s, x32).
 */
import type { IoRegion, AccessSize } from '../memory/types.js';
import { PCIE_CONFIG_SPACE_SIZE } from './config-space.js';
import { PciBridgeDevice, PCI_BRIDGE_CTL } from './pci-bridge.js';
import type { PciDevice } from './pci-device.js';
import {
  EXP,
  HP_EV_SUPPORTED,
  LNKSTA_DLLLA,
  MSIX_ENABLE,
  MSIX_MASKALL,
  MSIX_PBA_OFFSET,
  ROOT_PORT_CAP,
  ROOT_PORT_REG,
  SLOT_EVENTS,
  SLTCTL,
  SLTSTA,
  sltctlPoweredOff,
} from './pcie-root-port-regs.js';

export interface PcieRootPortProps {
  chassis?: number;
  slot?: number;
  port?: number;
  hotplug?: boolean;
  powerControllerPresent?: boolean;
  disableAcs?: boolean;
}

const overlaps = (addr: number, len: number, reg: number, regLen: number): boolean =>
  addr < reg + regLen && reg < addr + len;

export class PcieRootPort extends PciBridgeDevice {
  readonly typeName = 'pcie-root-port';
  readonly chassis: number;
  readonly slot: number;
  private readonly pcp: boolean;
  private readonly hotplugCapable: boolean;
  private hpevNotified = false;
  /** MSI-X table (one entry: address lo, hi, data, vector control) and pending bit. */
  private readonly msixTable = new Uint32Array(4);
  private msixPending = false;
  readonly msixBar: IoRegion;

  constructor(props: PcieRootPortProps = {}) {
    super(PCIE_CONFIG_SPACE_SIZE);
    this.chassis = props.chassis ?? 0;
    this.slot = props.slot ?? 0;
    this.pcp = props.powerControllerPresent ?? true;
    this.hotplugCapable = props.hotplug ?? true;
    const c = this.config;
    this.initBridgeHeader({ vendor: 0x1b36, device: 0x000c });
    c.set(0x3d, 1, 1); // INTx pin A

    // Capability list, in QEMU's order of creation (each one is linked at the head).
    c.addCapability(0x0d, ROOT_PORT_CAP.SSVID, 8);
    c.set(ROOT_PORT_CAP.SSVID + 4, 2, 0x1b36);
    c.set(ROOT_PORT_CAP.SSVID + 6, 2, 0x0000);

    c.addCapability(0x11, ROOT_PORT_CAP.MSIX, 12);
    c.set(ROOT_PORT_REG.MSIX_FLAGS, 2, 0x0000); // table size 1
    c.set(ROOT_PORT_CAP.MSIX + 4, 4, 0x00000000); // table: BAR0 + 0
    c.set(ROOT_PORT_CAP.MSIX + 8, 4, MSIX_PBA_OFFSET); // PBA: BAR0 + 0x800
    c.setWriteMask(ROOT_PORT_REG.MSIX_FLAGS, 2, MSIX_ENABLE | MSIX_MASKALL);

    c.addCapability(0x10, EXP, 0x3c);
    c.set(EXP + 0x02, 2, 0x0042 | 0x0100); // version 2, root port, slot implemented
    c.set(EXP + 0x04, 4, 0x00008020); // DEVCAP: role-based error reporting, extended tag
    c.set(ROOT_PORT_REG.LNKCAP, 4, 0x00300604 | ((props.port ?? 0) << 24));
    c.set(ROOT_PORT_REG.LNKSTA, 2, 0x0204);
    let sltcap = (this.slot << 19) | 0x00020000 | 0x10 | 0x08 | 0x01; // EIP, PIP, AIP, ABP
    if (this.hotplugCapable) sltcap |= 0x20 | 0x40; // HPS, HPC
    if (this.pcp) sltcap |= 0x02;
    c.set(ROOT_PORT_REG.SLTCAP, 4, sltcap);
    c.set(ROOT_PORT_REG.SLTCTL, 2, SLTCTL.PWR_IND_OFF | SLTCTL.ATTN_IND_OFF | (this.pcp ? SLTCTL.PCC : 0));
    c.set(EXP + 0x24, 4, 0x00300020); // DEVCAP2
    c.set(EXP + 0x2c, 4, 0x0000001e); // LNKCAP2
    c.set(EXP + 0x30, 2, 0x0004); // LNKCTL2
    c.setWriteMask(ROOT_PORT_REG.DEVCTL, 2, 0x000f);
    c.setW1cMask(ROOT_PORT_REG.DEVSTA, 2, 0x000f);
    c.setWriteMask(
      ROOT_PORT_REG.SLTCTL,
      2,
      SLTCTL.PIC |
        SLTCTL.AIC |
        SLTCTL.HPIE |
        SLTCTL.CCIE |
        SLTCTL.PDCE |
        SLTCTL.ABPE |
        SLTCTL.EIC |
        (this.pcp ? SLTCTL.PCC : 0),
    );
    c.setW1cMask(ROOT_PORT_REG.SLTSTA, 2, HP_EV_SUPPORTED);
    c.setWriteMask(ROOT_PORT_REG.RTCTL, 2, 0x0007);
    c.setWriteMask(ROOT_PORT_REG.DEVCTL2, 2, 0x8020);

    // Extended capabilities: AER (v2) then ACS; values and masks as observed on 10.2.2.
    const acs = !props.disableAcs;
    this.extCap(ROOT_PORT_CAP.AER, 0x0001, 2, acs ? ROOT_PORT_CAP.ACS : 0, 0x48);
    c.set(0x104, 4, 0);
    c.setW1cMask(0x104, 4, 0x03fff030);
    c.set(0x108, 4, 0x02400000);
    c.setWriteMask(0x108, 4, 0x03fff030);
    c.set(0x10c, 4, 0x00462030);
    c.setWriteMask(0x10c, 4, 0x03fff030);
    c.setW1cMask(0x110, 4, 0x0000f1c1);
    c.set(0x114, 4, 0x0000e000);
    c.setWriteMask(0x114, 4, 0x0000f1c1);
    c.set(0x118, 4, 0x000002a0);
    c.setWriteMask(0x118, 4, 0x00000540);
    c.setWriteMask(0x12c, 4, 0x00000007);
    c.setW1cMask(0x130, 4, 0x0000007f);
    if (acs) {
      this.extCap(ROOT_PORT_CAP.ACS, 0x000d, 1, 0, 8);
      c.set(ROOT_PORT_CAP.ACS + 4, 2, 0x005f);
      c.setWriteMask(ROOT_PORT_CAP.ACS + 6, 2, 0x005f);
    }

    this.msixTable[3] = 1; // vector masked
    this.msixBar = this.makeMsixBar();
    this.addBar({ index: 0, size: 0x1000n, kind: 'mem32', region: this.msixBar });
  }

  private extCap(offset: number, id: number, version: number, next: number, length: number): void {
    this.config.set(offset, 4, id | (version << 16) | (next << 20));
    this.config.wmask.fill(0, offset, offset + length);
    this.config.w1cmask.fill(0, offset, offset + length);
  }

  // ---- slot registers ----

  get sltctl(): number {
    return this.config.get(ROOT_PORT_REG.SLTCTL, 2);
  }

  get sltsta(): number {
    return this.config.get(ROOT_PORT_REG.SLTSTA, 2);
  }

  private setSltsta(v: number): void {
    this.config.set(ROOT_PORT_REG.SLTSTA, 2, v & 0xffff);
  }

  private setLnkstaDllla(on: boolean): void {
    const v = this.config.get(ROOT_PORT_REG.LNKSTA, 2);
    this.config.set(ROOT_PORT_REG.LNKSTA, 2, on ? v | LNKSTA_DLLLA : v & ~LNKSTA_DLLLA);
  }

  /** Whether the slot's power controller feeds the secondary bus (pcie_cap_update_power). */
  get slotPowered(): boolean {
    return !this.pcp || (this.sltctl & SLTCTL.PCC) === 0;
  }

  private updatePower(): void {
    this.hooks?.setPower(this.slotPowered);
  }

  private updateEventStatus(): void {
    const ctl = this.sltctl;
    this.hpevNotified = (ctl & SLTCTL.HPIE) !== 0 && (this.sltsta & ctl & HP_EV_SUPPORTED) !== 0;
  }

  /** hotplug_event_notify: MSI-X if enabled, else INTx follows the event state. */
  private eventNotify(): void {
    const prev = this.hpevNotified;
    this.updateEventStatus();
    if (prev === this.hpevNotified) return;
    if (this.msixEnabled) this.msixNotify();
    else this.ctx.setIntx(this.hpevNotified ? 1 : 0);
  }

  /** hotplug_event_clear. */
  private eventClear(): void {
    this.updateEventStatus();
    if (!this.msixEnabled && !this.hpevNotified) this.ctx.setIntx(0);
  }

  /** pcie_cap_slot_event: set status bits; notify only if something changed. */
  private slotEvent(bits: number): void {
    const old = this.sltsta;
    this.setSltsta(old | bits);
    if ((old & bits) === bits) return;
    this.eventNotify();
  }

  pushAttentionButton(): void {
    this.slotEvent(SLTSTA.ABP);
  }

  /** pcie_cap_slot_do_unplug. */
  private doUnplug(): void {
    this.hooks?.unplugAll();
    this.setSltsta(this.sltsta & ~SLTSTA.PDS);
    this.setLnkstaDllla(false);
    this.setSltsta(this.sltsta | SLTSTA.PDC);
  }

  prePlug(_device: PciDevice, hotplugged: boolean): string | undefined {
    if (hotplugged && !this.hotplugCapable) return `Hot-plug failed: unsupported by the port device '${this.id ?? ''}'`;
    if (this.sltsta & SLTSTA.EIS) return 'slot is electromechanically locked: Device or resource busy';
    return undefined;
  }

  plugged(_device: PciDevice, hotplugged: boolean): void {
    if (!hotplugged) {
      this.setSltsta(this.sltsta | SLTSTA.PDS);
      this.setLnkstaDllla(true);
      this.updatePower();
      return;
    }
    // Multifunction hot-plug: the event comes when function 0 is added.
    if (!this.hooks?.hasFunction0()) return;
    this.setSltsta(this.sltsta | SLTSTA.PDS);
    this.setLnkstaDllla(true);
    this.slotEvent(SLTSTA.PDC | SLTSTA.ABP);
    this.updatePower();
  }

  unplugRequest(device: PciDevice): 'removed' | 'pending' {
    if (!this.hotplugCapable) throw new Error(`Hot-unplug failed: unsupported by the port device '${this.id ?? ''}'`);
    if (this.sltsta & SLTSTA.EIS) throw new Error('slot is electromechanically locked: Device or resource busy');
    const ctl = this.sltctl;
    if ((ctl & SLTCTL.PIC) === SLTCTL.PWR_IND_BLINK)
      throw new Error('Hot-unplug failed: guest is busy (power indicator blinking)');
    if (device.devfn !== 0 && !this.hooks?.hasFunction0()) return 'removed';
    if (sltctlPoweredOff(ctl)) {
      this.doUnplug();
      this.eventNotify();
      this.setSltsta(this.sltsta & ~SLTSTA.ABP);
      return 'removed';
    }
    this.pushAttentionButton();
    return 'pending';
  }

  // ---- config space ----

  override configWrite(off: number, len: 1 | 2 | 4, value: number): void {
    const oldCtl = this.sltctl;
    const oldSta = this.sltsta;
    const oldBctl = this.bridgeControl;
    const oldMsix = this.config.get(ROOT_PORT_REG.MSIX_FLAGS, 2);
    super.configWrite(off, len, value);

    // pci_bridge_write_config: secondary bus reset on a 0 → 1 transition.
    if (~oldBctl & this.bridgeControl & PCI_BRIDGE_CTL.BUS_RESET) this.hooks?.resetBus();
    // msix_write_config: unmasking delivers a pending vector.
    if (overlaps(off, len, ROOT_PORT_REG.MSIX_FLAGS, 2) && this.config.get(ROOT_PORT_REG.MSIX_FLAGS, 2) !== oldMsix)
      this.msixUpdate();

    // pcie_cap_slot_write_config (QEMU compares the raw written value, whatever its offset).
    let sltsta = this.sltsta;
    if (overlaps(off, len, ROOT_PORT_REG.SLTSTA, 2)) {
      if (value & ~oldSta & SLOT_EVENTS) {
        sltsta = (sltsta & ~SLOT_EVENTS) | (oldSta & SLOT_EVENTS);
        this.setSltsta(sltsta);
      }
      this.eventClear();
    }
    if (!overlaps(off, len, ROOT_PORT_REG.SLTCTL, 2)) return;
    if (this.sltctl & SLTCTL.EIC) {
      this.config.set(ROOT_PORT_REG.SLTCTL, 2, this.sltctl & ~SLTCTL.EIC);
      sltsta ^= SLTSTA.EIS;
      this.setSltsta(sltsta);
    }
    if (sltsta & SLTSTA.PDS && sltctlPoweredOff(value) && !sltctlPoweredOff(oldCtl)) this.doUnplug();
    this.updatePower();
    this.eventNotify();
    this.slotEvent(SLTSTA.CC);
  }

  protected override resetDevice(): void {
    const c = this.config;
    // MSI-X (msix_reset): disabled, vector masked, nothing pending.
    c.set(ROOT_PORT_REG.MSIX_FLAGS, 2, c.get(ROOT_PORT_REG.MSIX_FLAGS, 2) & ~(MSIX_ENABLE | MSIX_MASKALL));
    this.msixTable.fill(0);
    this.msixTable[3] = 1;
    this.msixPending = false;
    // rp_reset_hold: root control, device error reporting, slot, ARI forwarding, ACS, AER root command.
    c.set(ROOT_PORT_REG.RTCTL, 2, 0);
    c.set(ROOT_PORT_REG.DEVCTL, 2, c.get(ROOT_PORT_REG.DEVCTL, 2) & ~0x000f);
    let ctl =
      this.sltctl & ~(SLTCTL.EIC | SLTCTL.PIC | SLTCTL.AIC | SLTCTL.HPIE | SLTCTL.CCIE | SLTCTL.PDCE | SLTCTL.ABPE);
    ctl |= SLTCTL.PWR_IND_OFF | SLTCTL.ATTN_IND_OFF;
    if (this.pcp) {
      const populated = this.hooks?.hasFunction0() ?? false;
      ctl = populated ? ctl & ~SLTCTL.PCC : ctl | SLTCTL.PCC;
      // QEMU ORs "indicator on" into the "off" pattern set just above, so the indicator reads off.
      ctl |= populated ? SLTCTL.PWR_IND_ON : SLTCTL.PWR_IND_OFF;
    }
    c.set(ROOT_PORT_REG.SLTCTL, 2, ctl);
    this.setSltsta(this.sltsta & ~(SLTSTA.EIS | SLTSTA.CC | SLTSTA.PDC | SLTSTA.ABP));
    this.updatePower();
    this.updateEventStatus();
    c.set(ROOT_PORT_REG.DEVCTL2, 2, c.get(ROOT_PORT_REG.DEVCTL2, 2) & ~0x0020);
    if (c.get(ROOT_PORT_CAP.ACS, 4) !== 0) c.set(ROOT_PORT_CAP.ACS + 6, 2, 0);
    c.set(0x12c, 4, 0);
    this.resetBridge();
  }

  // ---- MSI-X (one vector) ----

  get msixEnabled(): boolean {
    return (this.config.get(ROOT_PORT_REG.MSIX_FLAGS, 2) & MSIX_ENABLE) !== 0;
  }

  private msixMasked(): boolean {
    return (
      (this.config.get(ROOT_PORT_REG.MSIX_FLAGS, 2) & MSIX_MASKALL) !== 0 ||
      !this.msixEnabled ||
      (this.msixTable[3] & 1) !== 0
    );
  }

  private msixNotify(): void {
    if (!this.msixEnabled) return;
    if (this.msixMasked()) {
      this.msixPending = true;
      return;
    }
    const addr = BigInt(this.msixTable[0]) | (BigInt(this.msixTable[1]) << 32n);
    const data = new Uint8Array(4);
    new DataView(data.buffer).setUint32(0, this.msixTable[2], true);
    this.ctx.dma.writeBytes(addr, data);
  }

  private msixUpdate(): void {
    if (this.msixPending && !this.msixMasked()) {
      this.msixPending = false;
      this.msixNotify();
    }
  }

  private makeMsixBar(): IoRegion {
    return {
      kind: 'io',
      name: 'pcie-root-port-msix',
      size: 0x1000n,
      valid: { minSize: 4, maxSize: 8 },
      impl: { minSize: 4, maxSize: 4 },
      read: (offset: bigint, _size: AccessSize): bigint => {
        const off = Number(offset);
        if (off < 16) return BigInt(this.msixTable[off >> 2]);
        if (off >= MSIX_PBA_OFFSET && off < MSIX_PBA_OFFSET + 8)
          return off === MSIX_PBA_OFFSET && this.msixPending ? 1n : 0n;
        return 0xffffffffn;
      },
      write: (offset: bigint, _size: AccessSize, value: bigint): void => {
        const off = Number(offset);
        if (off >= 16) return;
        const idx = off >> 2;
        this.msixTable[idx] = idx === 3 ? Number(value & 1n) | (this.msixTable[3] & ~1) : Number(value & 0xffffffffn);
        if (idx === 3) this.msixUpdate();
      },
    };
  }

  override pcieSlot(): { chassis: number; slot: number } {
    return { chassis: this.chassis, slot: this.slot };
  }
}
