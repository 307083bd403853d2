/**
 * The SMMUv3 register bank as data (IHI 0070 6.3; QEMU 10.2.2 smmuv3-internal.h and
 * smmu_readl/readll/writel/writell): one bank-relative table (offset, width, access behaviour,
 * reset behaviour, named hooks) for the memory/register-file.ts engine, the fields the model
 * uses, the advertised ID register values and the Peripheral/Component ID bytes. Which bank an
 * MMIO offset reaches is decoded in smmu-v3.ts; behaviour is attached in bank.ts. PRIQ and ECMDQ
 * registers are not included (RAZ/WI, as in QEMU).
 */
import type { RegisterAccess, RegisterSpec } from '../memory/register-file.js';

/** Peripheral/Component ID registers at 0xFD0..0xFFC, one byte value each (an Arm MMU-600). */
export const ID_REGS_OFFSET = 0xfd0;
export const PERIPHERAL_IDS: readonly number[] = [
  0x04, 0x00, 0x00, 0x00, 0x84, 0xb4, 0xf0, 0x10, 0x0d, 0xf0, 0x05, 0xb1,
];

/**
 * A register of a bank: the register-file spec (memory/register-file.ts) plus what device reset
 * does with it (`keep`: QEMU's reset leaves it alone) and whether it exists only when the
 * Secure programming interface is implemented (S_INIT).
 */
export interface SmmuRegSpec extends RegisterSpec {
  readonly keep?: true;
  readonly secureOnly?: true;
}

type Hooks = { read?: string; write?: string; after?: string };
const r = <const H extends Hooks = Record<never, never>>(
  offset: number,
  width: 32 | 64,
  access: RegisterAccess,
  reset: bigint | 'keep',
  hooks?: H,
): SmmuRegSpec & H =>
  ({ offset, width, access, ...(reset === 'keep' ? { keep: true } : { reset }), ...hooks }) as SmmuRegSpec & H;

/**
 * One bank's registers, relative to the bank's base (0x0 Non-secure, 0x8000 Secure; see
 * docs/secure-smmu.md). In offset order. IDRn/IIDR/AIDR are set per bank (idrValues). CMDQ_BASE
 * and EVENTQ_BASE reset only their LOG2SIZE (to 19), keeping the other bits. An 8-byte access
 * reaches only a 64-bit register (the register file treats anything else as RAZ/WI), which is
 * exactly where QEMU's smmu_readll/writell have cases; EVENTQ_IRQ_CFGn read as zero ('wo').
 * Behaviour on write is named here and attached in bank.ts.
 */
export const SMMU_REGISTERS = {
  IDR0: r(0x000, 32, 'ro', 'keep'),
  IDR1: r(0x004, 32, 'ro', 'keep'),
  IDR2: r(0x008, 32, 'ro', 'keep'),
  IDR3: r(0x00c, 32, 'ro', 'keep'),
  IDR4: r(0x010, 32, 'ro', 'keep'),
  IDR5: r(0x014, 32, 'ro', 'keep'),
  IIDR: r(0x018, 32, 'ro', 'keep'),
  AIDR: r(0x01c, 32, 'ro', 'keep'),
  CR0: r(0x020, 32, 'rw', 0n, { after: 'cr0' }),
  CR0ACK: r(0x024, 32, 'ro', 0n),
  CR1: r(0x028, 32, 'rw', 'keep'),
  CR2: r(0x02c, 32, 'rw', 'keep', { write: 'cr2' }),
  INIT: { ...r(0x03c, 32, 'wo', 0n, { write: 'init' }), secureOnly: true },
  STATUSR: r(0x040, 32, 'ro', 0n),
  GBPA: r(0x044, 32, 'rw', 0x1000n, { write: 'gbpa' }),
  IRQ_CTRL: r(0x050, 32, 'rw', 0n),
  IRQ_CTRLACK: r(0x054, 32, 'ro', 0n, { read: 'irqCtrlAck' }),
  GERROR: r(0x060, 32, 'ro', 0n),
  GERRORN: r(0x064, 32, 'rw', 0n, { write: 'gerrorn', after: 'cmdq' }),
  GERROR_IRQ_CFG0: r(0x068, 64, 'rw', 'keep', { write: 'msiCfg', read: 'msiCfg' }),
  GERROR_IRQ_CFG1: r(0x070, 32, 'rw', 'keep', { write: 'msiCfg', read: 'msiCfg' }),
  GERROR_IRQ_CFG2: r(0x074, 32, 'rw', 'keep', { read: 'msiCfg' }),
  STRTAB_BASE: r(0x080, 64, 'rw', 'keep', { write: 'strtabBase' }),
  STRTAB_BASE_CFG: r(0x088, 32, 'rw', 'keep', { write: 'strtabBase', after: 'strtabCfg' }),
  CMDQ_BASE: r(0x090, 64, 'rw', 'keep', { write: 'cmdqBase', after: 'cmdqBase' }),
  CMDQ_PROD: r(0x098, 32, 'rw', 0n, { after: 'cmdq' }),
  CMDQ_CONS: r(0x09c, 32, 'rw', 0n, { write: 'cmdqBase' }),
  EVENTQ_BASE: r(0x0a0, 64, 'rw', 'keep', { write: 'eventqBase', after: 'eventqBase' }),
  EVENTQ_PROD: r(0x0a8, 32, 'rw', 0n, { write: 'eventqBase' }),
  EVENTQ_CONS: r(0x0ac, 32, 'rw', 0n),
  EVENTQ_IRQ_CFG0: r(0x0b0, 64, 'wo', 'keep'),
  EVENTQ_IRQ_CFG1: r(0x0b8, 32, 'wo', 'keep'),
  EVENTQ_IRQ_CFG2: r(0x0bc, 32, 'wo', 'keep'),
  ...peripheralIdRegisters(),
} as const satisfies Record<string, SmmuRegSpec>;

/** Peripheral/Component ID registers at 0xFD0..0xFFC as read-only registers (PIDR4..CIDR3). */
function peripheralIdRegisters(): Record<`ID_${number}`, SmmuRegSpec> {
  const out: Record<string, SmmuRegSpec> = {};
  PERIPHERAL_IDS.forEach(
    (v, i) => (out[`ID_${ID_REGS_OFFSET + 4 * i}`] = r(ID_REGS_OFFSET + 4 * i, 32, 'ro', BigInt(v))),
  );
  return out as Record<`ID_${number}`, SmmuRegSpec>;
}

/** The registers a bank has (names without the Secure bank's S_ prefix). */
export type SmmuRegName = keyof typeof SMMU_REGISTERS;

/** Each register's bank-relative offset, by name (for drivers and tests that program a bank). */
export const SMMU_REG_OFFSETS = Object.fromEntries(
  Object.entries(SMMU_REGISTERS).map(([name, spec]) => [name, spec.offset]),
) as { readonly [K in SmmuRegName]: number };

/** Fields the model reads or writes: [lsb, width]. */
export const SMMU_FIELDS = {
  IDR0: {
    S2P: [0, 1],
    S1P: [1, 1],
    TTF: [2, 2],
    COHACC: [4, 1],
    BTM: [5, 1],
    HTTU: [6, 2],
    DORMHINT: [8, 1],
    HYP: [9, 1],
    ATS: [10, 1],
    NS1ATS: [11, 1],
    ASID16: [12, 1],
    MSI: [13, 1],
    SEV: [14, 1],
    ATOS: [15, 1],
    PRI: [16, 1],
    VMW: [17, 1],
    VMID16: [18, 1],
    CD2L: [19, 1],
    VATOS: [20, 1],
    TTENDIAN: [21, 2],
    ATSRECERR: [23, 1],
    STALL_MODEL: [24, 2],
    TERM_MODEL: [26, 1],
    ST_LEVEL: [27, 2],
    RME_IMPL: [30, 1],
  },
  IDR1: { SIDSIZE: [0, 6], SSIDSIZE: [6, 5], PRIQS: [11, 5], EVENTQS: [16, 5], CMDQS: [21, 5] },
  IDR3: {
    HAD: [2, 1],
    PBHA: [3, 1],
    XNX: [4, 1],
    PPS: [5, 1],
    MPAM: [7, 1],
    FWB: [8, 1],
    STT: [9, 1],
    RIL: [10, 1],
    BBML: [11, 2],
  },
  IDR5: { OAS: [0, 3], GRAN4K: [4, 1], GRAN16K: [5, 1], GRAN64K: [6, 1], VAX: [10, 2], STALL_MAX: [16, 16] },
  CR0: { SMMUEN: [0, 1], PRIQEN: [1, 1], EVENTQEN: [2, 1], CMDQEN: [3, 1], ATSCHK: [4, 1], VMW: [6, 3] },
  GBPA: {
    MEMATTR: [0, 4],
    MTCFG: [4, 1],
    ALLOCCFG: [8, 4],
    SHCFG: [12, 2],
    PRIVCFG: [16, 2],
    INSTCFG: [18, 2],
    ABORT: [20, 1],
    UPDATE: [31, 1],
  },
  IRQ_CTRL: { GERROR_IRQEN: [0, 1], PRIQ_IRQEN: [1, 1], EVENTQ_IRQEN: [2, 1] },
  GERROR: {
    CMDQ_ERR: [0, 1],
    EVENTQ_ABT_ERR: [2, 1],
    PRIQ_ABT_ERR: [3, 1],
    MSI_CMDQ_ABT_ERR: [4, 1],
    MSI_EVENTQ_ABT_ERR: [5, 1],
    MSI_PRIQ_ABT_ERR: [6, 1],
    MSI_GERROR_ABT_ERR: [7, 1],
    MSI_SFM_ERR: [8, 1],
  },
  STRTAB_BASE_CFG: { LOG2SIZE: [0, 6], SPLIT: [6, 5], FMT: [16, 2] },
  CMDQ_CONS: { ERR: [24, 7] },
} as const satisfies Record<string, Record<string, readonly [number, number]>>;

/** S_IDR1.SECURE_IMPL (bit 31) and the StreamID size both banks advertise (docs/secure-smmu.md). */
export const S_IDR1_SECURE_IMPL = 0x8000_0000;
export const SMMU_SIDSIZE = 16;

/** Bits of CR0 that CR0ACK never reflects (QEMU SMMU_CR0_RESERVED). */
export const CR0_RESERVED = 0xfffffc20;

/** Which stages the SMMU implements (QEMU `stage` property: "1" default, "2", "nested"). */
export type SmmuStageSupport = '1' | '2' | 'nested';

/** Read a field from a register value. */
export function field<R extends keyof typeof SMMU_FIELDS>(
  reg: R,
  name: keyof (typeof SMMU_FIELDS)[R],
  value: number,
): number {
  const [lsb, width] = (SMMU_FIELDS[reg] as Record<string, readonly [number, number]>)[name as string];
  return Math.floor(value / 2 ** lsb) % 2 ** width;
}

/** Build a register value from named fields. */
export function fieldsValue<R extends keyof typeof SMMU_FIELDS>(
  reg: R,
  values: Partial<Record<keyof (typeof SMMU_FIELDS)[R], number>>,
): number {
  let v = 0;
  for (const [name, fv] of Object.entries(values) as Array<[string, number]>) {
    const [lsb, width] = (SMMU_FIELDS[reg] as Record<string, readonly [number, number]>)[name];
    v += (fv % 2 ** width) * 2 ** lsb;
  }
  return v;
}

/** ID register values QEMU 10.2.2 advertises (smmuv3_init_regs). */
export function idrValues(
  stage: SmmuStageSupport,
): Record<'IDR0' | 'IDR1' | 'IDR2' | 'IDR3' | 'IDR4' | 'IDR5' | 'IIDR' | 'AIDR', number> {
  const s1p = stage !== '2' ? 1 : 0;
  const s2p = stage === '2' || stage === 'nested' ? 1 : 0;
  return {
    IDR0: fieldsValue('IDR0', {
      S2P: s2p,
      S1P: s1p,
      TTF: 2,
      COHACC: 1,
      ASID16: 1,
      VMID16: 1,
      TTENDIAN: 2,
      STALL_MODEL: 1,
      TERM_MODEL: 1,
      ST_LEVEL: 1,
    }),
    IDR1: fieldsValue('IDR1', { SIDSIZE: 16, EVENTQS: 19, CMDQS: 19 }),
    IDR2: 0,
    IDR3: fieldsValue('IDR3', { HAD: 1, XNX: s2p, RIL: 1, BBML: 2 }),
    IDR4: 0,
    IDR5: fieldsValue('IDR5', { OAS: 4, GRAN4K: 1, GRAN16K: 1, GRAN64K: 1 }),
    IIDR: 0,
    AIDR: 1, // SMMUv3.1
  };
}
