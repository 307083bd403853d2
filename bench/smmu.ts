/**
 * SMMUv3 benchmarks.
 *
 * In process (SmmuV3 over an AddressSpace + SparseRam, tables built with the src/client encoders):
 *   - IOTLB-hit translations/s (target ≥ 10 M/s)
 *   - cold 4-level stage-1 walks/s, IOTLB invalidated before each (target ≥ 1 M/s)
 *   - cold nested walks/s (4-level S1 over 4-level S2; target ≥ 0.2 M/s)
 *   - 64 KiB DMA through the SMMU (DmaView, warm IOTLB) in MB/s, next to a plain 64 KiB memcpy
 * End to end (qtestd next to the real QEMU oracle when QTEST_ORACLE_PREFIX is set):
 *   - the same qtest program, 200 edu DMAs of 4 KiB through the SMMU with clock_step, wall time
 *     pipelined (all requests written at once) and serial (one request per round trip).
 *
 * `node dist/bench/smmu.js` runs it alone; bench/run.ts calls smmuBenchmarks() too.
 */
import { silentLogger } from '../src/base/log.js';
import { IrqLine } from '../src/sim/irq.js';
import { AddressSpace } from '../src/memory/address-space.js';
import { DmaView } from '../src/memory/dma-view.js';
import { SparseRam } from '../src/memory/sparse-ram.js';
import { NO_ATTRS } from '../src/memory/types.js';
import { SMMU_REG_OFFSETS } from '../src/smmu/registers.js';
import { SmmuV3 } from '../src/smmu/smmu-v3.js';
import { bigintToLe } from '../src/client/guest-memory.js';
import type { GuestMemory } from '../src/client/guest-memory.js';
import {
  aarch64Stage1Cd,
  GuestAllocator,
  LinearStreamTable,
  PageTableBuilder,
  writeCd,
} from '../src/client/smmu-builder.js';
import { queueBaseValue } from '../src/client/smmu-queues.js';
import { launch } from '../tests/helpers/launch.js';
import type { TargetName } from '../tests/helpers/launch.js';
import { oracleAvailable } from '../tests/helpers/oracle.js';
import { eduDmaBenchProgram, SMMU_PROGRAM_ARGS } from '../tests/helpers/smmu-programs.js';

const SMMU_BASE = 0x0905_0000n;
const RAM_BASE = 0x4000_0000n;

/** GuestMemory straight onto an AddressSpace (synchronous underneath). */
function directMemory(sys: AddressSpace): GuestMemory {
  const rd = (a: bigint, n: number) => {
    const b = new Uint8Array(n);
    sys.readBytes(a, b);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    return Promise.resolve(v);
  };
  const wr = (a: bigint, v: bigint, n: number) => {
    sys.writeBytes(a, bigintToLe(v, n));
    return Promise.resolve();
  };
  return {
    readb: (a) => rd(a, 1),
    readw: (a) => rd(a, 2),
    readl: (a) => rd(a, 4),
    readq: (a) => rd(a, 8),
    writeb: (a, v) => wr(a, v, 1),
    writew: (a, v) => wr(a, v, 2),
    writel: (a, v) => wr(a, v, 4),
    writeq: (a, v) => wr(a, v, 8),
    read: (a, n) => {
      const b = new Uint8Array(n);
      sys.readBytes(a, b);
      return Promise.resolve(b);
    },
    write: (a, d) => {
      sys.writeBytes(a, d);
      return Promise.resolve();
    },
    memset: (a, n, byte) => {
      sys.writeBytes(a, new Uint8Array(n).fill(byte));
      return Promise.resolve();
    },
  };
}

interface Rig {
  sys: AddressSpace;
  smmu: SmmuV3;
  dma: DmaView;
}

/** A machine slice: RAM at 0x40000000, the SMMU at 0x09050000, STE 8 = stage 1 or nested. */
async function buildRig(mode: 's1' | 'nested', pages: number): Promise<{ rig: Rig; iova: bigint; pagePa: bigint }> {
  const sys = new AddressSpace('memory');
  sys.map(RAM_BASE, new SparseRam('ram', 512n << 20n));
  const irqs = {
    eventq: new IrqLine('e'),
    priq: new IrqLine('p'),
    cmdSync: new IrqLine('c'),
    gerror: new IrqLine('g'),
  };
  const smmu = new SmmuV3({ memory: sys, irqs, log: silentLogger(), stage: 'nested' });
  sys.map(SMMU_BASE, smmu);
  const mem = directMemory(sys);
  const alloc = new GuestAllocator(0x4100_0000n, 0x4800_0000n);
  const st = new LinearStreamTable(mem, alloc.alloc(64 * 32, 64 * 32), 5);
  const s1 = new PageTableBuilder(mem, alloc, { stage: 1, granule: 4, inputBits: 48 });
  const iova = 0x1234_5600_0000n;
  const dataPa = 0x4800_0000n;
  await s1.mapRange(iova, dataPa, BigInt(pages) << 12n, 'rw');
  const cd = alloc.alloc(64, 64);
  await writeCd(mem, cd, aarch64Stage1Cd(s1.root, 1));
  if (mode === 's1') {
    await st.writeSte(8, { V: 1, Config: 5, S1ContextPtr: cd });
  } else {
    // stage 2: identity map of the structures and data with 4K pages under a 4-level (44-bit: S2T0SZ ≥ 64 − OAS; SL0 = 2) walk, so
    // every stage-1 table fetch and the output go through a full stage-2 walk
    const s2 = new PageTableBuilder(mem, alloc, { stage: 2, granule: 4, inputBits: 44, sl0: 2 });
    const regions: Array<[bigint, bigint]> = [
      [0x4100_0000n, alloc.used + 0x10_0000n],
      [dataPa, BigInt(pages) << 12n],
    ];
    for (const [base, size] of regions) await s2.mapRange(base, base, (size + 0xfffn) & ~0xfffn, 'rw');
    await st.writeSte(8, {
      V: 1,
      Config: 7,
      S1ContextPtr: cd,
      S2VMID: 1,
      S2T0SZ: 20,
      S2SL0: 2,
      S2TG: 0,
      S2PS: 5,
      S2AA64: 1,
      S2R: 1,
      S2TTB: s2.root,
    });
  }
  const w = (off: number, v: bigint, size: 4 | 8) => smmu.write(BigInt(off), size, v, NO_ATTRS);
  const R = SMMU_REG_OFFSETS;
  w(R.STRTAB_BASE, st.baseValue, 8);
  w(R.STRTAB_BASE_CFG, BigInt(st.cfgValue), 4);
  w(R.CMDQ_BASE, queueBaseValue(0x4000_0000n + 0x20_0000n, 4), 8);
  w(R.EVENTQ_BASE, queueBaseValue(0x4000_0000n + 0x30_0000n, 4), 8);
  w(R.CR0, 0xdn, 4); // SMMUEN | EVENTQEN | CMDQEN
  const dma = new DmaView({ memory: sys, iommu: smmu, requesterId: () => 8, busMasterEnabled: () => true });
  return { rig: { sys, smmu, dma }, iova, pagePa: dataPa };
}

function rate(n: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 20000); i++) fn(i); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** Median of `runs` measurements. */
function med(runs: number, f: () => number): number {
  const xs = Array.from({ length: runs }, f).sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)]!;
}

export async function smmuEngineBenchmarks(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const { rig, iova } = await buildRig('s1', 64);
  const { smmu } = rig;
  // sanity: the mapping works
  const probe = smmu.translate(8, iova + 0x123n, false, NO_ATTRS);
  if (!probe.ok || probe.pa !== 0x4800_0123n)
    throw new Error(
      `bench rig: stage-1 translation broken: ${JSON.stringify(probe, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`,
    );
  const iovas = Array.from({ length: 64 }, (_, i) => iova + (BigInt(i) << 12n) + 0x40n);
  out.smmuIotlbHitPerSec = med(5, () =>
    rate(2_000_000, (i) => smmu.translate(8, iovas[i & 63]!, (i & 1) === 1, NO_ATTRS)),
  );
  out.smmuColdS1WalkPerSec = med(5, () =>
    rate(300_000, (i) => {
      smmu.iotlb.invalidateAll();
      smmu.translate(8, iovas[i & 63]!, false, NO_ATTRS);
    }),
  );
  const n = await buildRig('nested', 64);
  const nprobe = n.rig.smmu.translate(8, n.iova + 0x10n, true, NO_ATTRS);
  if (!nprobe.ok || nprobe.pa !== 0x4800_0010n)
    throw new Error(`bench rig: nested translation broken: ${JSON.stringify(n.rig.smmu.debugSnapshot())}`);
  out.smmuColdNestedWalkPerSec = med(5, () =>
    rate(100_000, (i) => {
      n.rig.smmu.iotlb.invalidateAll();
      n.rig.smmu.translate(8, n.iova + (BigInt(i & 63) << 12n), false, NO_ATTRS);
    }),
  );
  out.smmuNestedIotlbHitPerSec = med(5, () =>
    rate(1_000_000, (i) => n.rig.smmu.translate(8, n.iova + (BigInt(i & 63) << 12n), false, NO_ATTRS)),
  );
  // 64 KiB DMA through the SMMU (16 pages, warm IOTLB) vs a plain 64 KiB copy
  const buf = new Uint8Array(64 * 1024);
  const src = new Uint8Array(64 * 1024).fill(0x5a);
  const mb = (perSec: number) => (perSec * buf.length) / 1e6;
  out.smmuDma64KiBReadMBps = med(5, () => mb(rate(5000, () => rig.dma.readBytes(iova, buf))));
  out.smmuDma64KiBWriteMBps = med(5, () => mb(rate(5000, () => rig.dma.writeBytes(iova, src))));
  out.plainRam64KiBReadMBps = med(5, () => mb(rate(5000, () => rig.sys.readBytes(0x4800_0000n, buf))));
  out.memcpy64KiBMBps = med(5, () => mb(rate(20000, () => buf.set(src))));
  return out;
}

/** Wall time of the edu-DMA program on one target: pipelined and serial (ms), plus the reply lines. */
async function endToEnd(
  target: TargetName,
  program: readonly string[],
): Promise<{ pipelinedMs: number; serialMs: number; replies: string[][] }> {
  const times: number[] = [];
  let replies: string[][] = [];
  for (let run = 0; run < 3; run++) {
    const inst = await launch({ target, args: SMMU_PROGRAM_ARGS, qmp: false });
    const t0 = process.hrtime.bigint();
    const r = await inst.qtest.batch(program, 120000);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    replies = r.replies;
    await inst.teardown();
  }
  const serial: number[] = [];
  for (let run = 0; run < 3; run++) {
    const inst = await launch({ target, args: SMMU_PROGRAM_ARGS, qmp: false });
    const t0 = process.hrtime.bigint();
    for (const line of program) await inst.qtest.request(line);
    serial.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await inst.teardown();
  }
  const m = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { pipelinedMs: m(times), serialMs: m(serial), replies };
}

export async function smmuEndToEndBenchmarks(dmas = 200): Promise<Record<string, number>> {
  const program = await eduDmaBenchProgram(dmas);
  const out: Record<string, number> = { e2eRequests: program.length };
  const q = await endToEnd('qtestd', program);
  out.e2eEduDmaQtestdPipelinedMs = q.pipelinedMs;
  out.e2eEduDmaQtestdSerialMs = q.serialMs;
  if (oracleAvailable) {
    const o = await endToEnd('oracle', program);
    out.e2eEduDmaQemuPipelinedMs = o.pipelinedMs;
    out.e2eEduDmaQemuSerialMs = o.serialMs;
    out.e2eEduDmaPipelinedRatio = q.pipelinedMs / o.pipelinedMs;
    out.e2eEduDmaSerialRatio = q.serialMs / o.serialMs;
    const same =
      q.replies.length === o.replies.length && q.replies.every((r, i) => r.join('\n') === o.replies[i]!.join('\n'));
    out.e2eRepliesIdentical = same ? 1 : 0;
  }
  return out;
}

export async function smmuBenchmarks(): Promise<Record<string, number>> {
  return { ...(await smmuEngineBenchmarks()), ...(await smmuEndToEndBenchmarks()) };
}

const isMain = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'));
if (isMain) {
  const r = await smmuBenchmarks();
  const targets: Record<string, number> = {
    smmuIotlbHitPerSec: 10e6,
    smmuColdS1WalkPerSec: 1e6,
    smmuColdNestedWalkPerSec: 0.2e6,
  };
  for (const [k, v] of Object.entries(r)) {
    const tgt = targets[k];
    const shown = k.endsWith('PerSec')
      ? `${(v / 1e6).toFixed(3)} M/s`
      : k.endsWith('MBps')
        ? `${v.toFixed(0)} MB/s`
        : k.endsWith('Ms')
          ? `${v.toFixed(1)} ms`
          : v.toFixed(2);
    process.stdout.write(
      `${k.padEnd(32)} ${shown}${tgt ? `   (target ${tgt / 1e6} M/s: ${v >= tgt ? 'met' : 'MISSED'})` : ''}\n`,
    );
  }
}
