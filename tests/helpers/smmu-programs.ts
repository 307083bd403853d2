/**
 * Seeded random SMMUv3 programs for the differential test against real QEMU 10.2.2 (and the
 * end-to-end benchmark). A program is a list of qtest request lines that, on the `virt` machine
 * with `iommu=smmuv3` and `-device edu,dma_mask=0xffffffffffffffff` (00:01.0, StreamID 8):
 *
 *   1. quiesces the SMMU and seeds edu's 4 KiB buffer with a DMA while the SMMU is disabled,
 *   2. sets up the queues, flushes the caches (CFGI_ALL, TLBI_NSNH_ALL, SYNC),
 *   3. builds a linear or 2-level stream table, an STE (valid or not), a CD, stage-1 / stage-2 /
 *      nested page tables at 4K/16K/64K (the src/client builders, writing through a recording
 *      GuestMemory that turns every access into a qtest line),
 *   4. programs STRTAB_BASE(_CFG), CR1, CR2, IRQ_CTRL, GBPA, CR0,
 *   5. runs edu DMAs through the SMMU in both directions (clock_step each), interleaved with table
 *      edits, CFGI/TLBI/SYNC commands (and illegal ones), EVENTQ_CONS and register pokes,
 *   6. reads back the SMMU registers, the event queue memory, the DMA targets and (with the SMMU
 *      disabled again) edu's buffer.
 *
 * Each program lives in its own 8 MiB slot of guest RAM, so a batch of programs can share one
 * process (slots never overlap). Programs are split into SEGMENTS; every segment ends with
 * `readl GERROR` and the runner starts the next segment with `writel GERRORN <that value>`, which
 * acknowledges any global error (an illegal command, an event-queue abort) the segment caused.
 *
 * Inputs known to crash QEMU 10.2.2 are never generated: CD.IPS 6/7, STE.S2AA64 = 0, edu DMA outside
 * its buffer window; guest RAM 0x40000000–0x400fffff (QEMU's DTB) is never touched.
 */
import { Rng } from './differential/prng.js';
import {
  GuestAllocator,
  LinearStreamTable,
  PageTableBuilder,
  TwoLevelStreamTable,
  writeCd,
  aarch64Stage1Cd,
  writeSte,
} from '../../src/client/smmu-builder.js';
import type {
  CdFields,
  GranuleKiB,
  LeafOptions,
  Perms,
  SteFields,
  StreamTableRegisters,
} from '../../src/client/smmu-builder.js';
import { CMD, CommandQueue, queueBaseValue } from '../../src/client/smmu-queues.js';
import type { GuestMemory } from '../../src/client/guest-memory.js';
import { encodeCommand } from '../../src/smmu/command-queue.js';
import { levelShift, stage1StartLevel } from '../../src/smmu/granules.js';
import { SMMU_REG_OFFSETS } from '../../src/smmu/registers.js';

// ---- machine constants ---------------------------------------------------------------

export const SMMU_PROGRAM_ARGS: readonly string[] = [
  '-machine',
  'virt,acpi=off,gic-version=3,iommu=smmuv3',
  '-cpu',
  'max',
  '-smp',
  '1',
  '-m',
  '512',
  '-net',
  'none',
  '-device',
  'edu,dma_mask=0xffffffffffffffff',
];

export const SMMU = 0x0905_0000n;
export const EDU = 0x1000_0000n;
/** edu at 00:01.0: ECAM (highmem) config space of devfn 8. */
export const EDU_ECAM = 0x40_1000_8000n;
export const GIC_PATH = '/machine/unattached/device[1]';
export const EDU_BUF = 0x40000n;
export const EDU_BUF_SIZE = 0x1000;
/** First program slot (clear of QEMU's DTB at 0x40000000) and slot size. */
export const SLOT_START = 0x4080_0000n;
export const SLOT_SIZE = 0x80_0000n;
export const RAM_END = 0x6000_0000n;
export const MAX_SLOTS = Number((RAM_END - SLOT_START) / SLOT_SIZE);
/** Guest-physical address that decodes to nothing (between RAM and the high ECAM). */
const UNASSIGNED_PA = 0x7000_0000n;

/** SMMU register offsets (the model's layout, src/smmu/registers.ts) and page 1's EVENTQ_PROD/CONS. */
export const R = {
  ...SMMU_REG_OFFSETS,
  EVENTQ_PROD_P1: 0x10000 + SMMU_REG_OFFSETS.EVENTQ_PROD,
  EVENTQ_CONS_P1: 0x10000 + SMMU_REG_OFFSETS.EVENTQ_CONS,
} as const;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type SteIn = Partial<Mutable<SteFields>>;
type CdIn = Partial<Mutable<CdFields>>;

const hx = (v: bigint | number): string => '0x' + BigInt(v).toString(16);
const reg = (off: number): string => hx(SMMU + BigInt(off));
export const GERROR_READ = `readl ${reg(R.GERROR)}`;
/** The line the runner sends at the start of every segment after the first. */
export const gerrornAck = (gerror: bigint): string => `writel ${reg(R.GERRORN)} ${hx(gerror)}`;

/** Lines sent once per process before its first program. */
export function processHeader(): string[] {
  return [
    `irq_intercept_in ${GIC_PATH}`,
    `writel ${hx(EDU_ECAM + 0x10n)} ${hx(EDU)}`,
    `writew ${hx(EDU_ECAM + 0x4n)} 0x7`,
    `readl ${hx(EDU)}`,
    `readl ${reg(R.IDR0)}`,
    `readl ${reg(R.IDR1)}`,
    `readl ${reg(R.IDR5)}`,
  ];
}

// ---- recording guest memory ----------------------------------------------------------

/** A GuestMemory that turns every access into a qtest request line (reads answer 0 here). */
export class RecordingMemory implements GuestMemory {
  readonly lines: string[] = [];

  private rd(cmd: string, addr: bigint): Promise<bigint> {
    this.lines.push(`${cmd} ${hx(addr)}`);
    return Promise.resolve(0n);
  }
  private wr(cmd: string, addr: bigint, value: bigint): Promise<void> {
    this.lines.push(`${cmd} ${hx(addr)} ${hx(value)}`);
    return Promise.resolve();
  }
  readb(a: bigint) {
    return this.rd('readb', a);
  }
  readw(a: bigint) {
    return this.rd('readw', a);
  }
  readl(a: bigint) {
    return this.rd('readl', a);
  }
  readq(a: bigint) {
    return this.rd('readq', a);
  }
  writeb(a: bigint, v: bigint) {
    return this.wr('writeb', a, v);
  }
  writew(a: bigint, v: bigint) {
    return this.wr('writew', a, v);
  }
  writel(a: bigint, v: bigint) {
    return this.wr('writel', a, v);
  }
  writeq(a: bigint, v: bigint) {
    return this.wr('writeq', a, v);
  }
  read(addr: bigint, size: number): Promise<Uint8Array> {
    this.lines.push(`read ${hx(addr)} ${hx(size)}`);
    return Promise.resolve(new Uint8Array(size));
  }
  write(addr: bigint, data: Uint8Array): Promise<void> {
    this.lines.push(`write ${hx(addr)} ${hx(data.length)} 0x${Buffer.from(data).toString('hex')}`);
    return Promise.resolve();
  }
  memset(addr: bigint, size: number, byte: number): Promise<void> {
    this.lines.push(`memset ${hx(addr)} ${hx(size)} 0x${(byte & 0xff).toString(16).padStart(2, '0')}`);
    return Promise.resolve();
  }
}

// ---- programs ------------------------------------------------------------------------

export type StageKind = 'bypass' | 'abort' | 'invalid-ste' | 's1' | 's2' | 'nested' | 'disabled';

export interface SmmuProgram {
  index: number;
  seed: number;
  /** short description: stage, granules, stream-table format, notable faults */
  kind: string;
  twoLevel: boolean;
  /** request lines; each segment ends with GERROR_READ */
  segments: string[][];
  /** the request that reads the event queue memory back (for statistics) */
  evqRead: string;
}

/** Seed of program `index` under base seed `base`. */
export function programSeed(base: number, index: number): number {
  const mix = (x: number): number => {
    x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
    x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
    return (x ^ (x >>> 16)) >>> 0;
  };
  return mix((mix(base ^ 0x51ed5eed) + Math.imul(index + 1, 0x9e3779b9)) >>> 0);
}

/** A window of IOVA space whose output lands in this program's data area (safe to DMA at). */
interface Window {
  iova: bigint;
  /** output PA of iova (undefined: unknown/faulting/outside RAM, not read back) */
  pa: bigint | undefined;
  /** bytes from iova that stay inside the slot when the translation succeeds */
  len: number;
  note: string;
}

const TG0_CODE: Record<GranuleKiB, number> = { 4: 0, 16: 2, 64: 1 };
const S2TG_CODE: Record<GranuleKiB, number> = { 4: 0, 16: 2, 64: 1 };
const GRANULES: GranuleKiB[] = [4, 16, 64];
const SHIFT: Record<GranuleKiB, number> = { 4: 12, 16: 14, 64: 16 };

class ProgramBuilder {
  readonly mem = new RecordingMemory();
  readonly segments: string[][] = [];
  readonly notes: string[] = [];
  readonly writesToCheck: Array<{ pa: bigint; len: number }> = [];
  cmdq!: CommandQueue;
  cmdqLog2 = 4;
  evqBase = 0n;
  evqLog2 = 3;
  eduIrqPending = false;

  constructor(
    readonly rng: Rng,
    readonly slot: bigint,
  ) {}

  get lines(): string[] {
    return this.mem.lines;
  }
  push(...l: string[]): void {
    this.mem.lines.push(...l);
  }
  writel(off: number, v: bigint | number): void {
    this.push(`writel ${reg(off)} ${hx(v)}`);
  }
  writeq(off: number, v: bigint | number): void {
    this.push(`writeq ${reg(off)} ${hx(v)}`);
  }

  /** End the current segment (the runner acknowledges GERROR before the next one). */
  endSegment(): void {
    this.push(GERROR_READ);
    this.segments.push(this.mem.lines.splice(0));
  }

  /** edu DMA (dir 0: RAM→buffer, 1: buffer→RAM), completed with clock_step. */
  dma(dir: 0 | 1, bus: bigint, bufOff: number, len: number, irq = false): void {
    if (bufOff < 0 || bufOff + len > EDU_BUF_SIZE)
      throw new Error(`edu DMA outside the buffer window: ${bufOff}+${len}`);
    const dev = EDU_BUF + BigInt(bufOff);
    const [src, dst] = dir === 0 ? [bus, dev] : [dev, bus];
    this.push(
      `writeq ${hx(EDU + 0x80n)} ${hx(src)}`,
      `writeq ${hx(EDU + 0x88n)} ${hx(dst)}`,
      `writeq ${hx(EDU + 0x90n)} ${hx(len)}`,
      `writeq ${hx(EDU + 0x98n)} ${hx(1 | (dir << 1) | (irq ? 4 : 0))}`,
      'clock_step',
    );
    if (irq) this.eduIrqPending = true;
  }

  ackEduIrq(): void {
    if (!this.eduIrqPending) return;
    this.push(`readl ${hx(EDU + 0x24n)}`, `writel ${hx(EDU + 0x64n)} 0x100`);
    this.eduIrqPending = false;
  }

  randomBytes(n: number): Uint8Array {
    return this.rng.bytes(n);
  }
}

const DMA_LENGTHS: ReadonlyArray<readonly [number, number]> = [
  [10, 4],
  [8, 8],
  [6, 16],
  [4, 64],
  [3, 256],
  [1, 4096],
  [6, 1],
  [5, 3],
  [5, 5],
  [4, 7],
  [4, 13],
  [3, 31],
  [2, 100],
  [1, 1000],
  [1, 2047],
];

/** Generate program `index` (seed `seed`) in slot `slotIndex`. */
export async function generateSmmuProgram(seed: number, index: number, slotIndex: number): Promise<SmmuProgram> {
  if (slotIndex < 0 || slotIndex >= MAX_SLOTS) throw new RangeError(`slot ${slotIndex} outside 0..${MAX_SLOTS - 1}`);
  const rng = new Rng(seed);
  const slot = SLOT_START + BigInt(slotIndex) * SLOT_SIZE;
  const b = new ProgramBuilder(rng, slot);
  const mem = b.mem;
  // slot layout: [0, 0x10000) queues + scratch, [0x10000, 0x400000) structures (allocator),
  // [0x400000, 0x7c0000) data pages, [0x7c0000, 0x7c1000) buffer seed, [0x7d0000, 0x7d1000) buffer dump
  const cmdqBase = slot;
  const evqBase = slot + 0x4000n;
  const alloc = new GuestAllocator(slot + 0x10000n, slot + 0x40_0000n);
  const dataAlloc = new GuestAllocator(slot + 0x40_0000n, slot + 0x7c_0000n);
  const seedArea = slot + 0x7c_0000n;
  const dumpArea = slot + 0x7d_0000n;

  // 1. quiesce, seed edu's buffer with the SMMU disabled (bypass)
  b.writel(R.CR0, 0);
  b.writel(R.IRQ_CTRL, 0);
  b.writel(R.GBPA, 0x8000_0000);
  await mem.write(seedArea, b.randomBytes(EDU_BUF_SIZE));
  b.dma(0, seedArea, 0, EDU_BUF_SIZE);

  // 2. queues, cache flush
  b.cmdqLog2 = rng.range(3, 6);
  b.evqLog2 = rng.weighted([
    [1, 1],
    [2, 2],
    [6, 3],
    [4, 5],
  ]);
  b.evqBase = evqBase;
  b.writeq(R.CMDQ_BASE, queueBaseValue(cmdqBase, b.cmdqLog2));
  b.writel(R.CMDQ_PROD, 0);
  b.writel(R.CMDQ_CONS, 0);
  if (rng.chance(0.5)) b.writeq(R.EVENTQ_BASE, queueBaseValue(evqBase, b.evqLog2));
  else {
    b.writel(R.EVENTQ_BASE, Number(queueBaseValue(evqBase, b.evqLog2) & 0xffff_ffffn));
    b.writel(R.EVENTQ_BASE + 4, 0);
  }
  const p1 = rng.chance(0.5);
  b.writel(p1 ? R.EVENTQ_PROD_P1 : R.EVENTQ_PROD, 0);
  b.writel(p1 ? R.EVENTQ_CONS_P1 : R.EVENTQ_CONS, 0);
  await mem.memset(evqBase, 32 << b.evqLog2, 0);
  b.cmdq = new CommandQueue(mem, SMMU, { base: cmdqBase, log2size: b.cmdqLog2 });
  b.writel(R.CR0, 0x8);
  await b.cmdq.submit(CMD.CMD_CFGI_ALL(), CMD.CMD_TLBI_NSNH_ALL(), CMD.CMD_SYNC(0));

  // 3. stream table
  const twoLevel = rng.chance(0.25);
  let strtab: StreamTableRegisters;
  let steAt: (sid: number) => Promise<bigint>;
  let l2Quirk = '';
  if (!twoLevel) {
    const log2 = rng.weighted([
      [1, 3],
      [1, 4],
      [8, 5],
      [3, 6],
      [2, 8],
    ]);
    const base = alloc.alloc(64 << Math.max(log2, 0), Math.max(64 << log2, 64));
    const t = new LinearStreamTable(mem, base, log2);
    strtab = t;
    steAt = async (sid) => (sid < 2 ** log2 ? t.steAddress(sid) : base + BigInt(64 * sid));
    b.notes.push(`linear${log2}`);
  } else {
    const split = rng.pick([4, 6, 7, 8]);
    const log2 = split + rng.range(0, 3);
    const t = TwoLevelStreamTable.create(mem, alloc, log2, split);
    await mem.memset(t.l1Base, Math.max(8 * 2 ** (log2 - split), 64), 0);
    strtab = t;
    // a SID beyond the table has no STE to write: park it in a scratch block of this slot
    const parking = alloc.alloc(64, 64);
    steAt = (sid) => (sid < 2 ** log2 ? t.steAddress(sid) : Promise.resolve(parking));
    b.notes.push(`2lvl${log2}/${split}`);
    if (rng.chance(0.2)) l2Quirk = rng.pick(['span0', 'span-small', 'l2-outside']);
  }

  // 4. translation structures
  const kind: StageKind = rng.weighted([
    [2, 'bypass'],
    [1, 'abort'],
    [1, 'invalid-ste'],
    [10, 's1'],
    [7, 's2'],
    [7, 'nested'],
    [1, 'disabled'],
  ]);
  b.notes.push(kind);
  const windows: Window[] = [];
  const steFields: SteIn = { V: 1 };
  const vmid = rng.pick([0, 1, 0x1234]);
  const asid = rng.pick([0, 1, 7, 0xbeef]);
  let s1: PageTableBuilder | undefined;
  let s2: PageTableBuilder | undefined;
  let cdAddr = 0n;
  let cdFields: CdIn = {};

  const pickLeaf = (stage: 1 | 2): { perms: Perms; opts: LeafOptions; note: string } => {
    const r = rng.int(10);
    const opts: LeafOptions = {};
    let perms: Perms = 'rw';
    let note = 'rw';
    if (stage === 1) {
      if (r < 2) {
        perms = 'r';
        note = 'ro';
      } else if (r === 2) {
        opts.ap = rng.int(4);
        note = `ap${opts.ap}`;
      }
    } else {
      if (r < 2) {
        perms = 'r';
        note = 'ro';
      } else if (r === 2) {
        perms = 'w';
        note = 'wo';
      } else if (r === 3) {
        opts.ap = 0;
        note = 'none';
      }
    }
    if (rng.chance(0.12)) {
      opts.af = false;
      note += '/af0';
    }
    if (rng.chance(0.1)) {
      opts.attr = rng.int(8);
      opts.sh = rng.int(4);
    }
    if (rng.chance(0.05)) opts.xn = true;
    if (rng.chance(0.15)) {
      const [bit, name] = rng.pick([
        [52n, 'cont'],
        [51n, 'dbm'],
        [11n, 'ng'],
        [53n, 'pxn'],
        [55n, 'sw55'],
        [58n, 'sw58'],
        [48n, 'oa48'],
        [50n, 'oa50'],
        [5n, 'ns'],
      ] as const);
      opts.extra = 1n << bit;
      note += `/${name}`;
    }
    return { perms, opts, note };
  };

  /** A data page (two granules, so DMAs may run past the first) from the data area. */
  const dataPage = (g: GranuleKiB): bigint => dataAlloc.alloc(2n << BigInt(SHIFT[g]), 1n << BigInt(SHIFT[g]));

  /** Map `count` random IOVAs of `pt` onto data pages (pages or blocks) and record windows. */
  const mapData = async (
    pt: PageTableBuilder,
    stage: 1 | 2,
    g: GranuleKiB,
    count: number,
    iaBits: number,
    fixed?: bigint[],
  ): Promise<Window[]> => {
    const out: Window[] = [];
    const page = 1n << BigInt(SHIFT[g]);
    for (let i = 0; i < count; i++) {
      const pa = dataPage(g);
      const leaf = pickLeaf(stage);
      let level = 3;
      // a block when the level exists below the start level (and it is not a 64K level-1 block)
      if (rng.chance(0.25)) {
        const lv = 2;
        if (lv >= pt.startLevel) level = lv;
        if (g === 4 && pt.startLevel <= 1 && rng.chance(0.3)) level = 1;
      }
      const blk = pt.blockBytes(level);
      const paBase = pa & ~(blk - 1n);
      let ia: bigint;
      if (fixed?.[i] !== undefined) ia = fixed[i]!;
      else {
        const maxIa = (1n << BigInt(iaBits)) - 1n;
        ia = rng.bigRange(0n, maxIa) & ~(blk - 1n);
      }
      try {
        await pt.map(ia, paBase, leaf.perms, { ...leaf.opts, level });
      } catch {
        continue; // collided with an earlier table/block: skip this one
      }
      const iova = ia + (pa - paBase);
      let len = Number(2n * page);
      let outPa: bigint | undefined = pa;
      if (level === 3) {
        len = Number(page); // the next page is not mapped (unless a later mapping lands there)
      }
      // sometimes point the leaf outside RAM (external abort on the DMA itself) or beyond the OAS
      if (level === 3 && rng.chance(0.06)) {
        const weird = rng.chance(0.5) ? UNASSIGNED_PA : 0x1000_0000_0000n;
        await pt.map(ia, weird, leaf.perms, { ...leaf.opts, level });
        outPa = undefined;
        leaf.note += weird === UNASSIGNED_PA ? '/unassigned' : '/oa-big';
      }
      out.push({ iova, pa: outPa, len, note: `s${stage}L${level}:${leaf.note}` });
    }
    return out;
  };

  const s1Setup = async (g: GranuleKiB, inputBits: number): Promise<PageTableBuilder> => {
    let tableBits = 0n;
    if (rng.chance(0.15)) {
      const [bits, name] = rng.pick([
        [1n << 61n, 'aptable1'],
        [2n << 61n, 'aptable2'],
        [3n << 61n, 'aptable3'],
        [1n << 63n, 'nstable'],
        [1n << 60n, 'xntable'],
        [1n << 59n, 'pxntable'],
      ] as const);
      tableBits = bits;
      b.notes.push(name);
    }
    return new PageTableBuilder(mem, alloc, { stage: 1, granule: g, inputBits, tableBits });
  };

  const s2Setup = (g: GranuleKiB, inputBits: number): PageTableBuilder => {
    // sometimes start one level lower with concatenated tables (≤ 16)
    const shift = SHIFT[g];
    const start = stage1StartLevel(inputBits, shift);
    const sl0 = (shift === 12 ? 2 : 3) - start;
    if (rng.chance(0.25) && start < 3 && sl0 >= 1 && inputBits - levelShift(start + 1, shift) - (shift - 3) <= 4) {
      return new PageTableBuilder(mem, alloc, { stage: 2, granule: g, inputBits, sl0: sl0 - 1 });
    }
    return new PageTableBuilder(mem, alloc, { stage: 2, granule: g, inputBits });
  };

  const s2SteFields = (pt: PageTableBuilder, g: GranuleKiB, inputBits: number): SteIn => ({
    S2VMID: vmid,
    S2T0SZ: 64 - inputBits,
    S2SL0: pt.sl0,
    S2TG: S2TG_CODE[g],
    S2PS: rng.weighted([
      [1, 0],
      [1, 2],
      [6, 5],
      [1, 6],
      [1, 7],
    ]),
    S2AA64: 1,
    S2AFFD: rng.chance(0.2) ? 1 : 0,
    S2R: rng.chance(0.8) ? 1 : 0,
    S2IR0: rng.int(4),
    S2OR0: rng.int(4),
    S2SH0: rng.int(4),
    S2TTB: pt.root,
  });

  const cdSetup = (g: GranuleKiB, inputBits: number, ttb0: bigint): CdIn => ({
    V: 1,
    T0SZ: 64 - inputBits,
    TG0: TG0_CODE[g],
    EPD0: 0,
    T1SZ: 16,
    TG1: 2,
    EPD1: 1,
    IPS: rng.weighted([
      [1, 0],
      [1, 1],
      [1, 2],
      [1, 3],
      [1, 4],
      [6, 5],
    ]),
    AFFD: rng.chance(0.2) ? 1 : 0,
    TBI: rng.chance(0.15) ? rng.int(4) : 0,
    AA64: 1,
    R: rng.chance(0.85) ? 1 : 0,
    A: 1,
    ASID: asid,
    TTB0: ttb0,
    IR0: rng.int(4),
    OR0: rng.int(4),
    SH0: rng.int(4),
    MAIR0: rng.u32(),
    WXN: rng.chance(0.1) ? 1 : 0,
  });

  /** Invalid CD variants (none of them crash QEMU 10.2.2: IPS 6/7 is excluded). */
  const breakCd = (cd: CdIn): string => {
    const v = rng.pick([
      'v0',
      'aa64',
      'a0',
      's',
      'ha',
      'hd',
      't0sz-small',
      't0sz-big',
      'tg0-3',
      'endi',
      'epd0',
      'ttb-big',
      'had0',
      'tg1-0',
    ]);
    switch (v) {
      case 'v0':
        cd.V = 0;
        break;
      case 'aa64':
        cd.AA64 = 0;
        break;
      case 'a0':
        cd.A = 0;
        break;
      case 's':
        cd.S = 1;
        break;
      case 'ha':
        cd.HA = 1;
        break;
      case 'hd':
        cd.HD = 1;
        break;
      case 't0sz-small':
        cd.T0SZ = rng.pick([0, 8, 15]);
        break;
      case 't0sz-big':
        cd.T0SZ = rng.pick([40, 48, 63]);
        break;
      case 'tg0-3':
        cd.TG0 = 3;
        break;
      case 'endi':
        cd.ENDI = 1;
        break;
      case 'epd0':
        cd.EPD0 = 1;
        break;
      case 'ttb-big':
        cd.TTB0 = 0x1000_0000_0000n;
        break;
      case 'had0':
        cd.HAD0 = 1;
        break;
      case 'tg1-0':
        cd.EPD1 = 0;
        cd.TG1 = 0;
        break;
    }
    return `cd-${v}`;
  };

  /** Invalid STE variants (S2AA64 = 0 is excluded: it aborts QEMU). */
  const breakSte = (ste: SteIn, hasS1: boolean, hasS2: boolean): string => {
    const opts: string[] = ['s1fmt', 'reserved-config', 'strw', 'eats'];
    if (hasS1) opts.push('s1cdmax', 'ctx-outside', 's1stalld');
    if (hasS2)
      opts.push(
        's2tg3',
        's2sl0-3',
        's2t0sz-small',
        's2t0sz-big',
        's2s',
        's2endi',
        's2ttb-big',
        's2ps0-ttb',
        's2ha',
        's2hd',
        's2ptw',
      );
    const v = rng.pick(opts);
    switch (v) {
      case 's1fmt':
        ste.S1Fmt = rng.range(1, 3);
        break;
      case 'reserved-config':
        ste.Config = rng.range(1, 3);
        break;
      case 'strw':
        ste.STRW = rng.range(1, 3);
        break;
      case 'eats':
        ste.EATS = rng.range(1, 3);
        break;
      case 's1cdmax':
        ste.S1CDMax = rng.range(1, 5);
        break;
      case 'ctx-outside':
        ste.S1ContextPtr = UNASSIGNED_PA;
        break;
      case 's1stalld':
        ste.S1STALLD = 1;
        break;
      case 's2tg3':
        ste.S2TG = 3;
        break;
      case 's2sl0-3':
        ste.S2SL0 = 3;
        break;
      case 's2t0sz-small':
        ste.S2T0SZ = rng.pick([0, 5, 15]);
        break;
      case 's2t0sz-big':
        ste.S2T0SZ = rng.pick([40, 44, 63]);
        break;
      case 's2s':
        ste.S2S = 1;
        break;
      case 's2endi':
        ste.S2ENDI = 1;
        break;
      case 's2ttb-big':
        ste.S2TTB = 0x1000_0000_0000n;
        break;
      case 's2ps0-ttb':
        ste.S2PS = 0;
        ste.S2TTB = 0x1_0000_0000n;
        break;
      case 's2ha':
        ste.S2HA = 1;
        break;
      case 's2hd':
        ste.S2HD = 1;
        break;
      case 's2ptw':
        ste.S2PTW = 1;
        break;
    }
    return `ste-${v}`;
  };

  const g1 = rng.pick(GRANULES);
  const g2 = rng.pick(GRANULES);
  if (kind === 'bypass') {
    steFields.Config = 4;
    for (let i = 0; i < 2; i++) {
      const pa = dataPage(4);
      windows.push({ iova: pa, pa, len: 8192, note: 'bypass' });
    }
  } else if (kind === 'abort') {
    steFields.Config = 0;
  } else if (kind === 'invalid-ste') {
    steFields.V = 0;
    steFields.Config = rng.pick([4, 5, 6]);
  } else if (kind === 'disabled') {
    steFields.Config = 4;
    for (let i = 0; i < 2; i++) {
      const pa = dataPage(4);
      windows.push({ iova: pa, pa, len: 8192, note: 'disabled' });
    }
  } else if (kind === 's1') {
    const inputBits = rng.weighted([
      [3, 48],
      [2, 39],
      [1, 42],
      [1, 36],
      [1, 32],
      [1, 25 + rng.int(24)],
    ]);
    s1 = await s1Setup(g1, inputBits);
    cdAddr = alloc.alloc(64, 64);
    cdFields = cdSetup(g1, inputBits, s1.root);
    if (cdFields.IPS === 0 && rng.chance(0.5)) cdFields.IPS = 5;
    steFields.Config = 5;
    steFields.S1ContextPtr = cdAddr;
    steFields.S1CIR = rng.int(4);
    steFields.S1COR = rng.int(4);
    steFields.S1CSH = rng.int(4);
    if (rng.chance(0.3)) {
      steFields.S2VMID = vmid;
    }
    windows.push(...(await mapData(s1, 1, g1, rng.range(1, 4), inputBits)));
    b.notes.push(`g${g1}/ia${inputBits}`);
    if (rng.chance(0.25)) {
      // TTB1: the upper VA range (sign-extended IOVAs), its own granule and size
      const gt1 = rng.pick(GRANULES);
      const bits1 = rng.pick([39, 42, 48]);
      const tt1 = await s1Setup(gt1, bits1);
      cdFields.EPD1 = 0;
      cdFields.T1SZ = 64 - bits1;
      cdFields.TG1 = { 4: 2, 16: 1, 64: 3 }[gt1];
      cdFields.TTB1 = tt1.root;
      const hi = ((1n << 64n) - 1n) & ~((1n << BigInt(bits1)) - 1n);
      for (const w of await mapData(tt1, 1, gt1, rng.range(1, 2), bits1))
        windows.push({ ...w, iova: w.iova | hi, note: 'tt1 ' + w.note });
      if (rng.chance(0.2)) {
        cdFields.EPD1 = 1;
        b.notes.push('tt1-epd1');
      }
      b.notes.push(`tt1:g${gt1}/ia${bits1}`);
    }
  } else if (kind === 's2') {
    const inputBits = rng.weighted([
      [3, 40],
      [2, 36],
      [2, 33],
      [2, 42],
      [2, 39],
      [1, 48],
      [1, 32],
    ]);
    s2 = s2Setup(g2, inputBits);
    Object.assign(steFields, { Config: 6 }, s2SteFields(s2, g2, inputBits));
    windows.push(...(await mapData(s2, 2, g2, rng.range(1, 4), inputBits)));
    b.notes.push(`g${g2}/ia${inputBits}/sl0=${s2.sl0}`);
  } else {
    // nested: stage 2 identity-maps this slot's structures (and data), and maps a high IPA range
    const s2Bits = rng.weighted([
      [3, 40],
      [2, 36],
      [1, 42],
      [1, 48],
    ]);
    s2 = s2Setup(g2, s2Bits);
    Object.assign(steFields, { Config: 7 }, s2SteFields(s2, g2, s2Bits));
    if (steFields.S2PS! < 2) steFields.S2PS = 5; // the high IPAs need ≥ 40-bit PS
    const s1Bits = rng.weighted([
      [3, 48],
      [2, 39],
      [1, 36],
    ]);
    s1 = await s1Setup(g1, s1Bits);
    cdAddr = alloc.alloc(64, 64);
    cdFields = cdSetup(g1, s1Bits, s1.root);
    if ((cdFields.IPS ?? 0) < 2) cdFields.IPS = 5;
    steFields.S1ContextPtr = cdAddr;
    b.notes.push(`g${g1}/${g2} ia${s1Bits}/${s2Bits} sl0=${s2.sl0}`);
    // data pages are allocated now so that the identity map below covers them too
    const nData = rng.range(1, 3);
    const page1 = 1n << BigInt(SHIFT[g1]);
    const dataPas: bigint[] = [];
    for (let i = 0; i < nData; i++) dataPas.push(dataAlloc.alloc(2n * (1n << 16n), 1n << 16n));
    // identity map of [slot, slot + SLOT_SIZE) at stage 2: level-2 blocks (pages for holes)
    const hole = rng.chance(0.15) ? rng.pick(['cd', 'tt', 'data']) : '';
    const blk = s2.blockBytes(Math.max(2, s2.startLevel));
    const idLevel = Math.max(2, s2.startLevel);
    const idPerms: Perms = rng.chance(0.1) ? 'r' : 'rw';
    for (let a = slot & ~(blk - 1n); a < slot + SLOT_SIZE; a += blk) {
      await s2.map(a, a, idPerms, { level: idLevel });
    }
    if (hole) b.notes.push(`s2hole-${hole}`);
    // S1: VA → IPA (identity IPA of a data page, or a high IPA that S2 maps with its own perms)
    const hiIpaBase = 0x80_0000_0000n;
    for (let i = 0; i < nData; i++) {
      const pa = dataPas[i]!;
      const useHigh = s2Bits > 40 || (s2Bits === 40 && rng.chance(0.6));
      let ipa = pa;
      let note = 'id';
      if (useHigh && s2Bits >= 40) {
        const hi = s2Bits > 40 ? hiIpaBase : 0x40_0000_0000n;
        ipa = hi + BigInt(i) * 0x20_0000n;
        const leaf = pickLeaf(2);
        try {
          await s2.map(ipa, pa & ~((1n << BigInt(SHIFT[g2])) - 1n), leaf.perms, leaf.opts);
          ipa += pa & ((1n << BigInt(SHIFT[g2])) - 1n);
          note = 'hi:' + leaf.note;
        } catch {
          ipa = pa;
        }
      }
      const leaf = pickLeaf(1);
      const va = rng.bigRange(0n, (1n << BigInt(s1Bits)) - 1n) & ~(page1 - 1n);
      const ipaPage = ipa & ~(page1 - 1n);
      try {
        await s1.map(va, ipaPage, leaf.perms, leaf.opts);
      } catch {
        continue;
      }
      windows.push({
        iova: va + (ipa - ipaPage),
        pa,
        len: Math.min(Number(page1 - (ipa - ipaPage)), 1 << SHIFT[g2]),
        note: `nested s1:${leaf.note} s2:${note}`,
      });
    }
    // holes: remap one identity block as a level-3 table with one page missing is too costly at
    // 4K; instead point the CD or the S1 root at an IPA stage 2 does not map
    if (hole === 'cd') steFields.S1ContextPtr = 0x7_0000_0000n & ((1n << BigInt(s2Bits)) - 1n);
    if (hole === 'tt') cdFields.TTB0 = 0x7_0000_0000n & ((1n << BigInt(s2Bits)) - 1n);
    if (hole === 'data' && windows.length) windows[0]!.iova = windows[0]!.iova ^ (1n << BigInt(s1Bits - 1));
  }

  // STE/CD corruption
  if ((kind === 's1' || kind === 'nested') && rng.chance(0.15)) b.notes.push(breakCd(cdFields));
  if ((kind === 's1' || kind === 's2' || kind === 'nested') && rng.chance(0.12)) {
    b.notes.push(breakSte(steFields, kind !== 's2', kind !== 's1'));
  }
  const sid = rng.chance(0.06) ? rng.pick([7, 9, 16]) : 8;
  if (sid !== 8) b.notes.push(`ste-at-sid${sid}`);
  if (cdAddr) await writeCd(mem, cdAddr, cdFields);
  const steAddr = await steAt(sid);
  await writeSte(mem, steAddr, steFields);
  if (twoLevel && l2Quirk) {
    const t = strtab as TwoLevelStreamTable;
    const l2 = await t.steAddress(8);
    const desc =
      l2Quirk === 'span0'
        ? l2 & ~0x1fn
        : l2Quirk === 'span-small'
          ? (l2 & ~0x1fn) | 1n
          : UNASSIGNED_PA | BigInt(t.split + 1);
    await mem.writeq(t.l1Base + 8n * BigInt(Math.floor(8 / 2 ** t.split)), desc);
    b.notes.push(`l1-${l2Quirk}`);
  }
  // unmapped IOVA windows (translation faults)
  // (above every device and the PCIe windows, so bypass/disabled DMAs there hit nothing)
  const unmapped: Window[] = [
    { iova: rng.bigRange(0x100_0000_0000n, 0x7fff_ffff_f000n) & ~0xfffn, pa: undefined, len: 64, note: 'unmapped' },
  ];

  // 5. registers
  const cr1 = rng.chance(0.7) ? 0xd75 : rng.int(0x1000);
  const cr2 = rng.int(8);
  const irqCtrl = rng.weighted([
    [6, 5],
    [1, 0],
    [1, 1],
    [1, 4],
    [1, 7],
  ]);
  const cr0 =
    kind === 'disabled'
      ? rng.pick([0x8, 0xc])
      : rng.weighted([
          [10, 0xd],
          [1, 0x9],
          [1, 0xf],
        ]);
  b.writeq(R.STRTAB_BASE, strtab.baseValue);
  b.writel(R.STRTAB_BASE_CFG, strtab.cfgValue);
  b.writel(R.CR1, cr1);
  b.writel(R.CR2, cr2);
  b.writel(R.IRQ_CTRL, irqCtrl);
  if (kind === 'disabled' && rng.chance(0.5)) {
    b.writel(R.GBPA, 0x8010_0000);
    b.notes.push('gbpa-abort');
  } else if (rng.chance(0.2)) b.writel(R.GBPA, rng.pick([0x0010_0000, 0x8000_1000, 0x0000_0000]));
  b.writel(R.CR0, cr0);
  if (rng.chance(0.3)) await b.cmdq.submit(CMD.CMD_PREFETCH_CONFIG(8), CMD.CMD_SYNC(rng.int(3)));
  b.endSegment();

  // 6. DMAs, edits, commands
  const allWindows = [...windows, ...unmapped];
  const nOps = rng.range(3, 9);
  for (let op = 0; op < nOps; op++) {
    const what = rng.weighted([
      [8, 'dma'],
      [2, 'edit'],
      [2, 'cmd'],
      [1, 'illegal'],
      [1, 'evq-cons'],
      [1, 'reg'],
    ] as const);
    if (what === 'dma') {
      const w = rng.chance(0.85) && windows.length ? rng.pick(windows) : rng.pick(allWindows);
      const dir: 0 | 1 = rng.chance(0.5) ? 0 : 1;
      let len = rng.weighted(DMA_LENGTHS);
      if (w.pa === undefined && len > 64) len = rng.pick([1, 4, 5, 8, 16, 33]);
      len = Math.min(len, EDU_BUF_SIZE);
      const span = Math.max(0, Math.min(w.len, 0x20000) - len);
      const off = rng.chance(0.3) ? 0 : rng.int(span + 1);
      const overrun = rng.chance(0.08) && w.pa !== undefined; // run past the window end
      const iovaOff = overrun ? Math.max(0, w.len - Math.min(len, 8) + 0) : off;
      const bufOff = rng.int(EDU_BUF_SIZE - len + 1);
      if (overrun && iovaOff + len > w.len + 65536) continue;
      let iova = w.iova + BigInt(iovaOff);
      if ((kind === 's1' || kind === 'nested') && rng.chance(0.1))
        iova = (iova & ((1n << 56n) - 1n)) | (BigInt(rng.int(256)) << 56n);
      const irq = rng.chance(0.2);
      if (dir === 0 && w.pa !== undefined && !overrun) {
        await mem.write(w.pa + BigInt(iovaOff), b.randomBytes(len));
      }
      b.dma(dir, iova, bufOff, len, irq);
      if (dir === 1 && w.pa !== undefined && !overrun) b.writesToCheck.push({ pa: w.pa + BigInt(iovaOff), len });
      if (irq && rng.chance(0.7)) b.ackEduIrq();
    } else if (what === 'edit') {
      // remap or unmap a leaf, or rewrite the STE
      const r = rng.int(4);
      if (r === 3 && (s1 || s2) && windows.length) {
        // overwrite a table or leaf descriptor on a window's walk (never pointing into RAM)
        const w = rng.pick(windows);
        const pt = rng.chance(0.5) ? (s1 ?? s2)! : (s2 ?? s1)!;
        const level = rng.range(pt.startLevel, 3);
        const mask = (1n << BigInt(pt.options.inputBits)) - 1n;
        const at = await pt.descriptorAddress(w.iova & mask, level).catch(() => undefined);
        if (at !== undefined) {
          const [v, name] = rng.pick([
            [0n, 'zero'],
            [UNASSIGNED_PA | 3n, 'eabt'],
            [UNASSIGNED_PA | 1n, 'block-out'],
            [2n, 'type2'],
            [UNASSIGNED_PA | 3n | (1n << 10n), 'page-out'],
          ] as const);
          await mem.writeq(at, v);
          b.notes.push(`desc-L${level}-${name}`);
          for (const x of windows) x.pa = undefined;
        }
      } else if (r === 0 && (s1 || s2) && windows.length) {
        const w = rng.pick(windows);
        const pt = (s1 ?? s2)!;
        const g = (s1 ? g1 : g2) as GranuleKiB;
        const page = 1n << BigInt(SHIFT[g]);
        const ia = w.iova & ~(page - 1n);
        if (rng.chance(0.5)) {
          await pt.unmap(ia).catch(() => undefined);
          b.notes.push('unmap');
        } else if (w.pa !== undefined && s1 && kind === 's1') {
          const np = dataPage(g);
          await pt.map(ia, np, 'rw').catch(() => undefined);
          // the window's PA is now ambiguous (stale TLB or not): stop reading it back precisely
          b.notes.push('remap');
          w.pa = undefined;
        }
      } else if (r === 1) {
        // never to bypass: the IOVAs would then be used as PAs anywhere in the address map
        const newCfg = rng.pick([0, steFields.Config ?? 0]);
        const v = rng.chance(0.2) ? 0 : (steFields.V ?? 1);
        await writeSte(mem, steAddr, { ...steFields, Config: newCfg, V: v });
        b.notes.push(`ste->${newCfg}${v ? '' : '/v0'}`);
      } else if (cdAddr) {
        await writeCd(mem, cdAddr, { ...cdFields, ASID: (asid + 1) & 0xffff, AFFD: 1 });
        b.notes.push('cd-asid');
      }
    } else if (what === 'cmd') {
      const w = windows.length ? rng.pick(windows) : unmapped[0]!;
      const cmds: Uint8Array[] = [];
      const n = rng.range(1, 3);
      for (let i = 0; i < n; i++) {
        const c = rng.int(14);
        const addr = w.iova & ~0xfffn;
        const range = {
          addr,
          leaf: rng.chance(0.5),
          tg: rng.int(4),
          ttl: rng.int(4),
          num: rng.chance(0.5) ? 0 : rng.int(32),
          scale: rng.chance(0.7) ? 0 : rng.int(8),
        };
        switch (c) {
          case 0:
            cmds.push(CMD.CMD_CFGI_STE(rng.pick([8, 8, 9, 0x10008])));
            break;
          case 1:
            cmds.push(CMD.CMD_CFGI_STE_RANGE(rng.pick([0, 8, 16]), rng.int(32)));
            break;
          case 2:
            cmds.push(CMD.CMD_CFGI_ALL());
            break;
          case 3:
            cmds.push(CMD.CMD_CFGI_CD(rng.pick([8, 9])));
            break;
          case 4:
            cmds.push(CMD.CMD_CFGI_CD_ALL(rng.pick([8, 9])));
            break;
          case 5:
            cmds.push(CMD.CMD_TLBI_NH_ALL(rng.pick([0, vmid])));
            break;
          case 6:
            cmds.push(CMD.CMD_TLBI_NH_ASID(rng.pick([asid, asid + 1]), rng.pick([0, vmid])));
            break;
          case 7:
            cmds.push(CMD.CMD_TLBI_NH_VA(rng.pick([asid, asid, 0]), range, rng.pick([0, vmid])));
            break;
          case 8:
            cmds.push(CMD.CMD_TLBI_NH_VAA(range, rng.pick([0, vmid])));
            break;
          case 9:
            cmds.push(CMD.CMD_TLBI_S12_VMALL(rng.pick([vmid, vmid + 1])));
            break;
          case 10:
            cmds.push(CMD.CMD_TLBI_S2_IPA(rng.pick([vmid, vmid + 1]), range));
            break;
          case 11:
            cmds.push(CMD.CMD_TLBI_NSNH_ALL());
            break;
          case 12:
            cmds.push(
              encodeCommand({
                Opcode: rng.pick([0x20, 0x21, 0x22, 0x24, 0x25, 0x26, 0x27, 0x40, 0x41, 0x44, 0x45, 0x02]),
              }),
            );
            break;
          default:
            cmds.push(CMD.CMD_SYNC(rng.int(4)));
        }
      }
      if (rng.chance(0.6)) cmds.push(CMD.CMD_SYNC(rng.int(3)));
      await b.cmdq.submit(...cmds);
      b.push(`readl ${reg(R.CMDQ_CONS)}`);
    } else if (what === 'illegal') {
      const before = b.cmdq.prod;
      const bad = encodeCommand({ Opcode: rng.pick([0x00, 0x07, 0x14, 0x18, 0x31, 0x47, 0x7f, 0xff]) });
      const good = rng.chance(0.5) ? [CMD.CMD_SYNC(1)] : [];
      await b.cmdq.submit(...good, bad, CMD.CMD_SYNC(1));
      b.push(`readl ${reg(R.CMDQ_CONS)}`);
      // replace the bad entry by a CMD_SYNC so the queue resumes after the GERRORN ack
      const idx = (before + good.length) & ((1 << b.cmdqLog2) - 1);
      await mem.write(cmdqBase + BigInt(16 * idx), CMD.CMD_SYNC(rng.int(2)));
      b.endSegment();
      b.push(`readl ${reg(R.CMDQ_CONS)}`);
      b.notes.push('illegal-cmd');
    } else if (what === 'evq-cons') {
      const v = rng.chance(0.7) ? rng.int(2 << b.evqLog2) : rng.u32();
      b.writel(rng.chance(0.5) ? R.EVENTQ_CONS : R.EVENTQ_CONS_P1, v);
    } else {
      const r = rng.int(4);
      if (r === 0) b.writel(R.IRQ_CTRL, rng.pick([0, 1, 4, 5, 7]));
      else if (r === 1) {
        b.writel(R.CR0, cr0 & ~1);
        b.writel(R.CR0, cr0);
      } else if (r === 2) b.writel(R.CR2, rng.int(8));
      else b.push(`readl ${reg(R.EVENTQ_PROD)}`, `readl ${reg(R.STATUSR)}`);
    }
  }
  b.ackEduIrq();

  // 7. read back
  for (const off of [
    R.CR0,
    R.CR0ACK,
    R.CR1,
    R.CR2,
    R.STATUSR,
    R.GBPA,
    R.IRQ_CTRL,
    R.IRQ_CTRLACK,
    R.GERROR,
    R.GERRORN,
    R.STRTAB_BASE,
    R.STRTAB_BASE + 4,
    R.STRTAB_BASE_CFG,
    R.CMDQ_BASE,
    R.CMDQ_PROD,
    R.CMDQ_CONS,
    R.EVENTQ_BASE,
    R.EVENTQ_PROD,
    R.EVENTQ_CONS,
    R.EVENTQ_PROD_P1,
    R.EVENTQ_CONS_P1,
  ]) {
    b.push(`readl ${reg(off)}`);
  }
  b.push(`readq ${reg(R.STRTAB_BASE)}`, `readq ${reg(R.CMDQ_BASE)}`, `readq ${reg(R.EVENTQ_BASE)}`);
  const evqRead = `read ${hx(evqBase)} ${hx(32 << b.evqLog2)}`;
  b.push(evqRead);
  for (const w of b.writesToCheck) {
    const lo = w.pa - 4n;
    b.push(`read ${hx(lo)} ${hx(w.len + 8)}`);
  }
  // edu's buffer: disable the SMMU (bypass) and DMA it out
  b.writel(R.GBPA, 0x8000_0000);
  b.writel(R.CR0, 0x8);
  b.dma(1, dumpArea, 0, EDU_BUF_SIZE);
  b.push(`read ${hx(dumpArea)} ${hx(EDU_BUF_SIZE)}`);
  b.push(`readl ${hx(EDU + 0x98n)}`, `readl ${hx(EDU + 0x24n)}`);
  b.writel(R.IRQ_CTRL, 0);
  b.endSegment();

  return { index, seed, kind: b.notes.join(' '), twoLevel, segments: b.segments, evqRead };
}

/**
 * The end-to-end benchmark program: a stage-1 4K mapping of `pages` pages and `count` edu DMAs of
 * 4 KiB through the SMMU (alternating directions), each completed with clock_step.
 */
export async function eduDmaBenchProgram(count: number, pages = 16): Promise<string[]> {
  const mem = new RecordingMemory();
  const slot = SLOT_START;
  const alloc = new GuestAllocator(slot + 0x10000n, slot + 0x40_0000n);
  const push = (...l: string[]) => mem.lines.push(...l);
  push(...processHeader());
  const st = new LinearStreamTable(mem, alloc.alloc(64 * 32, 64 * 32), 5);
  const s1 = new PageTableBuilder(mem, alloc, { stage: 1, granule: 4, inputBits: 48 });
  const cd = alloc.alloc(64, 64);
  await writeCd(mem, cd, aarch64Stage1Cd(s1.root, 1));
  await st.writeSte(8, { V: 1, Config: 5, S1ContextPtr: cd });
  const iova = 0x1234_5600_0000n;
  await s1.mapRange(iova, slot + 0x40_0000n, BigInt(pages) << 12n, 'rw');
  push(
    `writeq ${reg(R.STRTAB_BASE)} ${hx(st.baseValue)}`,
    `writel ${reg(R.STRTAB_BASE_CFG)} ${hx(st.cfgValue)}`,
    `writeq ${reg(R.CMDQ_BASE)} ${hx(queueBaseValue(slot, 4))}`,
    `writeq ${reg(R.EVENTQ_BASE)} ${hx(queueBaseValue(slot + 0x4000n, 4))}`,
    `writel ${reg(R.IRQ_CTRL)} 0x5`,
    `writel ${reg(R.CR0)} 0xd`,
  );
  for (let i = 0; i < count; i++) {
    const dir = i & 1;
    const bus = iova + (BigInt(i % pages) << 12n);
    const [src, dst] = dir === 0 ? [bus, EDU_BUF] : [EDU_BUF, bus];
    push(
      `writeq ${hx(EDU + 0x80n)} ${hx(src)}`,
      `writeq ${hx(EDU + 0x88n)} ${hx(dst)}`,
      `writeq ${hx(EDU + 0x90n)} 0x1000`,
      `writeq ${hx(EDU + 0x98n)} ${hx(1 | (dir << 1))}`,
      'clock_step',
    );
  }
  push(`readl ${reg(R.EVENTQ_PROD)}`, `read ${hx(slot + 0x40_0000n)} 0x40`);
  return mem.lines;
}
