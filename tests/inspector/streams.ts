/**
 * A machine programmed through the typed client for the inspector tests: the SMMU enabled with a
 * linear stream table and
 *   sid 16  stage 1 (4K, 48-bit input: levels 0..3), IOVA STREAMS.s1.input → STREAMS.s1.output
 *   sid 24  stage 2 (4K, 40-bit IPA: levels 0..3), IPA STREAMS.s2.input → STREAMS.s2.output
 *   sid 32  nested: stage 1 tables, CD and output IPAs all through stage 2, IOVA STREAMS.nested.input → STREAMS.nested.output
 *   sid 8   edu (00:01.0) with the stage-1 configuration of sid 16, for a DMA that faults
 * All in guest RAM above QEMU's DTB area.
 */
import type { QtestClient } from '../../src/client/qtest-client.js';
import { PciBus } from '../../src/client/pci.js';
import { GuestAllocator, LinearStreamTable, PageTableBuilder, writeCd } from '../../src/client/smmu-builder.js';
import { enableSmmu } from '../../src/client/smmu-queues.js';
import type { EnabledSmmu } from '../../src/client/smmu-queues.js';

export const INSPECTOR_MACHINE =
  '-machine virt,acpi=off,gic-version=3,iommu=smmuv3 -cpu max -m 512 -net none -device edu,dma_mask=0xffffffffffffffff';

/** The streams the inspector tests translate: StreamID, input address (IOVA or IPA), where it lands. */
export const STREAMS = {
  s1: { sid: 16, input: 0x12_3456_7000n, output: 0x4400_0000n },
  s2: { sid: 24, input: 0x5000_0000n, output: 0x4401_0000n },
  nested: { sid: 32, input: 0x8000_0000n, output: 0x4402_0000n },
} as const;
/** The stage-2 output of the nested stream's stage 1. */
const NESTED_IPA = 0x4160_0000n;
/**
 * edu (00:01.0) with the stage-1 configuration of sid 16; faultIova is not mapped there, so a DMA
 * from it is F_TRANSLATION (CD.R = 1).
 */
export const EDU = { sid: 8, faultIova: 0x9999_0000n } as const;

const CD_S1 = 0x4103_0000n;
const CD_NESTED_IPA = 0x4150_0000n;

export interface ProgrammedStreams {
  s1: PageTableBuilder;
  s2: PageTableBuilder;
  nestedS1: PageTableBuilder;
  nestedS2: PageTableBuilder;
  smmu: EnabledSmmu;
  /** An edu DMA from `iova` (RAM → edu buffer), completed with clock_step. */
  eduDma(iova: bigint): Promise<void>;
}

export async function programStreams(q: QtestClient): Promise<ProgrammedStreams> {
  const strtab = new LinearStreamTable(q, 0x4100_0000n, 6);
  // stage 1
  const s1 = new PageTableBuilder(q, new GuestAllocator(0x4110_0000n, 0x4120_0000n), {
    stage: 1,
    granule: 4,
    inputBits: 48,
  });
  await s1.map(STREAMS.s1.input, STREAMS.s1.output, 'rw');
  const cd = { ASID: 0x11, AA64: 1, V: 1, A: 1, IPS: 4, EPD1: 1, T0SZ: 16, TG0: 0, R: 1 } as const;
  await writeCd(q, CD_S1, { ...cd, TTB0: s1.root });
  await strtab.writeSte(STREAMS.s1.sid, { V: 1, Config: 5, S1ContextPtr: CD_S1 });
  await strtab.writeSte(EDU.sid, { V: 1, Config: 5, S1ContextPtr: CD_S1 });
  // stage 2
  const s2opts = { stage: 2 as const, granule: 4 as const, inputBits: 40 };
  const s2 = new PageTableBuilder(q, new GuestAllocator(0x4120_0000n, 0x4130_0000n), s2opts);
  await s2.map(STREAMS.s2.input, STREAMS.s2.output, 'rw');
  const ste2 = (s2b: PageTableBuilder, vmid: number) => ({
    S2VMID: vmid,
    S2T0SZ: 24,
    S2SL0: s2b.sl0,
    S2TG: 0,
    S2PS: 5,
    S2AA64: 1,
    S2R: 1,
    S2TTB: s2b.root,
  });
  await strtab.writeSte(STREAMS.s2.sid, { V: 1, Config: 6, ...ste2(s2, 3) });
  // nested: stage 2 maps the stage-1 tables' pages, the CD's page and the output IPA
  const nestedS2 = new PageTableBuilder(q, new GuestAllocator(0x4130_0000n, 0x4140_0000n), s2opts);
  await nestedS2.mapRange(0x4140_0000n, 0x4140_0000n, 0x10000n, 'rw');
  await nestedS2.map(CD_NESTED_IPA, CD_NESTED_IPA, 'r');
  await nestedS2.map(NESTED_IPA, STREAMS.nested.output, 'rw');
  const nestedS1 = new PageTableBuilder(q, new GuestAllocator(0x4140_0000n, 0x4141_0000n), {
    stage: 1,
    granule: 4,
    inputBits: 48,
  });
  await nestedS1.map(STREAMS.nested.input, NESTED_IPA, 'rw');
  await writeCd(q, CD_NESTED_IPA, { ...cd, ASID: 0x22, TTB0: nestedS1.root });
  await strtab.writeSte(STREAMS.nested.sid, { V: 1, Config: 7, S1ContextPtr: CD_NESTED_IPA, ...ste2(nestedS2, 5) });

  const smmu = await enableSmmu(q, {
    cmdq: { base: 0x4101_0000n, log2size: 4 },
    eventq: { base: 0x4102_0000n, log2size: 4 },
    strtab,
  });
  const pci = new PciBus(q);
  const edu = await pci.findDevice(0x1234, 0x11e8);
  if (!edu) throw new Error('edu not found on bus 0');
  await pci.enable(edu);
  const bar = await pci.mapBar(edu, 0);
  const eduDma = async (iova: bigint): Promise<void> => {
    await pci.barWriteq(bar, 0x80, iova);
    await pci.barWriteq(bar, 0x88, 0x40000n);
    await pci.barWriteq(bar, 0x90, 8n);
    await pci.barWriteq(bar, 0x98, 1n);
    await q.clockStep();
  };
  return { s1, s2, nestedS1, nestedS2, smmu, eduDma };
}

/** The descriptors a walk of `pt` reads for `ia`, by level (start level … 3). */
export async function walkDescriptors(q: QtestClient, pt: PageTableBuilder, ia: bigint): Promise<bigint[]> {
  const out: bigint[] = [];
  for (let level = pt.startLevel; level <= 3; level++) {
    const at = await pt.descriptorAddress(ia, level);
    if (at === undefined) throw new Error(`no level-${level} descriptor for 0x${ia.toString(16)}`);
    out.push(await q.readq(at));
  }
  return out;
}
