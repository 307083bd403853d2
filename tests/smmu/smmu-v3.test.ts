import t from 'tap';
import { AddressSpace } from '../../src/memory/address-space.js';
import { DmaView } from '../../src/memory/dma-view.js';
import { SparseRam } from '../../src/memory/sparse-ram.js';
import { IrqLine } from '../../src/sim/irq.js';
import { silentLogger } from '../../src/base/log.js';
import { SmmuV3 } from '../../src/smmu/smmu-v3.js';
import { BLOCK, CDADDR, cmd, CMDQ, EVQ, FakeMemory, Harness, mapWalk, PAGE, REG, STRTAB } from './fixtures.js';

const TABLES = [0x4100_0000n, 0x4101_0000n, 0x4102_0000n, 0x4103_0000n];
const ZERO_EVENT = '00'.repeat(32);

t.test('SMMU disabled: identity with a 4 KiB mask, or abort with GBPA.ABORT (no event)', async (t) => {
  const h = new Harness();
  t.same(h.dma(8, 0x4800_1234n), { ok: true, pa: 0x4800_1234n, mask: 0xfffn });
  h.wl(REG.GBPA, 0x8010_0000);
  t.same(h.dma(8, 0x4800_1234n), { ok: false });
  t.same(h.pulses, []);
});

t.test('transcript smmu-edu-sid8: bypass STE, then C_BAD_STE per 4-byte chunk', async (t) => {
  const h = new Harness();
  const dma = new DmaView({ memory: h.mem, iommu: h.smmu, requesterId: () => 8, busMasterEnabled: () => true });
  h.mem.w32(0x4010_0200n, 0x9);
  h.wq(REG.STRTAB_BASE, 0x4010_0000n);
  h.wl(REG.STRTAB_BASE_CFG, 5);
  h.wq(REG.EVENTQ_BASE, 0x4020_0003n);
  h.wl(REG.IRQ_CTRL, 4);
  h.wl(REG.CR0, 5);
  h.mem.w64(0x4000_1000n, 0x2222_2222_2222_2222n);
  const buf = new Uint8Array(8);
  t.equal(dma.readBytes(0x4000_1000n, buf), 'ok');
  t.equal(Buffer.from(buf).toString('hex'), '2222222222222222');
  h.mem.w32(0x4010_0200n, 0);
  h.mem.w32(0x4010_0240n, 0x9);
  h.wq(REG.CMDQ_BASE, 0x4030_0003n);
  h.wl(REG.CR0, 0xd);
  h.mem.words(0x4030_0000n, [0x4, 0, 0x1f, 0]);
  h.wl(REG.CMDQ_PROD, 1);
  t.equal(h.rl(REG.GERROR), 0);
  t.equal(h.rl(REG.CMDQ_CONS), 1);
  t.equal(dma.readBytes(0x4000_1000n, buf), 'decode-error');
  t.equal(Buffer.from(buf).toString('hex'), '0000000000000000', 'failed reads yield zeros');
  t.equal(h.rl(REG.EVENTQ_PROD), 2);
  t.equal(h.mem.hex(0x4020_0000n, 32), '0400000008000000' + '00'.repeat(24));
  t.same(h.pulses, ['eventq', 'eventq']);
});

t.test('transcript irq-intercept-in-gic: events, CMDQ error, GERRORN resume with SYNC', async (t) => {
  const h = new Harness().enable({ cmdqLog2: 2 });
  h.dma(8, 0x4000_0000n);
  t.same(h.pulses, ['eventq']);
  h.pulses.length = 0;
  h.commands([cmd(0xff)]);
  t.same(h.pulses, ['gerror']);
  t.equal(h.rl(REG.GERROR), 1);
  t.equal(h.rl(REG.CMDQ_CONS), 0x0100_0000);
  h.pulses.length = 0;
  h.mem.words(CMDQ, cmd(0x46, 1 << 12));
  h.wl(REG.GERRORN, 1);
  t.same(h.pulses, ['cmdSync']);
  t.equal(h.rl(REG.CMDQ_CONS), 0x0100_0001, 'ERR stays until software rewrites CONS');
  h.wl(REG.CMDQ_CONS, 1);
  t.equal(h.rl(REG.CMDQ_CONS), 1);
});

t.test('stage 1: translation, page/block masks, IOTLB hit permission check', async (t) => {
  const h = new Harness().enable();
  h.ste(8, { config: 5, ctx: CDADDR });
  h.cd({ ttb0: TABLES[0], asid: 3 });
  const va = 0x1234_5678_9000n;
  mapWalk(h.mem, va, 0x4800_0000n, 12, 48, 0, 3, TABLES, (a) => PAGE(a, 2));
  mapWalk(h.mem, 0x1234_4000_0000n, 0x4820_0000n, 12, 48, 0, 2, TABLES);
  t.same(h.dma(8, va + 0x123n), { ok: true, pa: 0x4800_0123n, mask: 0xfffn });
  t.same(h.dma(8, 0x1234_4001_2345n), { ok: true, pa: 0x4821_2345n, mask: 0x1f_ffffn }, '2 MiB block');
  t.same(h.dma(8, va + 0x8n, true), { ok: false }, 'write to a read-only page, IOTLB hit');
  t.equal(
    h.event(0),
    '13000000' + '08000000' + '00000000' + '00020000' + '08907856' + '34120000' + '00'.repeat(8),
    'F_PERMISSION, RnW 0, CLASS IN, ADDR2 0',
  );
  const snap = h.smmu.debugSnapshot() as {
    iotlb: { size: number; hits: number; misses: number };
    configCache: { hits: number; misses: number };
  };
  t.match(snap.iotlb, { size: 2, hits: 1, misses: 2 });
  t.match(snap.configCache, { hits: 2, misses: 1 });
  h.commands([cmd(0x11, 0, (3 << 16) | 0)]);
  t.equal((h.smmu.debugSnapshot() as { iotlb: { size: number } }).iotlb.size, 0, 'TLBI_NH_ASID dropped both');
});

t.test('faults of unrecorded stages produce no event (CD.R = 0); walk aborts always do', async (t) => {
  const h = new Harness().enable();
  h.ste(8, { config: 5, ctx: CDADDR });
  h.cd({ ttb0: TABLES[0], r: 0 });
  t.same(h.dma(8, 0x1000n), { ok: false });
  t.equal(h.rl(REG.EVENTQ_PROD), 0);
  h.mem.w64(TABLES[0], 0x7000_0000n | 3n);
  h.commands([cmd(0x03, 0, 8)]);
  t.same(h.dma(8, 0x1000n), { ok: false });
  t.equal(
    h.event(0),
    '0b000000' + '08000000' + '00000000' + '08010000' + '00100000' + '00000000' + '00000070' + '00000000',
    'F_WALK_EABT CLASS TT',
  );
});

t.test('stage 2 only: write-only mapping refuses reads after a write filled the IOTLB (no event)', async (t) => {
  const h = new Harness().enable();
  h.ste(8, { config: 6, s2ttb: TABLES[0], s2t0sz: 25, s2sl0: 1 });
  mapWalk(h.mem, 0x1234_5000n, 0x4800_0000n, 12, 39, 1, 3, TABLES, (a) => PAGE(a, 2));
  t.match(h.dma(8, 0x1234_5010n, true), { ok: true, pa: 0x4800_0010n });
  t.same(h.dma(8, 0x1234_5010n, false), { ok: false });
  t.equal(h.rl(REG.EVENTQ_PROD), 0, 'the memory core refuses it, the SMMU records nothing');
  t.same(h.dma(8, 0x1000_0000_0000n), { ok: false }, 'IOVA ≥ 2^44: stage-1 fault, never recorded');
  t.equal(h.rl(REG.EVENTQ_PROD), 0);
});

t.test('stage-1-only SMMU rejects stage-2 STEs and S2 commands', async (t) => {
  const h = new Harness({ stage: '1' }).enable();
  t.equal(h.rl(REG.IDR0), 0x0d44101a);
  h.ste(8, { config: 6, s2ttb: TABLES[0] });
  t.same(h.dma(8, 0x1000n), { ok: false });
  t.equal(h.event(0).slice(0, 16), '0400000008000000');
  h.commands([cmd(0x28)]);
  t.equal(h.rl(REG.CMDQ_CONS), 0x0100_0000);
});

t.test('nested: CD behind a missing stage-2 mapping → F_TRANSLATION CLASS CD, S2 = 1', async (t) => {
  const h = new Harness().enable();
  h.ste(8, { config: 7, ctx: CDADDR, s2ttb: 0x4200_0000n, s2t0sz: 25, s2sl0: 1 });
  h.cd({ ttb0: TABLES[0] });
  t.same(h.dma(8, 0x1234_5678_9010n), { ok: false });
  t.equal(
    h.event(0),
    '10000000' + '08000000' + '00000000' + '88000000' + '10907856' + '34120000' + '00004040' + '00000000',
  );
  h.mem.w64(0x4200_0008n, BLOCK(0x4000_0000n, 3));
  mapWalk(h.mem, 0x1234_5678_9000n, 0x4800_0000n, 12, 48, 0, 3, TABLES);
  t.same(h.dma(8, 0x1234_5678_9010n), { ok: true, pa: 0x4800_0010n, mask: 0xfffn }, 'failed decodes are not cached');
});

t.test('event queue full: EVENTQ_ABT_ERR once, no overflow flag', async (t) => {
  const h = new Harness().enable({ evqLog2: 1 });
  for (let i = 0; i < 4; i++) h.dma(8, 0x1000n * BigInt(i + 1));
  t.equal(h.rl(REG.EVENTQ_PROD), 2);
  t.equal(h.rl(REG.GERROR), 4);
  t.same(h.pulses, ['eventq', 'eventq', 'gerror']);
  h.wl(REG.GERRORN, 4);
  h.wl(REG.EVENTQ_CONS, 2);
  h.dma(8, 0x9000n);
  t.equal(h.rl(REG.EVENTQ_PROD), 3);
});

t.test('event queue disabled: events dropped silently', async (t) => {
  const h = new Harness().enable({ cr0: 0x9 });
  h.dma(8, 0x1000n);
  t.equal(h.rl(REG.EVENTQ_PROD), 0);
  t.equal(h.rl(REG.GERROR), 0);
  t.same(h.pulses, []);
});

t.test('command fetch from the SMMU’s own registers is blocked (re-entrancy guard) → CERROR_ABT', async (t) => {
  const sys = new AddressSpace('memory');
  sys.map(0x4000_0000n, new SparseRam('ram', 0x2000_0000n));
  const irqs = {
    eventq: new IrqLine('e'),
    priq: new IrqLine('p'),
    cmdSync: new IrqLine('c'),
    gerror: new IrqLine('g'),
  };
  const smmu = new SmmuV3({ memory: sys, irqs, log: silentLogger() });
  sys.map(0x0905_0000n, smmu);
  smmu.write(0x90n, 8, 0x0905_0000n | 2n, {});
  smmu.write(0x20n, 4, 0x8n, {});
  smmu.write(0x98n, 4, 1n, {});
  t.equal(smmu.read(0x9cn, 4, {}), 0x0200_0000n);
});

t.test('debugSnapshot and decodeStreamForDebug are JSON and side-effect free', async (t) => {
  const h = new Harness().enable();
  h.ste(8, { config: 7, ctx: CDADDR, s2ttb: 0x4200_0000n, s2t0sz: 25, s2sl0: 1 });
  h.cd({ ttb0: TABLES[0] });
  h.mem.w64(0x4200_0008n, BLOCK(0x4000_0000n, 3));
  mapWalk(h.mem, 0x1000n, 0x4800_0000n, 12, 48, 0, 3, TABLES);
  const before = JSON.stringify(h.smmu.debugSnapshot());
  const d = h.smmu.decodeStreamForDebug(8) as {
    result: { ok: boolean; config: { kind: string } };
    steAddr: string;
    cdAddr: string;
  };
  t.match(d, { result: { ok: true, config: { kind: 'nested' } }, steAddr: '0x40100200', cdAddr: '0x40400000' });
  t.equal(JSON.stringify(h.smmu.debugSnapshot()), before, 'no cache fill, no counters');
  t.match(h.smmu.decodeStreamForDebug(9), { result: { ok: false, event: { type: 'C_BAD_STE' } } });
  t.equal(h.rl(REG.EVENTQ_PROD), 0, 'no events');
  t.match(h.dma(8, 0x1000n), { ok: true, pa: 0x4800_0000n });
  const snap = h.smmu.debugSnapshot() as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- a JSON snapshot probed by path
  t.equal(snap.registers.CR0, '0xd');
  t.equal(snap.queues.eventq.log2size, 3);
  t.equal(snap.configCache.entries[0].sid, 8);
  t.ok(snap.iotlb.entries.length >= 2, 'stage-2 descriptor translations are cached too');
  t.doesNotThrow(() => JSON.parse(JSON.stringify(snap)));
});

t.test('hostile inputs never throw and stay bounded', async (t) => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  const mem = new FakeMemory([
    [0n, 0x1_0000n],
    [0x4000_0000n, 0x4001_0000n],
  ]);
  const h = new Harness({ mem });
  const start = Date.now();
  for (let round = 0; round < 300; round++) {
    for (let i = 0; i < 8; i++) mem.w32(BigInt(rnd() % 0x1_0000) & ~3n, rnd() * 2);
    for (let i = 0; i < 3; i++) mem.w32(0x4000_0000n + (BigInt(rnd() % 0x1_0000) & ~3n), rnd() * 2);
    const off = [0x20, 0x44, 0x50, 0x64, 0x80, 0x84, 0x88, 0x90, 0x98, 0x9c, 0xa0, 0xa8, 0xac][rnd() % 13];
    if (rnd() % 4 === 0) h.wq(off & ~7, (BigInt(rnd()) << 33n) ^ BigInt(rnd()));
    else h.wl(off, rnd() * 2 + (rnd() & 1));
    h.wl(REG.CR0, 0xd);
    for (let i = 0; i < 4; i++)
      t.doesNotThrow(
        () => h.dma(rnd() & 0xffff, (BigInt(rnd()) << 32n) | BigInt(rnd()), (rnd() & 1) === 1),
        'translate',
      );
  }
  t.comment(`${Date.now() - start} ms`);
  void STRTAB;
  void EVQ;
  void ZERO_EVENT;
});
