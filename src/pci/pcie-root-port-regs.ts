/**
 * Register layout of QEMU's `pcie-root-port` as 10.2.2 places it: capability offsets, PCIe
 * capability registers (absolute offsets) and the Slot Control / Slot Status bits the hot-plug
 * slot uses (pcie-root-port.ts).
 */

/** Offsets of the capabilities (as QEMU 10.2.2 places them). */
export const ROOT_PORT_CAP = {
  SSVID: 0x40,
  MSIX: 0x48,
  EXP: 0x54,
  AER: 0x100,
  ACS: 0x148,
} as const;

export const EXP = ROOT_PORT_CAP.EXP;
/** PCIe capability registers (absolute offsets). */
export const ROOT_PORT_REG = {
  DEVCTL: EXP + 0x08,
  DEVSTA: EXP + 0x0a,
  LNKCAP: EXP + 0x0c,
  LNKSTA: EXP + 0x12,
  SLTCAP: EXP + 0x14,
  SLTCTL: EXP + 0x18,
  SLTSTA: EXP + 0x1a,
  RTCTL: EXP + 0x1c,
  DEVCTL2: EXP + 0x28,
  MSIX_FLAGS: ROOT_PORT_CAP.MSIX + 2,
} as const;

/** Slot Control bits. */
export const SLTCTL = {
  ABPE: 0x0001,
  PDCE: 0x0008,
  CCIE: 0x0010,
  HPIE: 0x0020,
  AIC: 0x00c0,
  ATTN_IND_OFF: 0x00c0,
  PIC: 0x0300,
  PWR_IND_ON: 0x0100,
  PWR_IND_BLINK: 0x0200,
  PWR_IND_OFF: 0x0300,
  PCC: 0x0400,
  EIC: 0x0800,
} as const;

/** Slot Status bits. */
export const SLTSTA = {
  ABP: 0x0001,
  PFD: 0x0002,
  MRLSC: 0x0004,
  PDC: 0x0008,
  CC: 0x0010,
  PDS: 0x0040,
  EIS: 0x0080,
} as const;

export const HP_EV_SUPPORTED = SLTSTA.ABP | SLTSTA.PDC | SLTSTA.CC;
export const SLOT_EVENTS = SLTSTA.ABP | SLTSTA.PFD | SLTSTA.MRLSC | SLTSTA.PDC | SLTSTA.CC;
export const LNKSTA_DLLLA = 0x2000;
export const MSIX_ENABLE = 0x8000;
export const MSIX_MASKALL = 0x4000;
export const MSIX_PBA_OFFSET = 0x800;

/** pcie_sltctl_powered_off: power controller off and power indicator off. */
export function sltctlPoweredOff(ctl: number): boolean {
  return (ctl & SLTCTL.PCC) === SLTCTL.PCC && (ctl & SLTCTL.PIC) === SLTCTL.PWR_IND_OFF;
}
