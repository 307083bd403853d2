/**
 * End to end: the client library against the real drop-in (bin/qemu-system-aarch64) on real UNIX
 * sockets. RAM round trips, ECAM, clock, PCI scan, QMP negotiation; then the iommu-smmuv3-test
 * scenario (docs/smmu.md#the-upstream-test-sequence, stage 1) built with the SMMU builder; a missing `iommu-testdev` or SMMU
 * is a failure.
 */
import t from 'tap';
import type { Test } from 'tap';
import { QtestClient, QtestError } from '../../src/client/qtest-client.js';
import { QmpClient } from '../../src/client/qmp-client.js';
import { PciBus } from '../../src/client/pci.js';
import { DESC, GuestAllocator, LinearStreamTable, PageTableBuilder, writeCd } from '../../src/client/smmu-builder.js';
import { CMD, enableSmmu } from '../../src/client/smmu-queues.js';
import { LaunchError, launchClient, VIRT_SMMU_ARGS } from '../helpers/qtestd-fixture.js';

type Tap = Test;
const MACHINE = VIRT_SMMU_ARGS;

interface Running {
  qtest: QtestClient;
  qmpPath: string;
  stop(): Promise<number | null>;
}
type Launch = { ok: true; run: Running } | { ok: false; stderr: string; code: number | null };

/** The drop-in through the shared fixture; a failed start is reported with its stderr and exit code. */
async function launch(extra: string[], machine: readonly string[] = MACHINE): Promise<Launch> {
  try {
    const l = await launchClient({ args: [...machine, ...extra] });
    return { ok: true, run: { qtest: l.qtest, qmpPath: l.qmpPath, stop: async () => (await l.stop()).code } };
  } catch (e) {
    if (!(e instanceof LaunchError)) throw e;
    return { ok: false, stderr: e.stderr, code: e.exitCode };
  }
}

t.test('basic session against the drop-in', async (t) => {
  const l = await launch([]);
  if (!l.ok) {
    t.fail(`launcher exited ${l.code}: ${l.stderr}`);
    return;
  }
  const { qtest: q, qmpPath, stop } = l.run;
  try {
    await basicChecks(t, q, qmpPath);
  } finally {
    t.equal(await stop(), 0, 'exits 0 on SIGTERM');
  }
});

async function basicChecks(t: Tap, q: QtestClient, qmpPath: string): Promise<void> {
  t.equal(await q.endianness(), 'little');
  // RAM round trips in every width and form
  await q.writeq(0x4000_0000n, 0x1122_3344_5566_7788n);
  t.equal(await q.readq(0x4000_0000n), 0x1122_3344_5566_7788n);
  t.equal(await q.readl(0x4000_0004n), 0x1122_3344n);
  t.equal(await q.readw(0x4000_0002n), 0x5566n);
  t.equal(await q.readb(0x4000_0000n), 0x88n);
  t.same([...(await q.read(0x4000_0000n, 4))], [0x88, 0x77, 0x66, 0x55]);
  await q.write(0x4000_1000n, Uint8Array.of(1, 2, 3, 0xff));
  t.equal(await q.readl(0x4000_1000n), 0xff03_0201n);
  await q.b64write(0x4000_2000n, Uint8Array.of(0x78, 0x56, 0x34, 0x12));
  t.same([...(await q.b64read(0x4000_2000n, 4))], [0x78, 0x56, 0x34, 0x12]);
  await q.memset(0x4000_3000n, 16, 0xa5);
  t.equal(await q.readq(0x4000_3008n), 0xa5a5_a5a5_a5a5_a5a5n);
  // pipelined: 2,000 writes then 2,000 reads in flight at once
  const addrs = Array.from({ length: 2000 }, (_, i) => 0x4100_0000n + BigInt(i) * 8n);
  await Promise.all(addrs.map((a, i) => q.writeq(a, BigInt(i) * 0x0101_0101n)));
  const back = await Promise.all(addrs.map((a) => q.readq(a)));
  t.ok(
    back.every((v, i) => v === BigInt(i) * 0x0101_0101n),
    'pipelined RAM round trips',
  );
  // ECAM: gpex root 1b36:0008 at 00:00.0
  t.equal(await q.readl(0x40_1000_0000n), 0x0008_1b36n);
  const pci = new PciBus(q);
  const root = await pci.findDevice(0x1b36, 0x0008);
  t.same(root, { devfn: 0, vendorId: 0x1b36, deviceId: 0x0008 });
  // clock
  const t0 = await q.clockStep(1000n);
  t.equal(await q.clockStep(500), t0 + 500n);
  t.equal(await q.clockSet(t0 + 10_000n), t0 + 10_000n);
  const failure = await q.clockSet(0n).catch((e: unknown) => e);
  t.ok(failure instanceof QtestError && (failure.line ?? '').startsWith('FAIL'), 'clock_set into the past: FAIL');
  t.equal(await q.inb(0), 0xff, 'unassigned port reads all-ones');
  // QMP greeting and negotiation
  const qmp = await QmpClient.connectUnix(qmpPath);
  t.teardown(() => qmp.close());
  const g = await qmp.negotiate();
  t.equal(g.QMP.version.qemu.major, 10);
}

// docs/smmu.md#the-upstream-test-sequence constants (+0x40000000 NS offset applied)
const IOVA = 0x80_8060_4567n;
const OUT_GPA = 0x4ecb_a567n;
const VTTB = 0x4e4d_0000n;
const CD_GPA = 0x4e17_8fc0n;
const DEV = {
  TRIGGERING: 0x00,
  GVA_LO: 0x04,
  GVA_HI: 0x08,
  LEN: 0x0c,
  RESULT: 0x10,
  DBELL: 0x14,
  ATTRS: 0x18,
  GPA_LO: 0x1c,
  GPA_HI: 0x20,
} as const;

t.test('iommu-testdev stage-1 DMA through the SMMU (upstream sequence)', async (t) => {
  const l = await launch(['-device', 'iommu-testdev']);
  if (!l.ok) {
    t.fail(`launcher exited ${l.code}: ${l.stderr}`);
    return;
  }
  const { qtest: q, stop } = l.run;
  try {
    await smmuScenario(t, q);
  } finally {
    t.equal(await stop(), 0, 'exits 0 on SIGTERM');
  }
});

async function smmuScenario(t: Tap, q: QtestClient): Promise<void> {
  const pci = new PciBus(q);
  const dev = await pci.findDevice(0x1b36, 0x0005);
  if (!dev) {
    t.fail('iommu-testdev not found on bus 0');
    return;
  }
  await pci.enable(dev);
  const bar = await pci.mapBar(dev, 0);
  t.notOk(bar.isIo, 'BAR0 is MMIO');
  await q.memset(OUT_GPA, 4, 0);
  const strtab = new LinearStreamTable(q, 0x4e17_9000n, 5);
  await strtab.writeSte(dev.devfn, {
    V: 1,
    Config: 5,
    S1ContextPtr: CD_GPA,
    S2T0SZ: 0x14,
    S2SL0: 2,
    S2TG: 0,
    S2PS: 5,
    S2AA64: 1,
    S2TTB: VTTB,
  });
  await writeCd(
    q,
    CD_GPA,
    { ASID: 0x1e20, AA64: 1, V: 1, A: 1, IPS: 4, EPD1: 1, T0SZ: 0x10, TG0: 0, NSCFG0: 1, NSCFG1: 1, R: 1, TTB0: VTTB },
    true,
  );
  const s1 = new PageTableBuilder(q, new GuestAllocator(VTTB + 0x1000n, VTTB + 0x10_0000n), {
    stage: 1,
    granule: 4,
    inputBits: 48,
    root: VTTB,
    tableBits: DESC.NSTABLE,
    leafDefaults: { ns: true, extra: 1n << 58n },
  });
  await s1.map(IOVA & ~0xfffn, OUT_GPA & ~0xfffn, 'rw');
  const smmu = await enableSmmu(q, {
    cmdq: { base: 0x4e16_b000n, log2size: 10 },
    eventq: { base: 0x4e17_0000n, log2size: 10 },
    strtab,
  });
  const dma = async (): Promise<number> => {
    for (const [reg, v] of [
      [DEV.GVA_LO, 0x8060_4567],
      [DEV.GVA_HI, 0x80],
      [DEV.GPA_LO, 0x4ecb_a567],
      [DEV.GPA_HI, 0],
      [DEV.LEN, 4],
      [DEV.ATTRS, 0xa],
      [DEV.DBELL, 1],
    ] as const)
      await pci.barWritel(bar, reg, v);
    await pci.barReadl(bar, DEV.TRIGGERING);
    let r = await pci.barReadl(bar, DEV.RESULT);
    for (let i = 0; i < 1000 && r === 0xffff_fffe; i++) r = await pci.barReadl(bar, DEV.RESULT);
    return r;
  };
  t.equal(await dma(), 0, 'DMA result OK');
  t.same([...(await q.read(OUT_GPA, 4))], [0x78, 0x56, 0x34, 0x12]);
  t.same(await smmu.eventq.poll(), [], 'no events');
  // unmap the page, invalidate, and the same DMA now faults with F_TRANSLATION (CD.R = 1)
  await s1.unmap(IOVA & ~0xfffn);
  await smmu.cmdq.submit(
    CMD.CMD_CFGI_ALL(),
    CMD.CMD_TLBI_NH_VA(0x1e20, { addr: IOVA & ~0xfffn, leaf: true }),
    CMD.CMD_SYNC(),
  );
  t.match(await smmu.cmdq.status(), { err: 0, drained: true });
  t.equal(await dma(), 0xdead_0002, 'TX_FAIL after unmap');
  const events = await smmu.eventq.poll();
  t.match(events[0], { name: 'F_TRANSLATION', sid: dev.devfn, inputAddr: IOVA, s2: 0 });
}

t.test('SMMU register programming and command queue on the drop-in SMMU (no device needed)', async (t) => {
  const l = await launch([]);
  if (!l.ok) {
    t.fail(`launcher exited ${l.code}: ${l.stderr}`);
    return;
  }
  const { qtest: q, stop } = l.run;
  try {
    const strtab = new LinearStreamTable(q, 0x4e17_9000n, 5);
    await strtab.clear();
    const smmu = await enableSmmu(q, {
      cmdq: { base: 0x4e16_b000n, log2size: 10 },
      eventq: { base: 0x4e17_0000n, log2size: 10 },
      strtab,
    });
    t.equal(await q.readl(0x0905_0024n), 0xdn, 'CR0ACK = SMMUEN|EVENTQEN|CMDQEN');
    t.equal(await q.readq(0x0905_0090n), 0x4e16_b00an, 'CMDQ_BASE reads back');
    t.equal(await q.readl(0x0905_0088n), 5n, 'STRTAB_BASE_CFG reads back');
    await smmu.cmdq.submit(
      CMD.CMD_CFGI_ALL(),
      CMD.CMD_CFGI_STE(8),
      CMD.CMD_CFGI_CD(8),
      CMD.CMD_TLBI_NH_ALL(0),
      CMD.CMD_TLBI_NH_VA(0x1e20, { addr: IOVA & ~0xfffn, leaf: true }),
      CMD.CMD_TLBI_S12_VMALL(0),
      CMD.CMD_TLBI_NSNH_ALL(),
      CMD.CMD_SYNC(),
    );
    t.same(await smmu.cmdq.status(), { cons: 8, err: 0, drained: true }, 'all eight consumed');
    // opcode 0x07 (QEMU's CFGI_ALL enum value) is illegal: CONS stops on it with ERR = CERROR_ILL
    const illegal = new Uint8Array(16);
    illegal[0] = 0x07;
    await smmu.cmdq.submit(illegal, CMD.CMD_SYNC());
    t.same(await smmu.cmdq.status(), { cons: 8, err: 1, drained: false }, 'stopped at the illegal command');
    t.equal((await q.readl(0x0905_0060n)) & 1n, 1n, 'GERROR.CMDQ_ERR toggled');
    t.same(await smmu.eventq.poll(), [], 'no events');
  } finally {
    t.equal(await stop(), 0, 'exits 0 on SIGTERM');
  }
});
