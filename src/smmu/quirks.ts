/**
 * The Secure SMMU series' departures from the Arm architecture, each a named switch
 * (docs/secure-smmu.md "Quirks"). With `secure-impl=true` every switch defaults to the series'
 * behaviour (`x-quirks=rfc`); `x-quirks=architectural` turns them all off, and `x-quirk-NAME=on|off`
 * sets one. Without `secure-impl` none applies: the SMMU is QEMU 10.2.2's.
 */

export const SMMU_QUIRKS = {
  /** Non-secure offset 0x03C is decoded as S_INIT too (INV_ALL of both worlds). */
  'ns-init-alias': 'Non-secure offset 0x03C also performs S_INIT',
  /** Every stream honours CD.NSCFG, NSTable and the leaf NS bit; an NS walk may turn Secure. */
  'walk-security': 'NSCFG/NSTable/NS honoured for Non-secure streams; NSTable=0 turns an NS walk Secure',
  /** The Secure bank's command and event queues are accessed through Non-secure memory. */
  'queues-ns-memory': 'Secure command/event queues read and written through Non-secure memory',
  /** Bypass and disabled-bank output of Secure streams goes to Non-secure memory. */
  'bypass-ns-output': 'bypass output of Secure streams goes to Non-secure memory',
  /** S_CR0ACK is computed with the Non-secure reserved mask 0xFFFFFA20. */
  'cr0ack-mask': 'S_CR0ACK uses the Non-secure reserved mask',
  /** SSec=1 CFGI_* is illegal on the Secure queue too; TLBI_S12_VMALL/S2_IPA abort there. */
  'ssec-commands': 'SSec=1 CFGI illegal on both queues; Secure TLBI_S12_VMALL/TLBI_S2_IPA abort',
  /** CFGI_*, TLBI_NH_ALL/NH_ASID and TLBI_NSNH_ALL invalidate both worlds. */
  'invalidate-both-worlds': 'CFGI, TLBI_NH_ALL/NH_ASID, TLBI_NSNH_ALL act on both worlds',
  /** Register writes refused while enabled, MSI config RAZ/WI, base-register masks (series patch 14). */
  'access-checks': 'writes refused while enabled, IRQ_CFG RAZ/WI, base masks',
} as const;

export type SmmuQuirkName = keyof typeof SMMU_QUIRKS;
export type SmmuQuirks = Readonly<Record<SmmuQuirkName, boolean>>;

export const QUIRK_NAMES = Object.keys(SMMU_QUIRKS) as SmmuQuirkName[];

/** All quirks on ('rfc') or off ('architectural'). */
export function quirkSet(mode: 'rfc' | 'architectural'): SmmuQuirks {
  const on = mode === 'rfc';
  return Object.fromEntries(QUIRK_NAMES.map((n) => [n, on])) as Record<SmmuQuirkName, boolean>;
}

/** Reserved CR0 bits of the Secure bank by the architecture (S_CR0: SMMUEN, EVENTQEN, CMDQEN, NSSTALLD, SIF...). */
export const S_CR0_RESERVED = 0xfffffc12;
/** Reserved CR0 bits by the architecture and the series (bit 9 reserved, bit 10 DPT_WALK_EN kept). */
export const CR0_RESERVED_SERIES = 0xfffffa20;
