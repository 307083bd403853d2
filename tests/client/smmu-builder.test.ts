import t from 'tap';
import {
  aarch64Stage1Cd,
  cdDwords,
  DESC,
  GuestAllocator,
  leafDescriptor,
  LinearStreamTable,
  PageTableBuilder,
  steDwords,
  tableDescriptor,
  TwoLevelStreamTable,
  writeCd,
  writeSte,
} from '../../src/client/smmu-builder.js';
import {
  CMD,
  CommandQueue,
  decodeEventRecord,
  enableSmmu,
  EventQueue,
  linearStrtabRegisters,
} from '../../src/client/smmu-queues.js';
import { FakeMemory } from '../helpers/fake-guest-memory.js';
import { bytesHex as hex } from '../helpers/bytes.js';

// Constants and expected values restated from docs/smmu.md and docs/devices.md#smmu-testdev (not imported).
const NS = 0x4000_0000n;
const STR_TAB = 0x0e17_9000n + NS;
const CD_GPA = 0x0e17_8fc0n + NS;
const VTTB = 0x0e4d_0000n + NS;
const IOVA = 0x0000_0080_8060_4567n;
const OUT_PAGE = 0x0e_cba_000n + NS;
const SW_BIT58 = 1n << 58n;

/** §9.5 step 5 STE: V=1, Config, S2T0SZ 0x14, S2SL0 2, S2TG 0, S2PS 5, S2AA64 1, CTXPTR, S2TTB. */
const ste95 = (config: number) => ({
  V: 1,
  Config: config,
  S1ContextPtr: CD_GPA,
  S2T0SZ: 0x14,
  S2SL0: 2,
  S2TG: 0,
  S2PS: 5,
  S2AA64: 1,
  S2ENDI: 0,
  S2AFFD: 0,
  S2TTB: VTTB,
});
/** §9.5 step 5 CD. */
const cd95 = {
  ASID: 0x1e20,
  AA64: 1,
  V: 1,
  A: 1,
  S: 0,
  HD: 0,
  HA: 0,
  IPS: 4,
  TBI: 0,
  AFFD: 0,
  EPD0: 0,
  EPD1: 1,
  T0SZ: 0x10,
  TG0: 0,
  ENDI: 0,
  NSCFG0: 1,
  NSCFG1: 1,
  R: 1,
  TTB0: VTTB,
};

t.test('STE images of §9.5 (and §9.3) as 64-bit words', async (t) => {
  // w0 = CTXPTR[31:6] | Config<<1 | V; w5 = 0x14 | 2<<6 | 5<<16 | 1<<19 = 0x000d0094; w6 = S2TTB.
  t.same(steDwords(ste95(5)), [0x4e178fcbn, 0n, 0x000d0094_00000000n, 0x4e4d0000n, 0n, 0n, 0n, 0n]);
  t.equal(steDwords(ste95(6))[0], 0x4e178fcdn);
  t.equal(steDwords(ste95(7))[0], 0x4e178fcfn);
  t.equal(steDwords({ ...ste95(5), S1ContextPtr: 0x4e179080n })[0], 0x4e17908bn, '§9.3 CD_GPA');
  // high halves of the address fields and the VMID
  const hi = steDwords({
    V: 1,
    Config: 6,
    S2VMID: 0xabcd,
    S2TTB: 0x0000_1234_5678_9ab0n,
    S1ContextPtr: 0x00ab_cdef_1234_5640n,
    S1CDMax: 0,
  });
  t.equal(hi[0], 0x00abcdef_1234564dn);
  t.equal(hi[2] & 0xffffn, 0xabcdn);
  t.equal(hi[3], 0x0000_1234_5678_9ab0n);
});

t.test('CD images of §9.5 and §9.3 as 64-bit words', async (t) => {
  // w0 = T0SZ 0x10 | EPD1<<30 | V<<31 = 0xc0000010; w1 = IPS 4 | AA64<<9 | R<<13 | A<<14 | ASID<<16 = 0x1e206204
  t.same(cdDwords(cd95), [0x1e206204_c0000010n, 0x4e4d0001n, 0x1n, 0n, 0n, 0n, 0n, 0n]);
  t.same(cdDwords({ ...cd95, NSCFG0: 0, NSCFG1: 0 }).slice(0, 3), [0x1e206204_c0000010n, 0x4e4d0000n, 0n]);
  t.equal(cdDwords({ TTB1: 0x0000_0abc_def0_1230n, T1SZ: 0x19, TG1: 2, TBI: 1 })[2], 0x00000abc_def01230n);
  t.equal(cdDwords({ T1SZ: 0x19, TG1: 2, TBI: 1 })[0], 0x00000040_00990000n);
});

t.test('aarch64Stage1Cd: 48-bit TTB0 walks, 4K granule, TTB1 off, 48-bit IPS, R and A', async (t) => {
  // w0 = T0SZ 16 | TG1 2<<22 | EPD1<<30 | V<<31; w1 = IPS 5 | AA64<<9 | R<<13 | A<<14 | ASID 7<<16
  t.same(cdDwords(aarch64Stage1Cd(0x4e4d_0000n, 7)).slice(0, 3), [0x00076205_c0800010n, 0x4e4d0000n, 0n]);
  t.same(cdDwords({ ...aarch64Stage1Cd(0x4e4d_0000n, 7), IPS: 4 })[0], 0x00076204_c0800010n, 'fields override');
});

t.test('writeSte / writeCd write all 16 words with writel; writeCd verifies', async (t) => {
  const m = new FakeMemory();
  await writeSte(m, STR_TAB + 0x200n, ste95(5));
  t.equal(m.writes.length, 16);
  t.equal(m.writes[0], 'writel 0x4e179200 0x4e178fcb');
  t.equal(m.writes[10], 'writel 0x4e179228 0x0');
  t.equal(m.writes[11], 'writel 0x4e17922c 0x0');
  t.equal(m.writes[15], 'writel 0x4e17923c 0x0');
  const c = new FakeMemory();
  await writeCd(c, CD_GPA, cd95, true);
  t.equal(c.log.filter((l) => l.startsWith('readl')).length, 16);
  t.equal(c.writes[1], 'writel 0x4e178fc4 0x1e206204');
  const broken = new FakeMemory();
  broken.writel = async () => undefined; // writes get lost
  await t.rejects(writeCd(broken, CD_GPA, cd95, true), /CD word 0/);
});

t.test('4K stage-1 tables reproduce the §9.5 S1 walk entries', async (t) => {
  for (const [perms, leaf] of [
    ['rw', 0x04000000_4ecba763n],
    ['r', 0x04000000_4ecba7e3n],
  ] as const) {
    const m = new FakeMemory();
    const alloc = new GuestAllocator(VTTB + 0x1000n, VTTB + 0x10000n);
    const pt = new PageTableBuilder(m, alloc, {
      stage: 1,
      granule: 4,
      inputBits: 64 - 0x10,
      root: VTTB,
      tableBits: DESC.NSTABLE,
      leafDefaults: { ns: true, extra: SW_BIT58 },
    });
    t.equal(pt.startLevel, 0);
    await pt.map(IOVA & ~0xfffn, OUT_PAGE, perms);
    t.same(
      m.writes.filter((w) => w.startsWith('writeq')),
      [
        'writeq 0x4e4d0008 0x800000004e4d1003',
        'writeq 0x4e4d1010 0x800000004e4d2003',
        'writeq 0x4e4d2018 0x800000004e4d3003',
        `writeq 0x4e4d3020 0x${leaf.toString(16)}`,
      ],
      `perms ${perms}`,
    );
    t.equal(await pt.descriptorAddress(IOVA & ~0xfffn), 0x4e4d3020n);
  }
});

t.test('4K stage-2 tables reproduce the §9.5 S2 entries for the output page', async (t) => {
  const m = new FakeMemory();
  const alloc = new GuestAllocator(VTTB + 0x1000n, VTTB + 0x10000n);
  const pt = new PageTableBuilder(m, alloc, {
    stage: 2,
    granule: 4,
    inputBits: 64 - 0x14,
    root: VTTB,
    tableBits: DESC.NSTABLE,
    leafDefaults: { ns: true, extra: SW_BIT58 },
  });
  t.equal(pt.sl0, 2, 'S2SL0 2 = start level 0 with 4K and a 44-bit IPA');
  await pt.map(OUT_PAGE, OUT_PAGE, 'rw');
  t.same(
    m.writes.filter((w) => w.startsWith('writeq')),
    [
      'writeq 0x4e4d0000 0x800000004e4d1003',
      'writeq 0x4e4d1008 0x800000004e4d2003',
      'writeq 0x4e4d23b0 0x800000004e4d3003',
      'writeq 0x4e4d35d0 0x40000004ecba7e3',
    ],
  );
  // S2 read-only identity leaf value of §9.5 (S2AP = 0b01)
  t.equal(leafDescriptor(2, VTTB, 'r', { ns: true, extra: SW_BIT58 }), 0x04000000_4e4d0763n);
  t.equal(tableDescriptor(0x4e4d1000n, DESC.NSTABLE), 0x80000000_4e4d1003n);
});

t.test('16K stage-1 and 64K / concatenated stage-2 index arithmetic', async (t) => {
  // 16K, T0SZ 16: start level 0 (1 index bit); indices of 0x8080604000: L0 0, L1 0x8, L2 0x40, L3 0x181
  {
    const m = new FakeMemory();
    const alloc = new GuestAllocator(0x4100_0000n, 0x4200_0000n);
    const pt = new PageTableBuilder(m, alloc, { stage: 1, granule: 16, inputBits: 48 });
    t.equal(pt.startLevel, 0);
    t.equal(pt.root, 0x4100_0000n);
    await pt.map(0x80_8060_4000n, 0x4ecb_8000n, 'rw', { user: false, sh: 0 });
    t.same(
      m.writes.filter((w) => w.startsWith('writeq')),
      [
        'writeq 0x41000000 0x41004003',
        'writeq 0x41004040 0x41008003',
        'writeq 0x41008200 0x4100c003',
        'writeq 0x4100cc08 0x4ecb8403', // AP 0b00, SH 0, AF
      ],
    );
    await t.rejects(pt.map(0x80_8060_5000n, 0x4ecb_9000n, 'rw'), /not aligned/);
  }
  // 64K stage 2, S2T0SZ 24 (40 bits): start level 2 (S2SL0 1), 11 index bits; IPA 0x4ecb0000 → L2 2, L3 0xecb
  {
    const m = new FakeMemory();
    const alloc = new GuestAllocator(0x4100_0000n, 0x4200_0000n);
    const pt = new PageTableBuilder(m, alloc, { stage: 2, granule: 64, inputBits: 40 });
    t.equal(pt.startLevel, 2);
    t.equal(pt.sl0, 1);
    await pt.map(0x4ecb_0000n, 0x4ecb_0000n, 'w');
    t.same(
      m.writes.filter((w) => w.startsWith('writeq')),
      ['writeq 0x41000010 0x41010003', 'writeq 0x41017658 0x4ecb0783'],
    );
  }
  // 4K stage 2, 40-bit IPA, S2SL0 1: start level 1 with two concatenated tables (10 index bits, 8 KiB root)
  {
    const m = new FakeMemory();
    const alloc = new GuestAllocator(0x4100_0000n, 0x4200_0000n);
    const pt = new PageTableBuilder(m, alloc, { stage: 2, granule: 4, inputBits: 40, sl0: 1 });
    t.equal(pt.startLevel, 1);
    t.equal(pt.rootBytes, 0x2000n);
    await pt.map(0x80_4020_1000n, 0x4000_0000n, 'rw');
    t.equal(m.writes.filter((w) => w.startsWith('writeq'))[0], 'writeq 0x41001008 0x41002003');
    // a 2 MiB block at level 2 next to it, then a conflicting page inside the block
    await pt.map(0x80_4040_0000n, 0x4020_0000n, 'r', { level: 2 });
    t.equal(m.writes.at(-1), 'writeq 0x41002010 0x40200741');
    await t.rejects(pt.map(0x80_4040_1000n, 0x4000_1000n, 'r'), /block already maps/);
    t.equal(await pt.unmap(0x80_4020_1000n), 0x41003008n);
    t.equal(m.writes.at(-1), 'writeq 0x41003008 0x0');
  }
});

t.test('stream tables: linear addresses and 2-level L1 descriptors', async (t) => {
  const m = new FakeMemory();
  const lin = new LinearStreamTable(m, STR_TAB, 5);
  t.equal(lin.steAddress(8), 0x4e179200n);
  t.equal(lin.cfgValue, 5);
  t.equal(lin.baseValue, 0x4e179000n);
  t.throws(() => lin.steAddress(32), RangeError);
  t.same(linearStrtabRegisters(STR_TAB, 5), { baseValue: 0x4e179000n, cfgValue: 5 });

  const alloc = new GuestAllocator(0x4200_0000n, 0x4300_0000n);
  const two = TwoLevelStreamTable.create(m, alloc, 16, 8);
  t.equal(two.l1Base, 0x4200_0000n);
  t.equal(two.cfgValue, 0x10210, 'LOG2SIZE 16 | SPLIT 8 << 6 | FMT 1 << 16');
  const ste = await two.steAddress(0x0108);
  // L1 table: 8 × 256 = 0x800 bytes; L2 table: 64 × 256 = 0x4000 bytes, aligned to its size
  t.equal(ste, 0x4200_4000n + 8n * 64n);
  t.ok(m.writes.includes('writeq 0x42000008 0x42004009'), 'L1STD[1] = L2Ptr | Span 9');
  const again = await two.writeSte(0x01ff, { V: 1, Config: 4 });
  t.equal(again, 0x4200_4000n + 0xffn * 64n, 'same L2 table reused');
  t.equal(m.writes.filter((w) => w.startsWith('writeq 0x42000008')).length, 1);
});

t.test('commands encode as IHI 0070 §4 says', async (t) => {
  // words little-endian: w0 w1 w2 w3
  t.equal(hex(CMD.CMD_CFGI_STE(8)), '03000000' + '08000000' + '01000000' + '00000000');
  t.equal(hex(CMD.CMD_CFGI_CD(8)), '05000000' + '08000000' + '01000000' + '00000000');
  t.equal(hex(CMD.CMD_CFGI_ALL()), '04000000' + '00000000' + '1f000000' + '00000000');
  t.equal(hex(CMD.CMD_TLBI_NH_ALL(3)), '10000000' + '03000000' + '00000000' + '00000000');
  t.equal(hex(CMD.CMD_TLBI_NSNH_ALL()), '30000000' + '00'.repeat(12));
  t.equal(hex(CMD.CMD_TLBI_S12_VMALL(5)), '28000000' + '05000000' + '00'.repeat(8));
  // NH_VA: w1 = ASID<<16 | VMID, w2 = addr[31:12]<<12 | Leaf, w3 = addr[63:32]
  t.equal(
    hex(CMD.CMD_TLBI_NH_VA(0x1e20, { addr: 0x80_8060_4000n, leaf: true })),
    '12000000' + '0000201e' + '01406080' + '80000000',
  );
  // range form: NUM [16:12], SCALE [24:20], TTL [9:8], TG [11:10]
  t.equal(
    hex(CMD.CMD_TLBI_NH_VA(1, { addr: 0x1000n, tg: 1, ttl: 3, num: 2, scale: 1 }, 7)),
    '12201000' + '07000100' + '00170000' + '00000000',
  );
  t.equal(hex(CMD.CMD_SYNC(1)), '46100000' + '00'.repeat(12));
});

t.test('command queue: entries at PROD, one CMDQ_PROD write, wrap bit', async (t) => {
  const m = new FakeMemory();
  const q = new CommandQueue(m, 0x0905_0000n, { base: 0x4e16_b000n, log2size: 10 });
  t.equal(q.baseValue, 0x4e16b00an);
  t.equal(await q.submit(CMD.CMD_CFGI_STE(8), CMD.CMD_SYNC()), 2);
  t.same(m.writes, [
    'write 0x4e16b000 0x10 0x03000000080000000100000000000000',
    'write 0x4e16b010 0x10 0x46000000000000000000000000000000',
    'writel 0x9050098 0x2',
  ]);
  q.setProd(1023);
  t.equal(await q.submit(CMD.CMD_TLBI_NSNH_ALL(), CMD.CMD_SYNC()), 0x401);
  t.same(m.writes.slice(3), [
    'write 0x4e16eff0 0x10 0x30000000000000000000000000000000',
    'write 0x4e16b000 0x10 0x46000000000000000000000000000000',
    'writel 0x9050098 0x401',
  ]);
  m.store(0x0905_009cn, 4, 0x0100_0401n); // CONS with ERR = 1 (CERROR_ILL)
  t.same(await q.status(), { cons: 0x401, err: 1, drained: true });
});

t.test('event records decode (IHI 0070 §7.3) and the event queue consumes up to PROD', async (t) => {
  const rec = new Uint8Array(32);
  const dv = new DataView(rec.buffer);
  dv.setUint32(0, 0x10, true); // F_TRANSLATION
  dv.setUint32(4, 8, true); // SID
  dv.setUint32(12, (1 << 3) | (1 << 7) | (1 << 8), true); // RnW, S2, CLASS TT
  dv.setUint32(16, 0x80604567, true);
  dv.setUint32(20, 0x80, true);
  dv.setUint32(24, 0x4ecba000, true);
  const e = decodeEventRecord(rec);
  t.match(e, {
    type: 0x10,
    name: 'F_TRANSLATION',
    sid: 8,
    rnw: 1,
    s2: 1,
    class: 1,
    className: 'TT',
    inputAddr: IOVA,
    addr2: 0x4ecba000n,
    ssv: 0,
    stall: 0,
  });
  t.equal(decodeEventRecord(Uint8Array.of(0x03, ...new Array(31).fill(0))).name, 'F_STE_FETCH');

  const m = new FakeMemory();
  const q = new EventQueue(m, 0x0905_0000n, { base: 0x4e17_0000n, log2size: 10 });
  t.same(await q.poll(), []);
  await m.write(0x4e17_0000n, rec);
  rec[0] = 0x04; // C_BAD_STE
  await m.write(0x4e17_0020n, rec);
  m.store(0x0905_00a8n, 4, 2n); // EVENTQ_PROD
  m.log.length = 0;
  const got = await q.poll();
  t.same(
    got.map((r) => r.name),
    ['F_TRANSLATION', 'C_BAD_STE'],
  );
  t.same(m.writes, ['writel 0x90500ac 0x2']);
  t.same(await q.poll(), []);
});

t.test('enableSmmu programs the registers in the order of §9.5 step 7', async (t) => {
  const m = new FakeMemory();
  const s = await enableSmmu(m, {
    cmdq: { base: 0x4e16_b000n, log2size: 10 },
    eventq: { base: 0x4e17_0000n, log2size: 10 },
    strtab: new LinearStreamTable(m, STR_TAB, 5),
  });
  t.same(m.log, [
    'writel 0x9050044 0x80000000',
    'writel 0x9050020 0x0',
    'writel 0x9050028 0xd75',
    'writeq 0x9050090 0x4e16b00a',
    'writel 0x905009c 0x0',
    'writel 0x9050098 0x0',
    'writeq 0x90500a0 0x4e17000a',
    'writel 0x90500a8 0x0',
    'writel 0x90500ac 0x0',
    'writel 0x9050088 0x5',
    'writeq 0x9050080 0x4e179000',
    'writel 0x9050020 0xd',
  ]);
  t.equal(s.cmdq.prod, 0);
  t.equal(s.eventq.cons, 0);
});

t.test('allocator aligns and refuses to overrun', async (t) => {
  const a = new GuestAllocator(0x1000n, 0x3000n);
  t.equal(a.alloc(0x10, 0x10), 0x1000n);
  t.equal(a.alloc(0x1000, 0x1000), 0x2000n);
  t.throws(() => a.alloc(1, 1), /exhausted/);
  t.throws(() => a.alloc(1, 3), /power of two/);
});
