// Over 400 lines: one builder per SMMU structure kind (STE, CD, stream tables, page tables at three granules) shares its field tables.
/**
 * Builds SMMUv3 in-memory structures in guest RAM through a GuestMemory (a QtestClient): STEs and
 * CDs by field name (layouts from src/smmu/structures.ts, IHI 0070 5.2/5.4, docs/smmu.md),
 * linear and 2-level stream tables (§2.1–2.2), and VMSAv8-64 stage-1/stage-2 page tables at
 * 4K/16K/64K with intermediate levels allocated on demand (§4), Secure ones included (NSTable per
 * level, lower tables in another security space's memory, leaf NS; write through
 * `withAttrs(client, 'secure')` to reach Secure RAM, docs/secure-smmu.md). Keeps a shadow of what it wrote
 * instead of reading tables back, so it assumes it is the only writer of its tables. No
 * AArch32, big-endian, LPA2 or contiguous-hint support.
 */
import { decodeCd, decodeSte, encodeCd, encodeL1std, encodeSte, STE_CONFIG } from '../smmu/structures.js';
import type { CdFields, SteFields } from '../smmu/structures.js';
import { levelShift, stage1StartLevel, stage2StartLevel } from '../smmu/granules.js';
import { leToBigint } from './guest-memory.js';
import type { GuestMemory } from './guest-memory.js';

export { STE_CONFIG };
export type { CdFields, SteFields };

// ---- allocation ------------------------------------------------------------------------

/** Secure-only RAM of `virt` with `secure=on` (docs/secure-smmu.md "Machine"). */
export const VIRT_SECURE_RAM = { base: 0x0e00_0000n, size: 0x0100_0000n } as const;

/** Bump allocator over a guest-physical range [start, end). */
export class GuestAllocator {
  private next: bigint;

  constructor(
    readonly start: bigint,
    readonly end: bigint,
  ) {
    this.next = start;
  }

  alloc(size: bigint | number, align: bigint | number = 8n): bigint {
    const s = BigInt(size);
    const a = BigInt(align);
    if (a <= 0n || (a & (a - 1n)) !== 0n) throw new RangeError(`alignment ${a} is not a power of two`);
    const addr = (this.next + a - 1n) & ~(a - 1n);
    if (addr + s > this.end)
      throw new RangeError(
        `guest allocator exhausted: 0x${s.toString(16)} bytes at 0x${addr.toString(16)} passes 0x${this.end.toString(16)}`,
      );
    this.next = addr + s;
    return addr;
  }

  get used(): bigint {
    return this.next - this.start;
  }
}

// ---- STE / CD --------------------------------------------------------------------------

/** The 64-byte structure as eight little-endian 64-bit values (how docs/smmu.md lists images). */
export function dwordsOf(bytes: Uint8Array): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i + 8 <= bytes.length; i += 8) out.push(leToBigint(bytes.subarray(i, i + 8)));
  return out;
}

/** The sixteen little-endian 32-bit words of a structure. */
export function wordsOf(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 4 <= bytes.length; i += 4) out.push(Number(leToBigint(bytes.subarray(i, i + 4))));
  return out;
}

export const steDwords = (fields: Partial<SteFields>): bigint[] => dwordsOf(encodeSte(fields));
export const cdDwords = (fields: Partial<CdFields>): bigint[] => dwordsOf(encodeCd(fields));
export { decodeCd, decodeSte, encodeCd, encodeSte };

async function writeWords(mem: GuestMemory, addr: bigint, bytes: Uint8Array): Promise<void> {
  await Promise.all(wordsOf(bytes).map((w, i) => mem.writel(addr + BigInt(4 * i), BigInt(w))));
}

/** Write all 16 words of an STE with writel (as iommu-smmuv3-test does). */
export async function writeSte(mem: GuestMemory, addr: bigint, fields: Partial<SteFields>): Promise<void> {
  await writeWords(mem, addr, encodeSte(fields));
}

/** Write all 16 words of a CD with writel; with `verify`, read each back and throw on a mismatch. */
export async function writeCd(
  mem: GuestMemory,
  addr: bigint,
  fields: Partial<CdFields>,
  verify = false,
): Promise<void> {
  const bytes = encodeCd(fields);
  await writeWords(mem, addr, bytes);
  if (!verify) return;
  const words = wordsOf(bytes);
  const back = await Promise.all(words.map((_, i) => mem.readl(addr + BigInt(4 * i))));
  back.forEach((v, i) => {
    if (Number(v) !== words[i])
      throw new Error(
        `CD word ${i} at 0x${(addr + BigInt(4 * i)).toString(16)} reads 0x${v.toString(16)}, wrote 0x${words[i].toString(16)}`,
      );
  });
}

/**
 * The usual AArch64 stage-1 context descriptor: TTB0 walks a 48-bit input space (T0SZ 16) with the
 * 4 KiB granule, TTB1 walks are off (EPD1; TG1 2 is the 4 KiB encoding), 48-bit output (IPS 5),
 * R=1 and A=1 (record faults; no access-flag faults). Spread it and override what a test varies.
 */
export function aarch64Stage1Cd(ttb0: bigint, asid: number): Partial<CdFields> {
  return { V: 1, T0SZ: 16, TG0: 0, EPD1: 1, TG1: 2, IPS: 5, AA64: 1, R: 1, A: 1, ASID: asid, TTB0: ttb0 };
}

// ---- stream tables ---------------------------------------------------------------------

/** What enableSmmu needs from a stream table: the STRTAB_BASE and STRTAB_BASE_CFG values. */
export interface StreamTableRegisters {
  readonly baseValue: bigint;
  readonly cfgValue: number;
}

export const STE_BYTES = 64;
/** STRTAB_BASE_CFG fields (IHI 0070 6.3.24): LOG2SIZE [5:0], SPLIT [10:6], FMT [17:16]. */
export const STRTAB_BASE_CFG = {
  LOG2SIZE: { lsb: 0, width: 6 },
  SPLIT: { lsb: 6, width: 5 },
  FMT: { lsb: 16, width: 2 },
} as const;
export const STRTAB_FMT = { LINEAR: 0, TWO_LEVEL: 1 } as const;
/** STRTAB_BASE / *Q_BASE address field: bits 51:6. */
export const SMMU_BASE_ADDR_MASK = 0x000f_ffff_ffff_ffc0n;

export function strtabBaseCfg(log2size: number, fmt: number = STRTAB_FMT.LINEAR, split = 0): number {
  return ((log2size & 0x3f) | ((split & 0x1f) << 6) | ((fmt & 3) << 16)) >>> 0;
}

/** A linear stream table of 2^log2size STEs at `base`. */
export class LinearStreamTable implements StreamTableRegisters {
  constructor(
    private readonly mem: GuestMemory,
    readonly base: bigint,
    readonly log2size: number,
  ) {}

  get baseValue(): bigint {
    return this.base & SMMU_BASE_ADDR_MASK;
  }
  get cfgValue(): number {
    return strtabBaseCfg(this.log2size, STRTAB_FMT.LINEAR);
  }

  steAddress(sid: number): bigint {
    if (sid < 0 || sid >= 2 ** this.log2size)
      throw new RangeError(`SID ${sid} is outside a 2^${this.log2size}-entry stream table`);
    return this.base + BigInt(STE_BYTES * sid);
  }

  async writeSte(sid: number, fields: Partial<SteFields>): Promise<bigint> {
    const addr = this.steAddress(sid);
    await writeSte(this.mem, addr, fields);
    return addr;
  }

  /** Zero the whole table (2^log2size × 64 bytes). */
  async clear(): Promise<void> {
    await this.mem.memset(this.base, STE_BYTES * 2 ** this.log2size, 0);
  }
}

/** A 2-level stream table: L1 descriptors at `l1Base`, L2 tables of 2^split STEs allocated on demand. */
export class TwoLevelStreamTable implements StreamTableRegisters {
  private readonly l2 = new Map<number, bigint>();

  constructor(
    private readonly mem: GuestMemory,
    private readonly allocator: GuestAllocator,
    readonly l1Base: bigint,
    readonly log2size: number,
    readonly split: number,
  ) {
    if (split <= 0 || split > log2size) throw new RangeError(`split ${split} must be within 1..log2size`);
  }

  /** Allocate the L1 table itself from `allocator` (size 8 × 2^(log2size − split), size-aligned). */
  static create(mem: GuestMemory, allocator: GuestAllocator, log2size: number, split: number): TwoLevelStreamTable {
    const bytes = 8 * 2 ** (log2size - split);
    const l1 = allocator.alloc(Math.max(bytes, 64), Math.max(bytes, 64));
    return new TwoLevelStreamTable(mem, allocator, l1, log2size, split);
  }

  get baseValue(): bigint {
    return this.l1Base & SMMU_BASE_ADDR_MASK;
  }
  get cfgValue(): number {
    return strtabBaseCfg(this.log2size, STRTAB_FMT.TWO_LEVEL, this.split);
  }

  /** L1 descriptor value for an L2 table (Span = split + 1: 2^split STEs, as Linux writes it). */
  l1Descriptor(l2Table: bigint): bigint {
    return leToBigint(encodeL1std({ Span: this.split + 1, L2Ptr: l2Table }));
  }

  /** Make sure the L2 table covering `sid` exists (allocate, zero, write the L1 descriptor). */
  async ensureL2(sid: number): Promise<bigint> {
    if (sid < 0 || sid >= 2 ** this.log2size)
      throw new RangeError(`SID ${sid} is outside a 2^${this.log2size}-entry stream table`);
    const index = Math.floor(sid / 2 ** this.split);
    const known = this.l2.get(index);
    if (known !== undefined) return known;
    const bytes = STE_BYTES * 2 ** this.split;
    const table = this.allocator.alloc(bytes, bytes);
    this.l2.set(index, table);
    await this.mem.memset(table, bytes, 0);
    await this.mem.writeq(this.l1Base + BigInt(8 * index), this.l1Descriptor(table));
    return table;
  }

  async steAddress(sid: number): Promise<bigint> {
    const table = await this.ensureL2(sid);
    return table + BigInt(STE_BYTES * (sid % 2 ** this.split));
  }

  async writeSte(sid: number, fields: Partial<SteFields>): Promise<bigint> {
    const addr = await this.steAddress(sid);
    await writeSte(this.mem, addr, fields);
    return addr;
  }
}

// ---- page tables -----------------------------------------------------------------------

export type GranuleKiB = 4 | 16 | 64;
const PAGE_SHIFT: Record<GranuleKiB, 12 | 14 | 16> = { 4: 12, 16: 14, 64: 16 };

/** Descriptor bits (Arm ARM D8.3): lower and upper attributes by stage. */
export const DESC = {
  VALID: 1n << 0n,
  TABLE_OR_PAGE: 1n << 1n,
  /** Stage 1 AttrIndx [4:2] / stage 2 MemAttr [5:2]. */
  ATTR_LSB: 2n,
  NS: 1n << 5n,
  /** AP[2:1] / S2AP[1:0] at [7:6]. */
  AP_LSB: 6n,
  SH_LSB: 8n,
  AF: 1n << 10n,
  NG: 1n << 11n,
  XN: 1n << 54n,
  /** Table descriptors: APTable [62:61], NSTable [63]. */
  APTABLE_LSB: 61n,
  NSTABLE: 1n << 63n,
  /** Output address bits 47:12 (no 52-bit OA). */
  OA_MASK: 0x0000_ffff_ffff_f000n,
} as const;

export type Perms = 'r' | 'w' | 'rw';

export interface LeafOptions {
  /** Level of the leaf: 3 = page (default), lower = block. */
  level?: number;
  /** Raw AP (stage 1) or S2AP (stage 2) bits [7:6]; overrides the value derived from perms. */
  ap?: number;
  /** Stage 1 only: AP[1], unprivileged access allowed (default true, as the upstream test's tables). */
  user?: boolean;
  /** Shareability [9:8] (default 0b11, inner shareable). */
  sh?: number;
  /** Access flag (default set). */
  af?: boolean;
  /** Stage 1 AttrIndx [4:2] or stage 2 MemAttr [5:2] (default 0). */
  attr?: number;
  /** Stage 1 NS bit [5]. */
  ns?: boolean;
  xn?: boolean;
  /** Any other bits to OR in (e.g. software bit 58 as iommu-smmuv3-test sets). */
  extra?: bigint;
}

/** Table descriptor pointing at `next` (bits[1:0] = 0b11). */
export function tableDescriptor(next: bigint, extra = 0n): bigint {
  return (next & DESC.OA_MASK) | DESC.VALID | DESC.TABLE_OR_PAGE | extra;
}

/** Page (level 3) or block descriptor for `pa` with permissions for `stage`. */
export function leafDescriptor(stage: 1 | 2, pa: bigint, perms: Perms, opts: LeafOptions = {}): bigint {
  const level = opts.level ?? 3;
  let ap: number;
  if (opts.ap !== undefined) ap = opts.ap & 3;
  else if (stage === 1) {
    if (perms === 'w') throw new RangeError('stage-1 descriptors cannot express write-only');
    ap = (perms === 'r' ? 0b10 : 0b00) | ((opts.user ?? true) ? 0b01 : 0);
  } else ap = (perms.includes('r') ? 0b01 : 0) | (perms.includes('w') ? 0b10 : 0);
  let d = (pa & DESC.OA_MASK) | DESC.VALID | (level === 3 ? DESC.TABLE_OR_PAGE : 0n);
  d |= BigInt(ap) << DESC.AP_LSB;
  d |= BigInt((opts.sh ?? 3) & 3) << DESC.SH_LSB;
  if (opts.af ?? true) d |= DESC.AF;
  d |= BigInt((opts.attr ?? 0) & (stage === 1 ? 7 : 15)) << DESC.ATTR_LSB;
  if (opts.ns) d |= DESC.NS;
  if (opts.xn) d |= DESC.XN;
  return d | (opts.extra ?? 0n);
}

export interface PageTableOptions {
  stage: 1 | 2;
  granule: GranuleKiB;
  /** Input address bits: 64 − T0SZ (stage 1) or 64 − S2T0SZ (stage 2). */
  inputBits: number;
  /** Stage 2 only: S2SL0. Default: the start level stage 1 would use (no concatenation). */
  sl0?: number;
  /** Use this root instead of allocating one. */
  root?: bigint;
  /**
   * Bits ORed into every table descriptor (e.g. DESC.NSTABLE), or chosen per level of the
   * descriptor (`(level) => bits`), e.g. a Secure walk that goes Non-secure below level 1.
   */
  tableBits?: bigint | ((level: number) => bigint);
  /**
   * Where the next-level table of a level-`level` table descriptor is allocated and written
   * (default: the builder's memory and allocator). With NSTable a walk changes security space
   * (docs/secure-smmu.md "Walks"), so its lower tables live in another memory view. Table
   * addresses of the different memories must not overlap (on virt, Secure RAM is Secure-only).
   */
  tableSpace?: (level: number) => TableSpace | undefined;
  /** Defaults for every leaf. */
  leafDefaults?: LeafOptions;
}

/** A memory view and an allocator in it, for tables of one security space. */
export interface TableSpace {
  mem: GuestMemory;
  allocator: GuestAllocator;
}

/** A stage-1 or stage-2 translation table tree built by map() calls. */
export class PageTableBuilder {
  readonly pageShift: 12 | 14 | 16;
  readonly stride: number;
  readonly startLevel: number;
  /** S2SL0 matching the start level (stage 2), for the STE. */
  readonly sl0: number;
  readonly root: bigint;
  /** Descriptor address → next-level table, for table descriptors this builder wrote. */
  private readonly tables = new Map<bigint, bigint>();
  private readonly leaves = new Map<bigint, number>();
  /** Table address → the memory it lives in (when not the builder's own). */
  private readonly tableMem = new Map<bigint, GuestMemory>();
  private chain: Promise<unknown> = Promise.resolve();
  private rootZeroed = false;

  constructor(
    private readonly mem: GuestMemory,
    private readonly allocator: GuestAllocator,
    readonly options: PageTableOptions,
  ) {
    this.pageShift = PAGE_SHIFT[options.granule];
    if (this.pageShift === undefined) throw new RangeError(`granule ${options.granule} KiB is not 4, 16 or 64`);
    this.stride = this.pageShift - 3;
    if (options.inputBits < 25 || options.inputBits > 52)
      throw new RangeError(`inputBits ${options.inputBits} is outside 25..52`);
    if (options.stage === 2 && options.sl0 !== undefined) {
      this.sl0 = options.sl0;
      this.startLevel = stage2StartLevel(options.sl0, this.pageShift);
    } else {
      this.startLevel = stage1StartLevel(options.inputBits, this.pageShift);
      this.sl0 = (this.pageShift === 12 ? 2 : 3) - this.startLevel;
    }
    if (this.startLevel < 0 || this.startLevel > 3)
      throw new RangeError(`start level ${this.startLevel} is outside 0..3`);
    if (options.root !== undefined) {
      this.root = options.root;
    } else {
      const bytes = this.rootBytes;
      this.root = allocator.alloc(bytes, bytes);
    }
  }

  get pageBytes(): bigint {
    return 1n << BigInt(this.pageShift);
  }

  /** Index bits resolved at the start level (more than a stride when stage-2 tables concatenate). */
  get startIndexBits(): number {
    return Math.max(this.options.inputBits - levelShift(this.startLevel, this.pageShift), 0);
  }

  get rootBytes(): bigint {
    const b = 8n << BigInt(this.startIndexBits);
    return b > this.pageBytes ? b : this.pageBytes;
  }

  /** Index of `addr` at `level`. */
  index(addr: bigint, level: number): bigint {
    const bits = level === this.startLevel ? this.startIndexBits : this.stride;
    return (addr >> BigInt(levelShift(level, this.pageShift))) & ((1n << BigInt(bits)) - 1n);
  }

  /** Block/page size at `level`. */
  blockBytes(level: number): bigint {
    return 1n << BigInt(levelShift(level, this.pageShift));
  }

  /** Map one page (or block, with opts.level) at `ia` to `pa`. Calls are serialised. */
  map(ia: bigint, pa: bigint, perms: Perms, opts: LeafOptions = {}): Promise<bigint> {
    const run = this.chain.then(() => this.mapNow(ia, pa, perms, { ...this.options.leafDefaults, ...opts }));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Map [ia, ia + size) to [pa, …) with pages (or blocks of opts.level). */
  async mapRange(ia: bigint, pa: bigint, size: bigint, perms: Perms, opts: LeafOptions = {}): Promise<void> {
    const step = this.blockBytes(opts.level ?? 3);
    const jobs: Promise<bigint>[] = [];
    for (let off = 0n; off < size; off += step) jobs.push(this.map(ia + off, pa + off, perms, opts));
    await Promise.all(jobs);
  }

  /** Write an invalid descriptor over the leaf for `ia` (at `level`); returns its address or undefined. */
  async unmap(ia: bigint, level = 3): Promise<bigint | undefined> {
    const found = await this.chain.then(() => this.locate(ia, level, false));
    if (found === undefined) return undefined;
    const { addr, mem } = found;
    await mem.writeq(addr, 0n);
    this.leaves.delete(addr);
    return addr;
  }

  /** Address of the descriptor for `ia` at `level`, if the walk down to it exists. */
  descriptorAddress(ia: bigint, level = 3): Promise<bigint | undefined> {
    return this.chain.then(async () => (await this.locate(ia, level, false))?.addr);
  }

  private async locate(
    ia: bigint,
    leafLevel: number,
    create: boolean,
  ): Promise<{ addr: bigint; mem: GuestMemory } | undefined> {
    if (ia < 0n || ia >= 1n << BigInt(this.options.inputBits)) {
      throw new RangeError(`address 0x${ia.toString(16)} is outside the ${this.options.inputBits}-bit input range`);
    }
    if (leafLevel < this.startLevel || leafLevel > 3)
      throw new RangeError(`level ${leafLevel} is outside ${this.startLevel}..3`);
    if (!this.rootZeroed && create && this.options.root === undefined) {
      this.rootZeroed = true;
      await this.mem.memset(this.root, Number(this.rootBytes), 0);
    }
    let table = this.root;
    let mem = this.mem;
    for (let level = this.startLevel; ; level++) {
      const descAddr = table + 8n * this.index(ia, level);
      if (level === leafLevel) return { addr: descAddr, mem };
      const next = this.tables.get(descAddr);
      if (next !== undefined) {
        table = next;
        mem = this.tableMem.get(next) ?? this.mem;
        continue;
      }
      if (this.leaves.has(descAddr))
        throw new Error(`0x${ia.toString(16)}: a level-${level} block already maps this range`);
      if (!create) return undefined;
      const bytes = this.pageBytes;
      const space = this.options.tableSpace?.(level);
      const fresh = (space?.allocator ?? this.allocator).alloc(bytes, bytes);
      const bits = this.options.tableBits;
      await (space?.mem ?? this.mem).memset(fresh, Number(bytes), 0);
      await mem.writeq(descAddr, tableDescriptor(fresh, typeof bits === 'function' ? bits(level) : (bits ?? 0n)));
      this.tables.set(descAddr, fresh);
      if (space) this.tableMem.set(fresh, space.mem);
      table = fresh;
      mem = space?.mem ?? this.mem;
    }
  }

  private async mapNow(ia: bigint, pa: bigint, perms: Perms, opts: LeafOptions): Promise<bigint> {
    const level = opts.level ?? 3;
    const size = this.blockBytes(level);
    if ((ia & (size - 1n)) !== 0n || (pa & (size - 1n)) !== 0n) {
      throw new RangeError(
        `map 0x${ia.toString(16)} → 0x${pa.toString(16)}: not aligned to the level-${level} size 0x${size.toString(16)}`,
      );
    }
    const { addr: descAddr, mem } = (await this.locate(ia, level, true))!;
    if (this.tables.has(descAddr)) throw new Error(`0x${ia.toString(16)}: a table already exists at level ${level}`);
    await mem.writeq(descAddr, leafDescriptor(this.options.stage, pa, perms, opts));
    this.leaves.set(descAddr, level);
    return descAddr;
  }
}
