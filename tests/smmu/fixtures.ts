/**
 * Shared test fixtures for the SMMU tests: a Map-backed fake memory (RAM windows, everything else
 * fails like unassigned space), hand-built descriptors using the architecture's bit positions
 * (not the model's tables), and a small harness around SmmuV3 (register offsets: the model's
 * layout, checked against the architecture in registers.test.ts). Constants come from IHI 0070 and
 * QEMU 10.2.2 (see docs/smmu.md).
 */
import { IrqLine } from '../../src/sim/irq.js';
import { silentLogger } from '../../src/base/log.js';
import type { Addr, BusAccess, MemTxResult } from '../../src/memory/types.js';
import { SmmuV3 } from '../../src/smmu/smmu-v3.js';
import type { SmmuQuirks } from '../../src/smmu/quirks.js';
import { SMMU_REG_OFFSETS } from '../../src/smmu/registers.js';

/** Byte-addressed memory backed by a Map; accesses outside `windows` fail (decode-error). */
export class FakeMemory implements BusAccess {
  readonly bytes = new Map<bigint, number>();
  reads = 0;
  constructor(readonly windows: Array<[Addr, Addr]> = [[0x4000_0000n, 0x6000_0000n]]) {}
  private inRam(a: Addr): boolean {
    return this.windows.some(([lo, hi]) => a >= lo && a < hi);
  }
  readBytes(addr: Addr, out: Uint8Array): MemTxResult {
    this.reads++;
    let r: MemTxResult = 'ok';
    for (let i = 0; i < out.length; i++) {
      const a = addr + BigInt(i);
      if (!this.inRam(a)) {
        out[i] = 0;
        r = 'decode-error';
      } else out[i] = this.bytes.get(a) ?? 0;
    }
    return r;
  }
  writeBytes(addr: Addr, data: Uint8Array): MemTxResult {
    let r: MemTxResult = 'ok';
    data.forEach((b, i) => {
      const a = addr + BigInt(i);
      if (!this.inRam(a)) r = 'decode-error';
      else this.bytes.set(a, b);
    });
    return r;
  }
  w64(addr: Addr, v: bigint): void {
    for (let i = 0; i < 8; i++) this.bytes.set(addr + BigInt(i), Number((v >> BigInt(8 * i)) & 0xffn));
  }
  w32(addr: Addr, v: number): void {
    for (let i = 0; i < 4; i++) this.bytes.set(addr + BigInt(i), (v >>> (8 * i)) & 0xff);
  }
  words(addr: Addr, ws: number[]): void {
    ws.forEach((w, i) => this.w32(addr + BigInt(4 * i), w));
  }
  r32(addr: Addr): number {
    let v = 0;
    for (let i = 3; i >= 0; i--) v = v * 256 + (this.bytes.get(addr + BigInt(i)) ?? 0);
    return v;
  }
  hex(addr: Addr, n: number): string {
    const b = new Uint8Array(n);
    this.readBytes(addr, b);
    return Buffer.from(b).toString('hex');
  }
  /** Reader for the pure walks. */
  readDescriptor = (pa: bigint): bigint | null => {
    const b = new Uint8Array(8);
    if (this.readBytes(pa, b) !== 'ok') return null;
    let v = 0n;
    for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    return v;
  };
  readBlock = (pa: bigint, n: number): Uint8Array | null => {
    const b = new Uint8Array(n);
    return this.readBytes(pa, b) === 'ok' ? b : null;
  };
}

// ---- descriptors by architecture bit positions (VMSAv8-64, IHI 0070 5.2/5.4)

export const TABLE = (a: bigint) => a | 3n;
export const PAGE = (a: bigint, ap = 0, af = 1) => a | 3n | (BigInt(ap) << 6n) | (BigInt(af) << 10n);
export const BLOCK = (a: bigint, ap = 0, af = 1) => a | 1n | (BigInt(ap) << 6n) | (BigInt(af) << 10n);

export interface SteOpts {
  v?: number;
  config?: number;
  ctx?: bigint;
  s1cdmax?: number;
  s1stalld?: number;
  vmid?: number;
  s2t0sz?: number;
  s2sl0?: number;
  s2tg?: number;
  s2ps?: number;
  s2aa64?: number;
  s2endi?: number;
  s2affd?: number;
  s2s?: number;
  s2r?: number;
  s2ttb?: bigint;
  s2ha?: number;
  s2hd?: number;
}
/** STE words (hand-placed bits: V w0[0], Config w0[3:1], S1ContextPtr w0[31:6]+w1, …). */
export function steWords(o: SteOpts = {}): number[] {
  const w = new Array(16).fill(0);
  const ctx = o.ctx ?? 0n;
  w[0] = ((o.v ?? 1) | ((o.config ?? 4) << 1) | Number(ctx & 0xffffffc0n)) >>> 0;
  w[1] = (Number((ctx >> 32n) & 0xffffffn) | ((o.s1cdmax ?? 0) << 27)) >>> 0;
  w[2] = ((o.s1stalld ?? 0) << 27) >>> 0;
  w[4] = o.vmid ?? 0;
  w[5] =
    ((o.s2t0sz ?? 25) |
      ((o.s2sl0 ?? 1) << 6) |
      ((o.s2tg ?? 0) << 14) |
      ((o.s2ps ?? 4) << 16) |
      ((o.s2aa64 ?? 1) << 19) |
      ((o.s2endi ?? 0) << 20) |
      ((o.s2affd ?? 0) << 21) |
      ((o.s2hd ?? 0) << 23) |
      ((o.s2ha ?? 0) << 24) |
      ((o.s2s ?? 0) << 25) |
      ((o.s2r ?? 1) << 26)) >>>
    0;
  const ttb = o.s2ttb ?? 0n;
  w[6] = Number(ttb & 0xfffffff0n);
  w[7] = Number((ttb >> 32n) & 0xfffffn);
  return w;
}

export interface CdOpts {
  t0sz?: number;
  tg0?: number;
  epd0?: number;
  endi?: number;
  t1sz?: number;
  tg1?: number;
  epd1?: number;
  v?: number;
  ips?: number;
  affd?: number;
  tbi?: number;
  aa64?: number;
  hd?: number;
  ha?: number;
  s?: number;
  r?: number;
  a?: number;
  asid?: number;
  had0?: number;
  had1?: number;
  ttb0?: bigint;
  ttb1?: bigint;
}
export function cdWords(o: CdOpts = {}): number[] {
  const w = new Array(16).fill(0);
  w[0] =
    ((o.t0sz ?? 16) |
      ((o.tg0 ?? 0) << 6) |
      ((o.epd0 ?? 0) << 14) |
      ((o.endi ?? 0) << 15) |
      ((o.t1sz ?? 16) << 16) |
      ((o.tg1 ?? 2) << 22) |
      ((o.epd1 ?? 1) << 30) |
      ((o.v ?? 1) << 31)) >>>
    0;
  w[1] =
    ((o.ips ?? 4) |
      ((o.affd ?? 0) << 3) |
      ((o.tbi ?? 0) << 6) |
      ((o.aa64 ?? 1) << 9) |
      ((o.hd ?? 0) << 10) |
      ((o.ha ?? 0) << 11) |
      ((o.s ?? 0) << 12) |
      ((o.r ?? 1) << 13) |
      ((o.a ?? 1) << 14) |
      ((o.asid ?? 1) << 16)) >>>
    0;
  const t0 = o.ttb0 ?? 0n;
  const t1 = o.ttb1 ?? 0n;
  w[2] = (Number(t0 & 0xfffffff0n) | ((o.had0 ?? 0) << 1)) >>> 0;
  w[3] = Number((t0 >> 32n) & 0xfffffn);
  w[4] = (Number(t1 & 0xfffffff0n) | ((o.had1 ?? 0) << 1)) >>> 0;
  w[5] = Number((t1 >> 32n) & 0xfffffn);
  return w;
}

/** Command words: opcode | extra bits of w0, then w1..w3. */
export const cmd = (op: number, w0 = 0, w1 = 0, w2 = 0, w3 = 0): number[] => [
  (op | w0) >>> 0,
  w1 >>> 0,
  w2 >>> 0,
  w3 >>> 0,
];

export function lsh(level: number, g: number): number {
  return g + (3 - level) * (g - 3);
}
export function idxAt(va: bigint, level: number, g: number, inputBits = 48): bigint {
  return ((va & ((1n << BigInt(inputBits)) - 1n)) >> BigInt(lsh(level, g))) & ((1n << BigInt(g - 3)) - 1n);
}

/** Write a walk for `va` from `start` to `leaf` using `tables` (one per level). */
export function mapWalk(
  mem: FakeMemory,
  va: bigint,
  pa: bigint,
  g: number,
  inputBits: number,
  start: number,
  leaf: number,
  tables: bigint[],
  leafDesc?: (a: bigint) => bigint,
): void {
  for (let l = start; l < leaf; l++)
    mem.w64(tables[l - start] + idxAt(va, l, g, inputBits) * 8n, TABLE(tables[l - start + 1]));
  const out = leaf === 3 ? pa & ~((1n << BigInt(g)) - 1n) : pa & ~((1n << BigInt(lsh(leaf, g))) - 1n);
  mem.w64(
    tables[leaf - start] + idxAt(va, leaf, g, inputBits) * 8n,
    (leafDesc ?? ((a) => (leaf === 3 ? PAGE(a) : BLOCK(a))))(out),
  );
}

// ---- SmmuV3 harness

/** Register offsets: the model's layout (registers.test.ts checks it against IHI 0070). */
export const REG = SMMU_REG_OFFSETS;

export const STRTAB = 0x4010_0000n;
export const EVQ = 0x4020_0000n;
export const CMDQ = 0x4030_0000n;
export const CDADDR = 0x4040_0000n;

export class Harness {
  readonly mem: FakeMemory;
  readonly smmu: SmmuV3;
  readonly pulses: string[] = [];
  constructor(opts: { stage?: '1' | '2' | 'nested'; mem?: FakeMemory } = {}) {
    this.mem = opts.mem ?? new FakeMemory();
    const irqs = {
      eventq: new IrqLine('eventq'),
      priq: new IrqLine('priq'),
      cmdSync: new IrqLine('cmd-sync'),
      gerror: new IrqLine('gerror'),
    };
    for (const [name, line] of Object.entries(irqs)) line.listen((lv) => lv && this.pulses.push(name));
    this.smmu = new SmmuV3({ memory: this.mem, irqs, log: silentLogger(), stage: opts.stage });
  }
  rl(off: number): number {
    return Number(this.smmu.read(BigInt(off), 4, {}));
  }
  rq(off: number): bigint {
    return this.smmu.read(BigInt(off), 8, {});
  }
  wl(off: number, v: number): void {
    this.smmu.write(BigInt(off), 4, BigInt(v >>> 0), {});
  }
  wq(off: number, v: bigint): void {
    this.smmu.write(BigInt(off), 8, v, {});
  }
  /** The standard setup: IRQ_CTRL=5, linear 32-entry stream table, 8-entry event queue, 16-entry cmdq, CR0=0xd. */
  enable(
    o: {
      strtabCfg?: number;
      evqLog2?: number;
      cmdqLog2?: number;
      cr0?: number;
      irqCtrl?: number;
      strtab?: bigint;
    } = {},
  ): this {
    this.wl(REG.IRQ_CTRL, o.irqCtrl ?? 5);
    this.wq(REG.STRTAB_BASE, o.strtab ?? STRTAB);
    this.wl(REG.STRTAB_BASE_CFG, o.strtabCfg ?? 5);
    this.wq(REG.CMDQ_BASE, CMDQ | BigInt(o.cmdqLog2 ?? 4));
    this.wq(REG.EVENTQ_BASE, EVQ | BigInt(o.evqLog2 ?? 3));
    this.wl(REG.CR0, o.cr0 ?? 0xd);
    return this;
  }
  ste(sid: number, o: SteOpts): void {
    this.mem.words(STRTAB + BigInt(64 * sid), steWords(o));
  }
  cd(o: CdOpts, at = CDADDR): void {
    this.mem.words(at, cdWords(o));
  }
  /** Queue commands at CMDQ_PROD and ring the doorbell. */
  commands(list: number[][]): void {
    let prod = this.rl(REG.CMDQ_PROD);
    const log2 = Number(this.rq(REG.CMDQ_BASE) & 0x1fn);
    for (const c of list) {
      this.mem.words(CMDQ + BigInt(16 * (prod & ((1 << log2) - 1))), c);
      prod = (prod + 1) & ((1 << (log2 + 1)) - 1);
    }
    this.wl(REG.CMDQ_PROD, prod);
  }
  /** Event record i as 64 hex characters. */
  event(i: number): string {
    return this.mem.hex(EVQ + BigInt(32 * i), 32);
  }
  dma(sid: number, iova: bigint, write = false) {
    return this.smmu.translate(sid, iova, write, {});
  }
}

// ---- a Secure-capable SmmuV3 (docs/secure-smmu.md)

export interface SecureRigOptions {
  quirks?: Partial<SmmuQuirks>;
  /** The sec-sid of every requester (default 1, Secure). */
  secSid?: number;
  /** Default true. */
  secureImpl?: boolean;
  /** No Secure view on the machine (secure=off). */
  noSecureView?: boolean;
}

/**
 * An SmmuV3 with the Secure programming interface over two fake memories: Non-secure RAM at
 * 0x4000_0000..0x6000_0000, Secure RAM at 0x0e00_0000..0x0f00_0000; rl/wl/wq take the access's
 * attributes (SEC: space 0, NS: space 1).
 */
export function secureRig(o: SecureRigOptions = {}) {
  const nsMem = new FakeMemory([[0x4000_0000n, 0x6000_0000n]]);
  const sMem = new FakeMemory([[0x0e00_0000n, 0x0f00_0000n]]);
  const irqs = {
    eventq: new IrqLine('e'),
    priq: new IrqLine('p'),
    cmdSync: new IrqLine('c'),
    gerror: new IrqLine('g'),
  };
  const smmu = new SmmuV3({
    memory: nsMem,
    irqs,
    log: silentLogger(),
    secureImpl: o.secureImpl ?? true,
    secureMemory: o.noSecureView ? undefined : sMem,
    quirks: o.quirks,
    secSidOf: () => o.secSid ?? 1,
  });
  const rl = (off: number, attrs = {}) => Number(smmu.read(BigInt(off), 4, attrs));
  const wl = (off: number, v: number, attrs = {}) => smmu.write(BigInt(off), 4, BigInt(v >>> 0), attrs);
  const wq = (off: number, v: bigint) => smmu.write(BigInt(off), 8, v, {});
  return { smmu, nsMem, sMem, rl, wl, wq };
}
export type SecureRig = ReturnType<typeof secureRig>;
