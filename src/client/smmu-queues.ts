/**
 * Drives an SMMUv3's queues and registers through a GuestMemory (a QtestClient): command encoders
 * by name (IHI 0070 4.x; layout from src/smmu/command-queue.ts, docs/smmu.md), a command queue
 * that writes 16-byte entries at PROD and bumps CMDQ_PROD, an event-queue reader that decodes the
 * 32-byte records between CONS and PROD (docs/smmu.md#commands-and-events), and enableSmmu(), the register sequence
 * of iommu-smmuv3-test (docs/smmu.md#the-upstream-test-sequence), on either register bank (the
 * Secure bank at +0x8000 with `secure-impl`, docs/secure-smmu.md). No PRI queue or MSIs.
 */
import { CMD_OPCODES, encodeCommand } from '../smmu/command-queue.js';
import type { CommandFields, CommandName } from '../smmu/command-queue.js';
import { decodeEventRecord } from '../smmu/event-queue.js';
import type { EventRecord } from '../smmu/event-queue.js';
import { EVENT_TYPES } from '../smmu/faults.js';
import type { EventName } from '../smmu/faults.js';
import { leToBigint } from './guest-memory.js';
import type { GuestMemory } from './guest-memory.js';
import { SMMU_BASE_ADDR_MASK } from './smmu-builder.js';
import type { StreamTableRegisters } from './smmu-builder.js';

export { CMD_OPCODES, EVENT_TYPES, decodeEventRecord };
export type { CommandFields, CommandName, EventName, EventRecord };

/** SMMU base on `virt` with iommu=smmuv3 (hw/arm/virt.c). */
export const VIRT_SMMU_BASE = 0x0905_0000n;

/** Page-0 register offsets (IHI 0070 6.2; docs/smmu.md). EVENTQ_PROD/CONS as QEMU's page-0 alias. */
export const SMMU_REG = {
  IDR0: 0x000,
  IDR1: 0x004,
  IDR2: 0x008,
  IDR3: 0x00c,
  IDR4: 0x010,
  IDR5: 0x014,
  IIDR: 0x018,
  AIDR: 0x01c,
  CR0: 0x020,
  CR0ACK: 0x024,
  CR1: 0x028,
  CR2: 0x02c,
  STATUSR: 0x040,
  GBPA: 0x044,
  IRQ_CTRL: 0x050,
  IRQ_CTRLACK: 0x054,
  GERROR: 0x060,
  GERRORN: 0x064,
  GERROR_IRQ_CFG0: 0x068,
  STRTAB_BASE: 0x080,
  STRTAB_BASE_CFG: 0x088,
  CMDQ_BASE: 0x090,
  CMDQ_PROD: 0x098,
  CMDQ_CONS: 0x09c,
  EVENTQ_BASE: 0x0a0,
  EVENTQ_PROD: 0x0a8,
  EVENTQ_CONS: 0x0ac,
  EVENTQ_IRQ_CFG0: 0x0b0,
} as const satisfies Record<string, number>;

/** Register banks: the Secure one repeats the page-0 layout at +0x8000 (docs/secure-smmu.md). */
export type SmmuBank = 'non-secure' | 'secure';
export const SMMU_BANK_OFFSET: Record<SmmuBank, bigint> = { 'non-secure': 0n, secure: 0x8000n };
/** Secure-bank-only registers, bank-relative (S_IDR1 0x80000010 with secure-impl; S_INIT bit 0 INV_ALL). */
export const SMMU_S_REG = { S_IDR0: 0x000, S_IDR1: 0x004, S_INIT: 0x03c } as const;

/** Base of one register bank of the SMMU at `smmuBase`. */
export function smmuBankBase(bank: SmmuBank, smmuBase: bigint = VIRT_SMMU_BASE): bigint {
  return smmuBase + SMMU_BANK_OFFSET[bank];
}

export const CR0_BITS = { SMMUEN: 1 << 0, PRIQEN: 1 << 1, EVENTQEN: 1 << 2, CMDQEN: 1 << 3 } as const;
export const IRQ_CTRL_BITS = { GERROR_IRQEN: 1 << 0, PRIQ_IRQEN: 1 << 1, EVENTQ_IRQEN: 1 << 2 } as const;
export const GBPA_UPDATE = 0x8000_0000;
export const CMD_ENTRY_BYTES = 16;
export const EVT_ENTRY_BYTES = 32;

/** *Q_BASE register value: address bits 51:6 | LOG2SIZE [4:0]. */
export function queueBaseValue(base: bigint, log2size: number): bigint {
  return (base & SMMU_BASE_ADDR_MASK) | BigInt(log2size & 0x1f);
}

// ---- commands --------------------------------------------------------------------------

/** Any command by name with raw fields (Opcode filled in). */
export function encodeCommandByName(name: CommandName, fields: Partial<CommandFields> = {}): Uint8Array {
  return encodeCommand({ ...fields, Opcode: CMD_OPCODES[name] });
}

export interface TlbiRange {
  addr: bigint;
  leaf?: boolean;
  /** Range TLBI: translation granule code (1 4K, 2 16K, 3 64K; 0 = not a range). */
  tg?: number;
  ttl?: number;
  num?: number;
  scale?: number;
}

const rangeFields = (r: TlbiRange): Partial<CommandFields> => ({
  Address: r.addr,
  Leaf: r.leaf ? 1 : 0,
  TG: r.tg ?? 0,
  TTL: r.ttl ?? 0,
  NUM: r.num ?? 0,
  SCALE: r.scale ?? 0,
});

/** Command encoders, IHI 0070 spellings (CMD_CFGI_ALL is CFGI_STE_RANGE with Range 31). */
export const CMD = {
  CMD_PREFETCH_CONFIG: (sid: number) => encodeCommandByName('CMD_PREFETCH_CONFIG', { SID: sid }),
  CMD_CFGI_STE: (sid: number, leaf = true) => encodeCommandByName('CMD_CFGI_STE', { SID: sid, Leaf: leaf ? 1 : 0 }),
  CMD_CFGI_STE_RANGE: (sid: number, range: number) =>
    encodeCommandByName('CMD_CFGI_STE_RANGE', { SID: sid, Range: range }),
  CMD_CFGI_ALL: () => encodeCommandByName('CMD_CFGI_STE_RANGE', { Range: 31 }),
  CMD_CFGI_CD: (sid: number, ssid = 0, leaf = true) =>
    encodeCommandByName('CMD_CFGI_CD', { SID: sid, SSID: ssid, Leaf: leaf ? 1 : 0 }),
  CMD_CFGI_CD_ALL: (sid: number) => encodeCommandByName('CMD_CFGI_CD_ALL', { SID: sid }),
  CMD_TLBI_NH_ALL: (vmid = 0) => encodeCommandByName('CMD_TLBI_NH_ALL', { VMID: vmid }),
  CMD_TLBI_NH_ASID: (asid: number, vmid = 0) => encodeCommandByName('CMD_TLBI_NH_ASID', { ASID: asid, VMID: vmid }),
  CMD_TLBI_NH_VA: (asid: number, range: TlbiRange, vmid = 0) =>
    encodeCommandByName('CMD_TLBI_NH_VA', { ASID: asid, VMID: vmid, ...rangeFields(range) }),
  CMD_TLBI_NH_VAA: (range: TlbiRange, vmid = 0) =>
    encodeCommandByName('CMD_TLBI_NH_VAA', { VMID: vmid, ...rangeFields(range) }),
  CMD_TLBI_S12_VMALL: (vmid: number) => encodeCommandByName('CMD_TLBI_S12_VMALL', { VMID: vmid }),
  CMD_TLBI_S2_IPA: (vmid: number, range: TlbiRange) =>
    encodeCommandByName('CMD_TLBI_S2_IPA', { VMID: vmid, ...rangeFields(range) }),
  CMD_TLBI_NSNH_ALL: () => encodeCommandByName('CMD_TLBI_NSNH_ALL'),
  /** CS: 0 none, 1 SIG_IRQ, 2 SIG_SEV. */
  CMD_SYNC: (cs = 0) => encodeCommandByName('CMD_SYNC', { CS: cs }),
} as const;

export interface QueueConfig {
  base: bigint;
  log2size: number;
}

const wrapIndexMask = (log2size: number): number => 2 ** (log2size + 1) - 1;
const indexOf = (ptr: number, log2size: number): number => ptr & (2 ** log2size - 1);

/** The command queue as software sees it: a shadow PROD, entries written at PROD, then CMDQ_PROD. */
export class CommandQueue {
  private prodValue = 0;

  constructor(
    private readonly mem: GuestMemory,
    readonly smmuBase: bigint,
    readonly config: QueueConfig,
  ) {}

  get baseValue(): bigint {
    return queueBaseValue(this.config.base, this.config.log2size);
  }

  get prod(): number {
    return this.prodValue;
  }

  /** Reset the shadow PROD (after software wrote CMDQ_PROD itself). */
  setProd(prod: number): void {
    this.prodValue = prod;
  }

  /** Write the commands at PROD onward, then publish them with one CMDQ_PROD write. */
  async submit(...commands: Uint8Array[]): Promise<number> {
    const { base, log2size } = this.config;
    const writes: Promise<void>[] = [];
    for (const c of commands) {
      if (c.length !== CMD_ENTRY_BYTES) throw new RangeError(`a command is ${CMD_ENTRY_BYTES} bytes, got ${c.length}`);
      writes.push(
        this.mem.write((base & SMMU_BASE_ADDR_MASK) + BigInt(CMD_ENTRY_BYTES * indexOf(this.prodValue, log2size)), c),
      );
      this.prodValue = (this.prodValue + 1) & wrapIndexMask(log2size);
    }
    writes.push(this.mem.writel(this.smmuBase + BigInt(SMMU_REG.CMDQ_PROD), BigInt(this.prodValue)));
    await Promise.all(writes);
    return this.prodValue;
  }

  /** CMDQ_CONS split into pointer and ERR [30:24]; `drained` when CONS caught up with our PROD. */
  async status(): Promise<{ cons: number; err: number; drained: boolean }> {
    const raw = Number(await this.mem.readl(this.smmuBase + BigInt(SMMU_REG.CMDQ_CONS)));
    const mask = wrapIndexMask(this.config.log2size);
    return { cons: raw & mask, err: (raw >>> 24) & 0x7f, drained: (raw & mask) === (this.prodValue & mask) };
  }
}

// ---- events ----------------------------------------------------------------------------

/** The event queue as software sees it: a shadow CONS; poll() reads PROD and consumes. */
export class EventQueue {
  private consValue = 0;

  constructor(
    private readonly mem: GuestMemory,
    readonly smmuBase: bigint,
    readonly config: QueueConfig,
  ) {}

  get baseValue(): bigint {
    return queueBaseValue(this.config.base, this.config.log2size);
  }

  get cons(): number {
    return this.consValue;
  }

  /** Read every record between CONS and EVENTQ_PROD, then write EVENTQ_CONS. */
  async poll(): Promise<EventRecord[]> {
    const { base, log2size } = this.config;
    const mask = wrapIndexMask(log2size);
    const prod = Number(await this.mem.readl(this.smmuBase + BigInt(SMMU_REG.EVENTQ_PROD))) & mask;
    const reads: Promise<Uint8Array>[] = [];
    let cons = this.consValue;
    while ((cons & mask) !== prod) {
      reads.push(
        this.mem.read(
          (base & SMMU_BASE_ADDR_MASK) + BigInt(EVT_ENTRY_BYTES * indexOf(cons, log2size)),
          EVT_ENTRY_BYTES,
        ),
      );
      cons = (cons + 1) & mask;
    }
    if (reads.length === 0) return [];
    const records = (await Promise.all(reads)).map(decodeEventRecord);
    this.consValue = cons;
    await this.mem.writel(this.smmuBase + BigInt(SMMU_REG.EVENTQ_CONS), BigInt(cons));
    return records;
  }
}

// ---- enable ----------------------------------------------------------------------------

export interface EnableSmmuOptions {
  /** Default VIRT_SMMU_BASE. */
  smmuBase?: bigint;
  /**
   * Which register bank to program (default 'non-secure'). For the Secure bank pass a `mem` that
   * reaches the Secure queues/tables (`withAttrs(client, 'secure')`); its attribute-less or Secure
   * MMIO passes the Secure-bank gate either way.
   */
  bank?: SmmuBank;
  cmdq: QueueConfig;
  eventq: QueueConfig;
  strtab: StreamTableRegisters;
  /** Default 0x80000000 (UPDATE with everything else 0). */
  gbpa?: number;
  /** Default 0xd75 (the upstream test's cacheability/shareability value). */
  cr1?: number;
  /** Written just before the final CR0 when given. */
  irqCtrl?: number;
  /** Default SMMUEN | EVENTQEN | CMDQEN (0xd). */
  cr0?: number;
}

export interface EnabledSmmu {
  smmuBase: bigint;
  /** Base of the programmed bank (smmuBase, or smmuBase + 0x8000 for the Secure bank). */
  bankBase: bigint;
  cmdq: CommandQueue;
  eventq: EventQueue;
}

/** A StreamTableRegisters value for a linear table at `base` (2^log2size STEs). */
export function linearStrtabRegisters(base: bigint, log2size: number): StreamTableRegisters {
  return { baseValue: base & SMMU_BASE_ADDR_MASK, cfgValue: log2size & 0x3f };
}

/**
 * Program the SMMU in the order of iommu-smmuv3-test (docs/smmu.md, step 3): GBPA, CR0 = 0, CR1,
 * CMDQ_BASE (64-bit), CMDQ_CONS, CMDQ_PROD, EVENTQ_BASE (64-bit), EVENTQ_PROD, EVENTQ_CONS,
 * STRTAB_BASE_CFG, STRTAB_BASE (64-bit), [IRQ_CTRL], CR0. Writes are pipelined in that order.
 */
export async function enableSmmu(mem: GuestMemory, opts: EnableSmmuOptions): Promise<EnabledSmmu> {
  const smmuBase = opts.smmuBase ?? VIRT_SMMU_BASE;
  const bankBase = smmuBankBase(opts.bank ?? 'non-secure', smmuBase);
  const reg = (name: keyof typeof SMMU_REG) => bankBase + BigInt(SMMU_REG[name]);
  const cmdq = new CommandQueue(mem, bankBase, opts.cmdq);
  const eventq = new EventQueue(mem, bankBase, opts.eventq);
  const w: Promise<void>[] = [
    mem.writel(reg('GBPA'), BigInt(opts.gbpa ?? GBPA_UPDATE)),
    mem.writel(reg('CR0'), 0n),
    mem.writel(reg('CR1'), BigInt(opts.cr1 ?? 0xd75)),
    mem.writeq(reg('CMDQ_BASE'), cmdq.baseValue),
    mem.writel(reg('CMDQ_CONS'), 0n),
    mem.writel(reg('CMDQ_PROD'), 0n),
    mem.writeq(reg('EVENTQ_BASE'), eventq.baseValue),
    mem.writel(reg('EVENTQ_PROD'), 0n),
    mem.writel(reg('EVENTQ_CONS'), 0n),
    mem.writel(reg('STRTAB_BASE_CFG'), BigInt(opts.strtab.cfgValue)),
    mem.writeq(reg('STRTAB_BASE'), opts.strtab.baseValue),
  ];
  if (opts.irqCtrl !== undefined) w.push(mem.writel(reg('IRQ_CTRL'), BigInt(opts.irqCtrl)));
  w.push(mem.writel(reg('CR0'), BigInt(opts.cr0 ?? CR0_BITS.SMMUEN | CR0_BITS.EVENTQEN | CR0_BITS.CMDQEN)));
  await Promise.all(w);
  return { smmuBase, bankBase, cmdq, eventq };
}

/** Read a 64-bit little-endian value out of a byte block (helper for tests of queue memory). */
export const dwordAt = (bytes: Uint8Array, offset: number): bigint => leToBigint(bytes.subarray(offset, offset + 8));
