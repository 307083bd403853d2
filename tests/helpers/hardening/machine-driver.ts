/**
 * A synchronous in-process qtest driver for hardening tests and the fuzzer: one Session, one
 * endpoint, each request line answered before `cmd()` returns. Also knows the virt layout the
 * SMMU scenarios use: where the DMA test devices sit, their BARs and StreamIDs.
 */
import type { Limits } from '../../../src/base/limits.js';
import type { Session } from '../../../src/session/session.js';
import type { Endpoint } from '../../../src/protocol/link.js';
import { makeSession, RecordingLink } from '../session.js';
import { hexU64 as hex } from '../bytes.js';

export const SMMU_ARGS: readonly string[] = [
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
  'edu',
  '-device',
  'iommu-testdev',
  '-device',
  'smmu-testdev',
];

export const SMMU = 0x09050000n;
export const ECAM = 0x4010000000n;
export const RAM = 0x40000000n;
export const RAM_END = 0x60000000n;

/** Devices of SMMU_ARGS: slot on bus 0, where we map BAR0, StreamID (bus 0, devfn). */
export const DEVICES = {
  edu: { slot: 1, bar: 0x10000000n, sid: 1 << 3 },
  iommu: { slot: 2, bar: 0x10100000n, sid: 2 << 3 },
  smmuTestdev: { slot: 3, bar: 0x10200000n, sid: 3 << 3 },
} as const;

export const REG = {
  CR0: 0x20,
  GBPA: 0x44,
  IRQ_CTRL: 0x50,
  GERROR: 0x60,
  GERRORN: 0x64,
  STRTAB_BASE: 0x80,
  STRTAB_BASE_CFG: 0x88,
  CMDQ_BASE: 0x90,
  CMDQ_PROD: 0x98,
  CMDQ_CONS: 0x9c,
  EVENTQ_BASE: 0xa0,
  EVENTQ_PROD: 0xa8,
  EVENTQ_CONS: 0xac,
} as const;

export class Driver {
  readonly session: Session;
  readonly link = new RecordingLink();
  readonly ep: Endpoint;
  /** requests sent, reply lines received (excluding IRQ lines) */
  requests = 0;

  constructor(argv: readonly string[] = SMMU_ARGS, limits: Partial<Limits> = {}) {
    this.session = makeSession([...argv], limits);
    this.ep = this.session.attachQtest(this.link);
  }

  /** Send raw bytes; return everything written back. */
  raw(bytes: Buffer | string): string {
    this.link.out = '';
    this.ep.input(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    return this.link.out;
  }

  /** One request line; returns its reply (IRQ lines dropped). Throws if not exactly one reply. */
  cmd(line: string): string {
    this.requests++;
    const out = this.raw(line + '\n');
    const lines = out.split('\n');
    lines.pop();
    const replies = lines.filter((l) => !l.startsWith('IRQ '));
    if (replies.length !== 1)
      throw new Error(
        `${JSON.stringify(line.slice(0, 100))}: expected one reply, got ${JSON.stringify(out.slice(0, 300))}`,
      );
    return replies[0]!;
  }

  ok(line: string): string {
    const r = this.cmd(line);
    if (!r.startsWith('OK')) throw new Error(`${line.slice(0, 100)}: ${r}`);
    return r;
  }

  readl(addr: bigint): bigint {
    return BigInt(this.ok(`readl ${hex(addr)}`).slice(3));
  }
  readq(addr: bigint): bigint {
    return BigInt(this.ok(`readq ${hex(addr)}`).slice(3));
  }
  writel(addr: bigint, v: bigint | number): void {
    this.ok(`writel ${hex(addr)} ${hex(v)}`);
  }
  writeq(addr: bigint, v: bigint | number): void {
    this.ok(`writeq ${hex(addr)} ${hex(v)}`);
  }
  smmuWritel(off: number, v: bigint | number): void {
    this.writel(SMMU + BigInt(off), v);
  }
  smmuWriteq(off: number, v: bigint | number): void {
    this.writeq(SMMU + BigInt(off), v);
  }
  smmuReadl(off: number): bigint {
    return this.readl(SMMU + BigInt(off));
  }

  cfgAddr(slot: number, off: number): bigint {
    return ECAM + (BigInt(slot) << 15n) + BigInt(off);
  }

  /** Map BAR0 of every test device and enable memory + bus mastering. */
  setupDevices(): void {
    for (const d of Object.values(DEVICES)) {
      this.writel(this.cfgAddr(d.slot, 0x10), d.bar);
      this.ok(`writew ${hex(this.cfgAddr(d.slot, 0x04))} 0x6`);
    }
  }

  /** A linear stream table of 2^log2 bypass STEs (V=1, Config=4) at `base`, SMMU enabled with queues. */
  setupSmmuBypass(base = 0x48000000n, log2 = 8, cmdq = 0x48100000n, eventq = 0x48200000n): void {
    for (let sid = 0; sid < 1 << log2; sid++) this.writeq(base + BigInt(sid * 64), 0x9n);
    this.smmuWriteq(REG.STRTAB_BASE, base);
    this.smmuWritel(REG.STRTAB_BASE_CFG, log2);
    this.smmuWriteq(REG.CMDQ_BASE, cmdq | 8n);
    this.smmuWriteq(REG.EVENTQ_BASE, eventq | 8n);
    this.smmuWritel(REG.CR0, 0xd); // SMMUEN | EVENTQEN | CMDQEN
  }

  /** iommu-testdev: DMA `len` bytes of pattern to `iova`, read back from `gpa`; returns DMA_RESULT. */
  iommuDma(iova: bigint, len: bigint | number, gpa: bigint = iova): bigint {
    const b = DEVICES.iommu.bar;
    this.writel(b + 0x04n, iova & 0xffffffffn);
    this.writel(b + 0x08n, iova >> 32n);
    this.writel(b + 0x1cn, gpa & 0xffffffffn);
    this.writel(b + 0x20n, gpa >> 32n);
    this.writel(b + 0x0cn, len);
    this.writel(b + 0x18n, 0xan);
    this.writel(b + 0x14n, 1);
    this.readl(b + 0x00n);
    return this.readl(b + 0x10n);
  }

  /** smmu-testdev legacy DMA of `len` bytes to `iova` (dir 0 write, 1 read); returns DMA_RESULT. */
  smmuTestdevDma(iova: bigint, len: bigint | number, dir = 0): bigint {
    const b = DEVICES.smmuTestdev.bar;
    this.writel(b + 0x28n, iova & 0xffffffffn);
    this.writel(b + 0x2cn, iova >> 32n);
    this.writel(b + 0x30n, len);
    this.writel(b + 0x34n, dir);
    this.writel(b + 0x3cn, 1);
    this.readl(b + 0x00n);
    return this.readl(b + 0x38n);
  }

  /** edu DMA: src → dst, `count` bytes, cmd bits (1 start, 2 dir to-RAM, 4 irq); advances the clock. */
  eduDma(src: bigint, dst: bigint, count: bigint | number, cmd: number): void {
    const b = DEVICES.edu.bar;
    this.writeq(b + 0x80n, src);
    this.writeq(b + 0x88n, dst);
    this.writeq(b + 0x90n, count);
    this.writeq(b + 0x98n, cmd);
    this.ok('clock_step 100000000');
  }
}

export function rssMiB(): number {
  return Math.round(process.memoryUsage().rss / 1048576);
}

const cfgAddr = (slot: number, off: number): bigint => ECAM + (BigInt(slot) << 15n) + BigInt(off);

/**
 * qtest lines for SMMU_ARGS: map every device's BAR0, enable it, and enable the SMMU over a
 * 4-entry bypass stream table, so that iommu-testdev (StreamID 0x10, past the table) faults on
 * every page.
 */
export function faultingSmmuLines(): string[] {
  const lines: string[] = [];
  for (const d of Object.values(DEVICES))
    lines.push(`writel ${hex(cfgAddr(d.slot, 0x10))} ${hex(d.bar)}`, `writew ${hex(cfgAddr(d.slot, 0x04))} 0x6`);
  for (let sid = 0; sid < 4; sid++) lines.push(`writeq ${hex(0x48000000n + BigInt(sid * 64))} 0x9`);
  const smmu = (off: number): string => hex(SMMU + BigInt(off));
  lines.push(
    `writeq ${smmu(REG.STRTAB_BASE)} 0x48000000`,
    `writel ${smmu(REG.STRTAB_BASE_CFG)} 0x2`,
    `writeq ${smmu(REG.CMDQ_BASE)} 0x48100008`,
    `writeq ${smmu(REG.EVENTQ_BASE)} 0x48200008`,
    `writel ${smmu(REG.CR0)} 0xd`,
  );
  return lines;
}

/** iommu-testdev: arm a `len`-byte DMA at RAM, trigger it (`readl` of BAR0), read DMA_RESULT. */
export function iommuDmaLines(len: number): string[] {
  const b = DEVICES.iommu.bar;
  const regs: Array<[bigint, bigint]> = [
    [0x04n, RAM],
    [0x08n, 0n],
    [0x1cn, RAM],
    [0x20n, 0n],
    [0x0cn, BigInt(len)],
    [0x18n, 0xan],
    [0x14n, 1n],
  ];
  return [...regs.map(([off, v]) => `writel ${hex(b + off)} ${hex(v)}`), `readl ${hex(b)}`, `readl ${hex(b + 0x10n)}`];
}
