/**
 * The SMMUv3 page-0 register map as data (IHI 0070 6.3; QEMU 10.2.2 smmuv3-internal.h and
 * smmu_readl/readll/writel/writell): offset, width, access behaviour, which registers honour
 * 8-byte accesses, reset behaviour, the fields the model uses, the advertised ID register values
 * and the Peripheral/Component ID bytes. Plus a pure decoder from an MMIO offset and size to the
 * register it hits (page 1 aliases page 0). Behaviour on write is named here and attached in
 * smmu-v3.ts. Does not include a secure bank, PRIQ or ECMDQ registers (RAZ/WI, as in QEMU).
 */

export type RegAccess =
  /** Stored, read back. */
  | 'rw'
  /** Read only; writes ignored. */
  | 'ro'
  /** Write stored, but every read returns 0 (QEMU has no read case: EVENTQ_IRQ_CFGn). */
  | 'wo';

export interface SmmuRegSpec {
  readonly offset: number;
  readonly width: 32 | 64;
  readonly access: RegAccess;
  /** 8-byte accesses honoured: 'rw', 'w' (write only) or absent (RAZ/WI). 64-bit regs only. */
  readonly wide?: 'rw' | 'w';
  /** Value set by device reset, or 'keep' when QEMU's reset leaves it alone. */
  readonly reset: bigint | 'keep';
}

const r = (
  offset: number,
  width: 32 | 64,
  access: RegAccess,
  reset: bigint | 'keep',
  wide?: 'rw' | 'w',
): SmmuRegSpec => (wide ? { offset, width, access, reset, wide } : { offset, width, access, reset });

/**
 * Registers in offset order. IDRn/IIDR/AIDR reset values are computed (idrValues). CMDQ_BASE and
 * EVENTQ_BASE reset only their LOG2SIZE (to 19), keeping the other bits.
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
  CR0: r(0x020, 32, 'rw', 0n),
  CR0ACK: r(0x024, 32, 'ro', 0n),
  CR1: r(0x028, 32, 'rw', 'keep'),
  CR2: r(0x02c, 32, 'rw', 'keep'),
  STATUSR: r(0x040, 32, 'ro', 0n),
  GBPA: r(0x044, 32, 'rw', 0x1000n),
  IRQ_CTRL: r(0x050, 32, 'rw', 0n),
  IRQ_CTRLACK: r(0x054, 32, 'ro', 0n),
  GERROR: r(0x060, 32, 'ro', 0n),
  GERRORN: r(0x064, 32, 'rw', 0n),
  GERROR_IRQ_CFG0: r(0x068, 64, 'rw', 'keep', 'rw'),
  GERROR_IRQ_CFG1: r(0x070, 32, 'rw', 'keep'),
  GERROR_IRQ_CFG2: r(0x074, 32, 'rw', 'keep'),
  STRTAB_BASE: r(0x080, 64, 'rw', 'keep', 'rw'),
  STRTAB_BASE_CFG: r(0x088, 32, 'rw', 'keep'),
  CMDQ_BASE: r(0x090, 64, 'rw', 'keep', 'rw'),
  CMDQ_PROD: r(0x098, 32, 'rw', 0n),
  CMDQ_CONS: r(0x09c, 32, 'rw', 0n),
  EVENTQ_BASE: r(0x0a0, 64, 'rw', 'keep', 'rw'),
  EVENTQ_PROD: r(0x0a8, 32, 'rw', 0n),
  EVENTQ_CONS: r(0x0ac, 32, 'rw', 0n),
  EVENTQ_IRQ_CFG0: r(0x0b0, 64, 'wo', 'keep', 'w'),
  EVENTQ_IRQ_CFG1: r(0x0b8, 32, 'wo', 'keep'),
  EVENTQ_IRQ_CFG2: r(0x0bc, 32, 'wo', 'keep'),
} as const satisfies Record<string, SmmuRegSpec>;

export type SmmuRegName = keyof typeof SMMU_REGISTERS;

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

/** Bits of CR0 that CR0ACK never reflects (QEMU SMMU_CR0_RESERVED). */
export const CR0_RESERVED = 0xfffffc20;

/** Peripheral/Component ID registers at 0xFD0..0xFFC, one byte value each (an Arm MMU-600). */
export const ID_REGS_OFFSET = 0xfd0;
export const PERIPHERAL_IDS: readonly number[] = [
  0x04, 0x00, 0x00, 0x00, 0x84, 0xb4, 0xf0, 0x10, 0x0d, 0xf0, 0x05, 0xb1,
];

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

/** What an access at an offset hits. */
export type RegisterHit =
  | { kind: 'reg'; name: SmmuRegName; spec: SmmuRegSpec; part: 'full' | 'lo' | 'hi' }
  | { kind: 'id'; value: number }
  | { kind: 'none' };

const BY_OFFSET = new Map<number, { name: SmmuRegName; spec: SmmuRegSpec; part: 'full' | 'lo' | 'hi' }>();
for (const [name, spec] of Object.entries(SMMU_REGISTERS) as Array<[SmmuRegName, SmmuRegSpec]>) {
  if (spec.width === 64) {
    BY_OFFSET.set(spec.offset, { name, spec, part: 'lo' });
    BY_OFFSET.set(spec.offset + 4, { name, spec, part: 'hi' });
  } else {
    BY_OFFSET.set(spec.offset, { name, spec, part: 'full' });
  }
}

/** Page 1 is an exact alias of page 0 (QEMU clears offset bit 16). */
export function pageOffset(offset: bigint): number {
  return Number(offset & 0xffffn);
}

/**
 * Decode a 4- or 8-byte access. 8-byte accesses reach only 64-bit registers that honour them
 * (`wide`); everything else is RAZ/WI ('none').
 */
export function decodeAccess(offset: bigint, size: number, isWrite: boolean): RegisterHit {
  const off = pageOffset(offset);
  if (size === 4) {
    if (off >= ID_REGS_OFFSET && off < ID_REGS_OFFSET + 0x30) {
      return isWrite ? { kind: 'none' } : { kind: 'id', value: PERIPHERAL_IDS[Math.floor((off - ID_REGS_OFFSET) / 4)] };
    }
    const hit = BY_OFFSET.get(off);
    return hit ? { kind: 'reg', ...hit } : { kind: 'none' };
  }
  if (size === 8) {
    const hit = BY_OFFSET.get(off);
    if (!hit || hit.part !== 'lo' || !hit.spec.wide) return { kind: 'none' };
    if (!isWrite && hit.spec.wide !== 'rw') return { kind: 'none' };
    return { kind: 'reg', name: hit.name, spec: hit.spec, part: 'full' };
  }
  return { kind: 'none' };
}
