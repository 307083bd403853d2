/**
 * The hostile mixes of `npm run fuzz -- --hostile` (tests/fuzz/hostile.ts): each one is a round on
 * a fresh connection to a real service whose sessions run SMMU_ARGS (edu, iommu-testdev,
 * smmu-testdev behind an SMMUv3). Huge transfers over RAM, ECAM, unassigned space and device
 * MMIO; a faulting 16 MiB DMA; self-referencing translation tables; CMDQ floods; junk and valid
 * command floods; disconnects with work buffered; half-closes. A round reports every reply line
 * it got; the caller classifies them.
 */
import {
  faultingSmmuLines,
  iommuDmaLines,
  DEVICES,
  ECAM,
  RAM,
  REG,
  SMMU,
} from '../helpers/hardening/machine-driver.js';
import { hexU64 as hex } from '../helpers/bytes.js';
import type { LineClient } from '../helpers/line-client.js';
import { Rng } from './gen.js';

export interface RoundContext {
  rng: Rng;
  /** A new qtest connection (TCP or UNIX) to the service. */
  open(): Promise<LineClient>;
  /** How long to wait for a reply before calling the round stalled. */
  replyTimeoutMs: number;
}

export interface RoundResult {
  /** request lines sent (junk: lines the junk contained) */
  requests: number;
  /** every reply line received (IRQ lines excluded) */
  replies: string[];
  /** the service closed the connection before every reply came */
  closedEarly: boolean;
}

export interface Mix {
  name: string;
  run(ctx: RoundContext): Promise<RoundResult>;
}

const MiB = 1 << 20;
const cfg = (slot: number, off: number): bigint => ECAM + (BigInt(slot) << 15n) + BigInt(off);

/** Map BAR0 of every test device and enable memory decoding + bus mastering. */
function mapDevices(): string[] {
  return Object.values(DEVICES).flatMap((d) => [
    `writel ${hex(cfg(d.slot, 0x10))} ${hex(d.bar)}`,
    `writew ${hex(cfg(d.slot, 0x04))} 0x6`,
  ]);
}

/** Send `lines` at once, collect their replies; a close by the service ends the round early. */
async function pipelineRound(c: LineClient, lines: string[], timeoutMs: number): Promise<RoundResult> {
  let closedEarly = false;
  try {
    await c.pipeline(lines, timeoutMs);
  } catch (e) {
    if (!c.isClosed) throw e; // a stall: the caller reports it
    closedEarly = true;
  }
  c.destroy();
  return { requests: lines.length, replies: c.received.filter((l) => !l.startsWith('IRQ ')), closedEarly };
}

/** Write `data`, half-close, and collect every reply until the service closes. */
async function halfCloseRound(c: LineClient, data: Buffer | string, requests: number, timeoutMs: number) {
  c.write(data);
  c.end();
  if (!(await c.closedWithin(timeoutMs))) {
    c.destroy();
    throw new Error(`no close within ${timeoutMs} ms after a half-close`);
  }
  return { requests, replies: c.received.filter((l) => !l.startsWith('IRQ ')), closedEarly: false };
}

const REGIONS: Array<[string, bigint]> = [
  ['RAM', RAM],
  ['ECAM', ECAM],
  ['unassigned', 0x60000000n],
  ['unassigned-high', 0x8000000000n],
  ['edu MMIO', DEVICES.edu.bar],
  ['SMMU MMIO', SMMU],
];
/** Up to 128 MiB (the transfer limit) and one byte past it. */
const SIZES = [64 * 1024, MiB, 16 * MiB, 128 * MiB, 128 * MiB + 1];

function hugeTransferLine(r: Rng): string {
  const [, base] = r.pick(REGIONS);
  const size = r.pick(SIZES);
  switch (r.int(4)) {
    case 0:
      return `read ${hex(base)} ${hex(size)}`;
    case 1:
      return `b64read ${hex(base)} ${hex(size)}`;
    case 2:
      return `memset ${hex(base)} ${hex(size)} 0x${r.int(256).toString(16)}`;
    default: {
      // a write whose hex data makes lines of 128 KiB up to 6 MiB (past --max-line in hostile.ts)
      const n = r.pick([64 * 1024, MiB, 3 * MiB]);
      return `write ${hex(base)} ${hex(n)} 0x${'a5'.repeat(n)}`;
    }
  }
}

/** SMMU on, every StreamID bypassed through a 256-entry linear table, command queue at 0x48100000. */
function smmuBypassLines(): string[] {
  const lines = mapDevices();
  for (let sid = 0; sid < 256; sid++) lines.push(`writeq ${hex(0x48000000n + BigInt(sid * 64))} 0x9`);
  const reg = (off: number): string => hex(SMMU + BigInt(off));
  lines.push(
    `writeq ${reg(REG.STRTAB_BASE)} 0x48000000`,
    `writel ${reg(REG.STRTAB_BASE_CFG)} 0x8`,
    `writeq ${reg(REG.CMDQ_BASE)} 0x48100008`,
    `writeq ${reg(REG.EVENTQ_BASE)} 0x48200008`,
    `writel ${reg(REG.CR0)} 0xd`,
  );
  return lines;
}

/** iommu-testdev's STE: stage 2 whose every table level is one table pointing at itself; or a 2-level stream table whose L1 descriptor points at itself. */
function selfReferencingLines(r: Rng): string[] {
  const lines = smmuBypassLines();
  const reg = (off: number): string => hex(SMMU + BigInt(off));
  if (r.bool()) {
    const ste = 0x48000000n + BigInt(DEVICES.iommu.sid * 64);
    const table = 0x48300000n;
    lines.push(
      `writeq ${hex(ste + 16n)} ${hex((0x14n | (2n << 6n) | (5n << 16n) | (1n << 19n)) << 32n)}`,
      `writeq ${hex(ste + 24n)} ${hex(table)}`,
      `memset ${hex(table)} 0x1000 0x0`,
    );
    for (let i = 0; i < 512; i += 1 + r.int(64)) lines.push(`writeq ${hex(table + BigInt(i * 8))} ${hex(table | 3n)}`);
    lines.push(`writeq ${hex(table + 8n)} ${hex(table | 3n)}`, `writeq ${hex(ste)} ${hex((6n << 1n) | 1n)}`);
  } else {
    const l1 = 0x48400000n;
    lines.push(
      `writel ${reg(REG.CR0)} 0x0`,
      `writeq ${reg(REG.STRTAB_BASE)} ${hex(l1)}`,
      `writel ${reg(REG.STRTAB_BASE_CFG)} ${hex((1 << 16) | (8 << 6) | 16)}`,
      `writeq ${hex(l1)} ${hex(l1 | BigInt(r.pick([1, 9, 31])))}`,
      `writel ${reg(REG.CR0)} 0xd`,
    );
  }
  // CFGI_ALL (CFGI_STE_RANGE, Range 31), then a 16 MiB DMA through the tables
  lines.push(`writeq 0x48100000 0x4`, `writeq 0x48100008 0x1f`, `writel ${reg(REG.CMDQ_PROD)} 0x1`);
  return [...lines, ...iommuDmaLines(16 * MiB)];
}

/** A 2^19-entry command queue of CMD_SYNCs run whole, then PROD overflows and wraps. */
function cmdqFloodLines(r: Rng): string[] {
  const reg = (off: number): string => hex(SMMU + BigInt(off));
  const q = 0x50000000n;
  const lines = [
    ...smmuBypassLines(),
    `memset ${hex(q)} ${hex(16 << 19)} 0x46`,
    `writeq ${reg(REG.CMDQ_BASE)} ${hex(q | 31n)}`,
  ];
  for (let i = 0, n = 1 + r.int(4); i < n; i++)
    lines.push(
      `writel ${reg(REG.CMDQ_PROD)} ${hex(r.pick([(1 << 19) - 1, 1 << 19, 0xffffffff, 0, r.u32()]))}`,
      `readl ${reg(REG.CMDQ_CONS)}`,
    );
  return lines;
}

function junk(r: Rng): { data: Buffer; lines: number } {
  const parts: Buffer[] = [];
  let lines = 0;
  for (let i = 0, n = 1 + r.int(8); i < n; i++) {
    if (r.bool(0.2)) {
      // an over-long line (past --max-line in hostile.ts), no newline until its end
      parts.push(Buffer.alloc((4 + r.int(3)) * MiB, 0x41 + r.int(26)), Buffer.from('\n'));
    } else {
      const b = Buffer.alloc(1 + r.int(64 * 1024));
      for (let k = 0; k < b.length; k++) b[k] = r.int(256);
      parts.push(b);
    }
  }
  parts.push(Buffer.from('\n')); // at least one line
  const data = Buffer.concat(parts);
  for (const byte of data) if (byte === 10) lines++;
  return { data, lines };
}

/** A valid request with exactly one reply: accesses to RAM and device registers, small transfers, clock steps. */
function validLine(r: Rng): string {
  const a = hex(
    r.bool(0.7) ? RAM + BigInt(r.int(0x100000) & ~7) : r.pick(Object.values(DEVICES)).bar + BigInt(r.int(0x100) & ~7),
  );
  switch (r.int(9)) {
    case 0:
      return `readb ${a}`;
    case 1:
      return `readl ${a}`;
    case 2:
      return `readq ${a}`;
    case 3:
      return `writel ${a} ${hex(r.u32())}`;
    case 4:
      return `writeq ${a} ${hex(r.u64())}`;
    case 5:
      return `read ${a} ${hex(1 + r.int(256))}`;
    case 6:
      return `memset ${a} ${hex(1 + r.int(4096))} ${hex(r.int(256))}`;
    case 7:
      return `clock_step ${1 + r.int(1000000)}`;
    default:
      return 'endianness';
  }
}

export const MIXES: readonly Mix[] = [
  {
    name: 'huge transfers (RAM, ECAM, unassigned, MMIO)',
    run: async (ctx) => {
      const lines = [...mapDevices()];
      for (let i = 0, n = 1 + ctx.rng.int(3); i < n; i++) lines.push(hugeTransferLine(ctx.rng));
      lines.push('endianness');
      return pipelineRound(await ctx.open(), lines, ctx.replyTimeoutMs);
    },
  },
  {
    name: 'faulting 16 MiB DMA through the SMMU',
    run: async (ctx) =>
      pipelineRound(await ctx.open(), [...faultingSmmuLines(), ...iommuDmaLines(16 * MiB)], ctx.replyTimeoutMs),
  },
  {
    name: 'self-referencing tables + DMA',
    run: async (ctx) => pipelineRound(await ctx.open(), selfReferencingLines(ctx.rng), ctx.replyTimeoutMs),
  },
  {
    name: 'CMDQ flood',
    run: async (ctx) => pipelineRound(await ctx.open(), cmdqFloodLines(ctx.rng), ctx.replyTimeoutMs),
  },
  {
    name: 'junk flood (random bytes, over-long lines)',
    run: async (ctx) => {
      const { data, lines } = junk(ctx.rng);
      return halfCloseRound(await ctx.open(), data, lines, ctx.replyTimeoutMs);
    },
  },
  {
    name: 'valid command flood',
    run: async (ctx) => {
      const lines = mapDevices();
      for (let i = 0, n = 1000 + ctx.rng.int(9000); i < n; i++) lines.push(validLine(ctx.rng));
      return pipelineRound(await ctx.open(), lines, ctx.replyTimeoutMs);
    },
  },
  {
    name: 'disconnect with work buffered',
    run: async (ctx) => {
      const c = await ctx.open();
      const lines = [...mapDevices(), ...Array.from({ length: 4 }, () => hugeTransferLine(ctx.rng))];
      c.write(lines.map((l) => l + '\n').join(''));
      if (ctx.rng.bool()) await c.next(ctx.replyTimeoutMs).catch(() => ''); // sometimes mid-reply
      c.destroy();
      return { requests: lines.length, replies: c.received.filter((l) => !l.startsWith('IRQ ')), closedEarly: false };
    },
  },
  {
    name: 'half-close with requests pending',
    run: async (ctx) => {
      const lines = [...mapDevices(), hugeTransferLine(ctx.rng)];
      for (let i = 0, n = 10 + ctx.rng.int(200); i < n; i++) lines.push(validLine(ctx.rng));
      const r = await halfCloseRound(
        await ctx.open(),
        lines.map((l) => l + '\n').join(''),
        lines.length,
        ctx.replyTimeoutMs,
      );
      return { ...r, closedEarly: r.replies.length < lines.length };
    },
  },
];

/** A FAIL/ERR line cut at its first quote (`FAIL Unknown command '…`) with numbers folded (`… N bytes`), at most 80 characters. */
export function failReason(line: string): string {
  const q = line.search(/['"]/);
  return (q < 0 ? line : `${line.slice(0, q + 1)}…`).replace(/\b(0x[0-9a-f]+|\d+)\b/gi, 'N').slice(0, 80);
}
