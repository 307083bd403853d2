/**
 * The SMMU builder and queue helpers on the Secure SMMU (docs/secure-smmu.md) against the real
 * drop-in: Secure STE/CD/page tables written into Secure RAM through `withAttrs(client, 'secure')`,
 * both register banks programmed with enableSmmu, iommu-testdev (sec-sid=secure) DMA with Secure
 * attributes; a walk that leaves the Secure space at a chosen level (NSTable per level, lower
 * tables in Non-secure RAM) with a Non-secure leaf; `x-qtestd-smmu-state` shows both banks.
 * Builder unit checks (per-level NSTable and table memory, bank offsets) run on a fake memory.
 */
import t from 'tap';
import type { Test } from 'tap';
import { QtestClient } from '../../src/client/qtest-client.js';
import { QmpClient } from '../../src/client/qmp-client.js';
import { PciBus } from '../../src/client/pci.js';
import type { PciBar } from '../../src/client/pci.js';
import { withAttrs } from '../../src/client/attrs-memory.js';
import type { AttributedGuestMemory } from '../../src/client/attrs-memory.js';
import {
  DESC,
  GuestAllocator,
  LinearStreamTable,
  PageTableBuilder,
  VIRT_SECURE_RAM,
  writeCd,
} from '../../src/client/smmu-builder.js';
import { enableSmmu, linearStrtabRegisters, SMMU_S_REG, smmuBankBase } from '../../src/client/smmu-queues.js';
import { launchClient } from '../helpers/qtestd-fixture.js';
import { FakeMemory } from '../helpers/fake-guest-memory.js';

t.setTimeout(5 * 60_000); // a safety net only

// docs/secure-smmu.md: the author's secure-s1-only constants (Secure space: no 0x40000000 offset)
const IOVA = 0x80_8060_4567n;
const VTTB = 0x0e4d_0000n;
const CD = 0x0e17_8fc0n;
const STRTAB = 0x0e17_9000n;
const OUT = 0x0ecb_a567n;
const NS_OUT = 0x4ecb_a567n;
const DEV = { TRIGGERING: 0x00, GVA_LO: 0x04, GVA_HI: 0x08, LEN: 0x0c, RESULT: 0x10, DBELL: 0x14, ATTRS: 0x18 };
const ARGS = [
  '-machine',
  'virt,acpi=off,gic-version=3,iommu=smmuv3,secure=on',
  '-global',
  'arm-smmuv3.secure-impl=true',
  '-smp',
  '1',
  '-m',
  '512',
  '-cpu',
  'max',
  '-net',
  'none',
  '-device',
  'iommu-testdev,sec-sid=secure',
];

/** Records the attributes each access carries. */
class AttrsRecorder extends FakeMemory implements AttributedGuestMemory {
  readonly seen: string[] = [];
  override async writeq(a: bigint, v: bigint, attrs?: string) {
    this.seen.push(`writeq ${attrs ?? '-'}`);
    return super.writeq(a, v);
  }
  override async memset(a: bigint, n: number, b: number, attrs?: string) {
    this.seen.push(`memset ${attrs ?? '-'}`);
    return super.memset(a, n, b);
  }
}

t.test('builder: NSTable per level, lower tables in another space, leaf NS (fake memory)', async (t) => {
  const secure = new FakeMemory();
  const ns = new FakeMemory();
  const nsAlloc = new GuestAllocator(0x4e4d_0000n, 0x4e60_0000n);
  const pt = new PageTableBuilder(secure, new GuestAllocator(VTTB + 0x1000n, VTTB + 0x10_0000n), {
    stage: 1,
    granule: 4,
    inputBits: 48,
    root: VTTB,
    tableBits: (level) => (level === 1 ? DESC.NSTABLE : 0n),
    tableSpace: (level) => (level >= 1 ? { mem: ns, allocator: nsAlloc } : undefined),
    leafDefaults: { ns: true },
  });
  const leafAddr = await pt.map(IOVA & ~0xfffn, NS_OUT & ~0xfffn, 'rw');
  // L0 (Secure root) → L1 in Secure RAM without NSTable; L1 → L2 in NS RAM with NSTable; L2 → L3 in NS RAM
  t.equal(secure.load(VTTB + 8n, 8), (VTTB + 0x1000n) | 3n, 'L0[1]: Secure table, NSTable 0');
  t.equal(secure.load(VTTB + 0x1010n, 8), 0x4e4d_0000n | 3n | DESC.NSTABLE, 'L1[2]: NSTable 1 into NS RAM');
  t.equal(ns.load(0x4e4d_0018n, 8), 0x4e4d_1003n, 'L2[3] lives in NS memory');
  t.equal(leafAddr, 0x4e4d_1020n, 'the leaf is in the NS level-3 table');
  t.equal(ns.load(leafAddr, 8), 0x4ecb_a763n, 'leaf NS=1, AF, SH 3, RW');
  t.equal(await pt.descriptorAddress(IOVA & ~0xfffn), leafAddr);
  t.equal(await pt.unmap(IOVA & ~0xfffn), leafAddr);
  t.equal(ns.load(leafAddr, 8), 0n, 'unmap writes the NS table');
  t.equal(secure.writes.filter((w) => w.startsWith('writeq')).length, 2, 'two descriptors in Secure memory');

  // withAttrs puts the attribute on every access; enableSmmu's Secure bank is +0x8000
  const rec = new AttrsRecorder();
  const sec = withAttrs(rec, 'secure');
  await sec.writeq(0x0e00_0000n, 1n);
  await sec.memset(0x0e00_0000n, 4, 0);
  t.same(rec.seen, ['writeq secure', 'memset secure']);
  t.equal(smmuBankBase('secure'), 0x0905_8000n);
  const fake = new FakeMemory();
  const e = await enableSmmu(fake, {
    bank: 'secure',
    cmdq: { base: 0x0e16_b000n, log2size: 10 },
    eventq: { base: 0x0e17_0000n, log2size: 10 },
    strtab: linearStrtabRegisters(STRTAB, 5),
  });
  t.equal(e.bankBase, 0x0905_8000n);
  t.same(fake.writes, [
    'writel 0x9058044 0x80000000',
    'writel 0x9058020 0x0',
    'writel 0x9058028 0xd75',
    'writeq 0x9058090 0xe16b00a',
    'writel 0x905809c 0x0',
    'writel 0x9058098 0x0',
    'writeq 0x90580a0 0xe17000a',
    'writel 0x90580a8 0x0',
    'writel 0x90580ac 0x0',
    'writel 0x9058088 0x5',
    'writeq 0x9058080 0xe179000',
    'writel 0x9058020 0xd',
  ]);
});

async function dma(pci: PciBus, bar: PciBar, gpa: bigint, attrs: number): Promise<number> {
  for (const [reg, v] of [
    [DEV.GVA_LO, Number(IOVA & 0xffff_ffffn)],
    [DEV.GVA_HI, Number(IOVA >> 32n)],
    [0x1c, Number(gpa & 0xffff_ffffn)],
    [0x20, Number(gpa >> 32n)],
    [DEV.LEN, 4],
    [DEV.ATTRS, attrs],
    [DEV.DBELL, 1],
  ] as const)
    await pci.barWritel(bar, reg, v);
  await pci.barReadl(bar, DEV.TRIGGERING);
  let r = await pci.barReadl(bar, DEV.RESULT);
  for (let i = 0; i < 1000 && r === 0xffff_fffe; i++) r = await pci.barReadl(bar, DEV.RESULT);
  return r;
}

/** Launch, find and map iommu-testdev, write the Secure STE/CD, program both banks; `tables` builds the S1 tables. */
async function secureScenario(
  t: Test,
  tables: (q: QtestClient) => Promise<void>,
  check: (q: QtestClient, pci: PciBus, bar: PciBar, qmpPath: string) => Promise<void>,
): Promise<void> {
  const l = await launchClient({ args: ARGS });
  const q = l.qtest;
  try {
    const sec = withAttrs(q, 'secure');
    const pci = new PciBus(q);
    const dev = (await pci.findDevice(0x1b36, 0x0005))!;
    t.equal(dev.devfn, 8, 'iommu-testdev at 00:01.0');
    await pci.enable(dev);
    const bar = await pci.mapBar(dev, 0);
    const strtab = new LinearStreamTable(sec, STRTAB, 5);
    t.equal(await strtab.writeSte(dev.devfn, { V: 1, Config: 5, S1ContextPtr: CD }), 0x0e17_9200n);
    t.same(
      [...(await q.read(0x0e17_9200n, 8, 'secure'))],
      [0xcb, 0x8f, 0x17, 0x0e, 0, 0, 0, 0],
      'the STE is in Secure RAM (word 0 0x0e178fcb)',
    );
    await writeCd(
      sec,
      CD,
      { ASID: 0x1e20, AA64: 1, V: 1, A: 1, R: 1, IPS: 4, EPD1: 1, T0SZ: 0x10, NSCFG0: 0, NSCFG1: 0, TTB0: VTTB },
      true,
    );
    await tables(q);
    await enableSmmu(q, {
      cmdq: { base: 0x4e16_b000n, log2size: 10 },
      eventq: { base: 0x4e17_0000n, log2size: 10 },
      strtab: linearStrtabRegisters(0x4e17_9000n, 5),
    });
    const s = await enableSmmu(sec, {
      bank: 'secure',
      cmdq: { base: 0x0e16_b000n, log2size: 10 },
      eventq: { base: 0x0e17_0000n, log2size: 10 },
      strtab,
    });
    t.equal(await q.readl(s.bankBase + BigInt(SMMU_S_REG.S_IDR1)), 0x8000_0010n, 'S_IDR1');
    t.equal(await q.readl(s.bankBase + 0x24n), 0xdn, 'S_CR0ACK');
    await check(q, pci, bar, l.qmpPath);
  } finally {
    t.equal((await l.stop()).code, 0, 'exits 0 on SIGTERM');
  }
}

t.test('secure-s1-only built with the builder (live)', (t) =>
  secureScenario(
    t,
    async (q) => {
      const sec = withAttrs(q, 'secure');
      await sec.memset(OUT, 4, 0);
      const pt = new PageTableBuilder(sec, new GuestAllocator(VTTB + 0x1000n, VTTB + 0x10_0000n), {
        stage: 1,
        granule: 4,
        inputBits: 48,
        root: VTTB,
      });
      const leaf = await pt.map(IOVA & ~0xfffn, OUT & ~0xfffn, 'rw');
      t.equal(leaf, 0x0e4d_3020n, 'the author layout: leaf at 0x0e4d3020');
      t.equal(await q.readq(leaf, 'secure'), 0x0ecb_a743n, 'AP RW, AF, SH 3, NS 0 (no bit 58 here)');
    },
    async (q, pci, bar, qmpPath) => {
      t.equal(await dma(pci, bar, OUT, 0x9), 0, 'DMA with ATTRS 0x9 succeeds');
      t.same([...(await q.read(OUT, 4, 'secure'))], [0x78, 0x56, 0x34, 0x12], 'the bytes are in Secure RAM');
      t.equal(await q.readl(OUT), 0n, 'and not in the Non-secure view');
      const qmp = await QmpClient.connectUnix(qmpPath);
      try {
        await qmp.negotiate();
        const st = (await qmp.execute('x-qtestd-smmu-state', {})) as Record<string, unknown>;
        const sb = st.secureBank as { registers?: unknown; configCache?: { size: number } } | undefined;
        t.ok(st.registers && sb?.registers, 'x-qtestd-smmu-state shows both banks');
        t.equal(sb?.configCache?.size, 1, 'the Secure world cached the STE');
        t.equal((st.configCache as { size: number }).size, 0, 'the Non-secure world cached nothing');
        const decode = async (args: Record<string, unknown>) =>
          (await qmp.execute('x-qtestd-smmu-decode-stream', args)) as {
            smmuEnabled: boolean;
            streamTable: unknown;
            result: { ok: boolean; reason?: string };
            cached: boolean;
          };
        const sd = await decode({ sid: 8, 'sec-sid': 'secure' });
        t.match(sd, { smmuEnabled: true, result: { ok: true }, cached: true }, 'decode-stream sec-sid=secure');
        t.match(JSON.stringify(sd.streamTable), /0xe179000|236425216/, 'the Secure stream table');
        const nd = await decode({ sid: 8 });
        t.match(nd, { smmuEnabled: true, result: { ok: false }, cached: false }, 'the NS STE 8 is all zeros');
        await t.rejects(decode({ sid: 8, 'sec-sid': 'both' }), /Parameter 'sec-sid' expects 'non-secure' or 'secure'/);
      } finally {
        qmp.close();
      }
    },
  ),
);

t.test('a Secure walk leaving the Secure space at level 1, Non-secure leaf (live)', (t) =>
  secureScenario(
    t,
    async (q) => {
      const sec = withAttrs(q, 'secure');
      await q.memset(NS_OUT, 4, 0);
      const nsTables = { mem: q, allocator: new GuestAllocator(0x4e4d_0000n, 0x4e60_0000n) };
      const pt = new PageTableBuilder(sec, new GuestAllocator(VTTB + 0x1000n, VTTB + 0x10_0000n), {
        stage: 1,
        granule: 4,
        inputBits: 48,
        root: VTTB,
        tableBits: (level) => (level === 1 ? DESC.NSTABLE : 0n),
        tableSpace: (level) => (level >= 1 ? nsTables : undefined),
        leafDefaults: { ns: true },
      });
      await pt.map(IOVA & ~0xfffn, NS_OUT & ~0xfffn, 'rw');
      t.ok(VIRT_SECURE_RAM.base <= VTTB && VTTB < VIRT_SECURE_RAM.base + VIRT_SECURE_RAM.size, 'root in Secure RAM');
    },
    async (q, pci, bar) => {
      t.equal(await dma(pci, bar, NS_OUT, 0x9), 0, 'DMA succeeds');
      t.same([...(await q.read(NS_OUT, 4))], [0x78, 0x56, 0x34, 0x12], 'output in Non-secure RAM (leaf NS=1)');
    },
  ),
);
