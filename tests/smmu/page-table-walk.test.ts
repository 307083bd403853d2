import t from 'tap';
import { selectTt, walkStage1, walkStage2 } from '../../src/smmu/page-table-walk.js';
import type { Stage1Params } from '../../src/smmu/page-table-walk.js';
import type { S2Cfg, TtInfo } from '../../src/smmu/translation-config.js';
import { BLOCK, FakeMemory, idxAt, lsh, mapWalk, PAGE, TABLE } from './fixtures.js';

const RO = 1;
const WO = 2;
const tables = (n = 4) => Array.from({ length: n }, (_, i) => 0x4100_0000n + BigInt(i) * 0x1_0000n);
const tt = (o: Partial<TtInfo>): TtInfo => ({
  disabled: false,
  tsz: 16,
  granuleShift: 12,
  ttb: 0x4100_0000n,
  had: false,
  ...o,
});
const s1 = (o: Partial<TtInfo>, p: Partial<Stage1Params> = {}): Stage1Params => ({
  tt: [tt(o), tt({ disabled: true, tsz: 0, granuleShift: 0 })],
  tbi: 0,
  oas: 44,
  affd: false,
  ...p,
});
const s2cfg = (o: Partial<S2Cfg>): S2Cfg => ({
  vmid: 0,
  granuleShift: 12,
  vttb: 0x4200_0000n,
  sl0: 1,
  effPs: 44,
  tsz: 25,
  affd: false,
  recordFaults: true,
  ...o,
});

// Start levels per docs/smmu.md: 4K 16–24→0, 25–33→1, 34–39→2; 16K 16→0, 17–27→1, 28–38→2, 39→3; 64K 16–21→1, 22–34→2, 35–39→3.
const S1_CASES: Array<[number, number, number]> = [
  [12, 16, 0],
  [12, 24, 0],
  [12, 25, 1],
  [12, 33, 1],
  [12, 34, 2],
  [12, 39, 2],
  [14, 16, 0],
  [14, 17, 1],
  [14, 27, 1],
  [14, 28, 2],
  [14, 38, 2],
  [14, 39, 3],
  [16, 16, 1],
  [16, 21, 1],
  [16, 22, 2],
  [16, 34, 2],
  [16, 35, 3],
  [16, 39, 3],
];

t.test('stage 1: every granule, start level and leaf level', async (t) => {
  for (const [g, tsz, start] of S1_CASES) {
    const inputBits = 64 - tsz;
    for (let leaf = Math.max(start, 1); leaf <= 3; leaf++) {
      const m = new FakeMemory();
      const va = ((0x5a5a_5a5a_5a5a_5a5an & ((1n << BigInt(inputBits)) - 1n)) >> 4n) << 4n;
      const blockShift = leaf === 3 ? g : lsh(leaf, g);
      if (blockShift > 30) continue; // keep outputs inside the 512 MiB test RAM
      const pa = 0x4000_0000n | (va & ((1n << BigInt(blockShift)) - 1n));
      mapWalk(m, va, pa, g, inputBits, start, leaf, tables());
      const r = walkStage1(s1({ tsz, granuleShift: g as 12 | 14 | 16 }), va, RO, m.readDescriptor);
      const name = `g${g} tsz${tsz} start${start} leaf${leaf}`;
      if (!r.ok) {
        t.fail(name + ' ' + JSON.stringify(r.fault, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v)));
        continue;
      }
      t.equal(r.entry.translatedAddr + (va & r.entry.addrMask), pa, name);
      t.equal(r.entry.addrMask, (1n << BigInt(blockShift)) - 1n, name + ' mask');
      t.equal(r.entry.level, leaf);
      t.equal(r.entry.iova, va & ~r.entry.addrMask);
      t.equal(r.entry.perm, RO | WO);
    }
  }
});

t.test('stage 1 faults', async (t) => {
  const va = 0x1234_5678_9000n;
  const setup = (leaf?: (a: bigint) => bigint) => {
    const m = new FakeMemory();
    mapWalk(m, va, 0x4800_0000n, 12, 48, 0, 3, tables(), leaf);
    return m;
  };
  t.match(
    walkStage1(s1({}), va, RO, new FakeMemory().readDescriptor),
    { ok: false, fault: { kind: 'translation', stage: 1, addr: 0n } },
    'invalid L0',
  );
  t.match(
    walkStage1(s1({}), va, RO, setup((a) => a | 1n | (1n << 10n)).readDescriptor),
    { ok: false, fault: { kind: 'translation' } },
    'reserved L3 encoding',
  );
  t.match(walkStage1(s1({}), va, RO, setup((a) => PAGE(a, 0, 0)).readDescriptor), {
    ok: false,
    fault: { kind: 'access' },
  });
  t.match(walkStage1(s1({}, { affd: true }), va, RO, setup((a) => PAGE(a, 0, 0)).readDescriptor), { ok: true }, 'AFFD');
  t.match(
    walkStage1(s1({}), va, WO, setup((a) => PAGE(a, 0, 0)).readDescriptor),
    { ok: false, fault: { kind: 'access' } },
    'access beats permission',
  );
  t.match(walkStage1(s1({}), va, WO, setup((a) => PAGE(a, 2)).readDescriptor), {
    ok: false,
    fault: { kind: 'permission', stage: 1 },
  });
  t.match(walkStage1(s1({}), va, RO, setup((a) => PAGE(a, 2)).readDescriptor), { ok: true, entry: { perm: RO } });
  t.match(walkStage1(s1({}), va, WO, setup((a) => PAGE(a, 1)).readDescriptor), { ok: true }, 'AP[1] ignored');
  t.match(walkStage1(s1({}, { oas: 32 }), va, RO, setup().readDescriptor), { ok: true }, '0x48000000 fits 32 bits');
  const hi = new FakeMemory();
  mapWalk(hi, va, 0x1000_0000_0000n, 12, 48, 0, 3, tables());
  t.match(walkStage1(s1({}), va, RO, hi.readDescriptor), {
    ok: false,
    fault: { kind: 'addr-size', stage: 1, addr: 0n },
  });
  const ea = new FakeMemory();
  ea.w64(0x4100_0000n + idxAt(va, 0, 12) * 8n, TABLE(0x7000_0000n));
  t.match(walkStage1(s1({}), va, RO, ea.readDescriptor), {
    ok: false,
    fault: { kind: 'walk-eabt', stage: 1, addr: 0x7000_0000n + idxAt(va, 1, 12) * 8n },
  });
  t.match(
    walkStage1(s1({ disabled: true, tsz: 0 }), va, RO, setup().readDescriptor),
    { ok: false, fault: { kind: 'translation' } },
    'EPD',
  );
});

t.test('oas 32 rejects a 0x1_0000_0000 output', async (t) => {
  const m = new FakeMemory();
  const va = 0x1000n;
  mapWalk(m, va, 0x1_0000_0000n, 12, 48, 0, 3, tables());
  t.match(walkStage1(s1({}, { oas: 32 }), va, RO, m.readDescriptor), { ok: false, fault: { kind: 'addr-size' } });
});

t.test('blocks are accepted at level 0 (4K) as QEMU does, output bits 51:48 ignored', async (t) => {
  const m = new FakeMemory();
  m.w64(0x4100_0000n, BLOCK(0n) | (0xfn << 48n));
  const r = walkStage1(s1({}), 0x12_3456_7000n, RO, m.readDescriptor);
  t.match(r, { ok: true, entry: { level: 0, translatedAddr: 0n, addrMask: (1n << 39n) - 1n } });
});

t.test('APTable[1] blocks writes unless HAD', async (t) => {
  const va = 0x1234_5678_9000n;
  const m = new FakeMemory();
  mapWalk(m, va, 0x4800_0000n, 12, 48, 0, 3, tables());
  m.w64(0x4101_0000n + idxAt(va, 1, 12) * 8n, TABLE(0x4102_0000n) | (2n << 61n));
  t.match(walkStage1(s1({}), va, WO, m.readDescriptor), { ok: false, fault: { kind: 'permission', stage: 1 } });
  t.match(walkStage1(s1({}), va, RO, m.readDescriptor), { ok: true });
  t.match(walkStage1(s1({ had: true }), va, WO, m.readDescriptor), { ok: true, entry: { perm: RO | WO } }, 'HAD0');
});

t.test('TTB selection and TBI (QEMU select_tt, TBI1 reads bit 0)', async (t) => {
  const p = (tbi: number, t0: number, t1: number) => ({
    tbi,
    tt: [tt({ tsz: t0 }), tt({ tsz: t1 })] as [TtInfo, TtInfo],
  });
  t.equal(selectTt(p(0, 16, 16), 0x0001_0000_0000_0000n), null, 'gap');
  t.equal(selectTt(p(0, 16, 16), 0xffff_8000_0000_0000n), 1);
  t.equal(selectTt(p(0, 16, 16), 0x0000_7fff_ffff_f000n), 0);
  t.equal(selectTt(p(0, 16, 16), 0xa5ff_8000_0000_0000n), null, 'tag without TBI');
  t.equal(selectTt(p(1, 16, 16), 0xa5ff_8000_0000_0000n), 1, 'TBI bit 0 ignores the top byte');
  t.equal(selectTt(p(2, 16, 16), 0xa5ff_8000_0000_0000n), null, 'TBI bit 1 alone does nothing (QEMU TBI1 slip)');
  t.equal(selectTt(p(1, 16, 16), 0xa500_0000_1234_0000n), 0);
  t.equal(selectTt(p(0, 0, 16), 0x0001_0000_0000_0000n), 0, 'TT0 disabled: falls back to TT0');
  t.equal(selectTt(p(0, 16, 0), 0x0001_0000_0000_0000n), 1, 'TT1 disabled: falls back to TT1');
  // the walk masks the IOVA to the input size, so a tag never reaches the index
  const m = new FakeMemory();
  mapWalk(m, 0x0000_1234_5000n, 0x4800_0000n, 12, 48, 0, 3, tables());
  t.match(walkStage1(s1({}, { tbi: 1 }), 0x5a00_0000_1234_5678n, RO, m.readDescriptor), {
    ok: true,
    entry: { iova: 0x5a00_0000_1234_5000n },
  });
});

// stage 2 start level from SL0: 4K 2−SL0; 16K/64K 3−SL0
const S2_CASES: Array<[number, number, number]> = [
  [12, 20, 2],
  [12, 25, 1],
  [12, 33, 0],
  [14, 20, 2],
  [14, 28, 1],
  [14, 36, 0],
  [16, 20, 2],
  [16, 22, 1],
  [16, 35, 0],
];

t.test('stage 2: every granule and start level, page and blocks', async (t) => {
  for (const [g, tsz, sl0] of S2_CASES) {
    const inputBits = 64 - tsz;
    const start = g === 12 ? 2 - sl0 : 3 - sl0;
    for (let leaf = Math.max(start, 1); leaf <= 3; leaf++) {
      const blockShift = leaf === 3 ? g : lsh(leaf, g);
      if (blockShift > 30) continue;
      const m = new FakeMemory();
      const ipa = 0x1234_5678n & ((1n << BigInt(inputBits)) - 1n);
      const pa = 0x4000_0000n | (ipa & ((1n << BigInt(blockShift)) - 1n));
      mapWalk(m, ipa, pa, g, inputBits, start, leaf, [0x4200_0000n, 0x4201_0000n, 0x4202_0000n, 0x4203_0000n], (a) =>
        leaf === 3 ? PAGE(a, 3) : BLOCK(a, 3),
      );
      const r = walkStage2(s2cfg({ granuleShift: g as 12 | 14 | 16, tsz, sl0 }), ipa, RO | WO, m.readDescriptor);
      const name = `s2 g${g} tsz${tsz} sl0 ${sl0} leaf${leaf}`;
      t.ok(r.ok, name);
      if (r.ok) {
        t.equal(r.entry.translatedAddr + (ipa & r.entry.addrMask), pa, name);
        t.equal(r.entry.perm, 3);
        t.equal(r.entry.parentPerm, 3);
      }
    }
  }
});

t.test('stage 2 faults carry the IPA; S2AP bit 6 read, bit 7 write', async (t) => {
  const ipa = 0x1234_5000n;
  const mk = (desc: (a: bigint) => bigint) => {
    const m = new FakeMemory();
    mapWalk(m, ipa, 0x4800_0000n, 12, 39, 1, 3, [0x4200_0000n, 0x4201_0000n, 0x4202_0000n], desc);
    return m.readDescriptor;
  };
  t.match(
    walkStage2(
      s2cfg({}),
      ipa,
      RO,
      mk((a) => PAGE(a, 1)),
    ),
    { ok: true, entry: { perm: 1 } },
  );
  t.match(
    walkStage2(
      s2cfg({}),
      ipa,
      WO,
      mk((a) => PAGE(a, 1)),
    ),
    { ok: false, fault: { kind: 'permission', stage: 2, addr: ipa } },
  );
  t.match(
    walkStage2(
      s2cfg({}),
      ipa,
      RO,
      mk((a) => PAGE(a, 2)),
    ),
    { ok: false, fault: { kind: 'permission', addr: ipa } },
  );
  t.match(
    walkStage2(
      s2cfg({}),
      ipa,
      WO,
      mk((a) => PAGE(a, 2)),
    ),
    { ok: true, entry: { perm: 2 } },
  );
  t.match(
    walkStage2(
      s2cfg({}),
      ipa,
      RO,
      mk((a) => PAGE(a, 0)),
    ),
    { ok: false, fault: { kind: 'permission' } },
  );
  t.match(
    walkStage2(
      s2cfg({}),
      ipa,
      RO,
      mk((a) => PAGE(a, 3, 0)),
    ),
    { ok: false, fault: { kind: 'access', addr: ipa } },
  );
  t.match(
    walkStage2(
      s2cfg({ affd: true }),
      ipa,
      RO,
      mk((a) => PAGE(a, 3, 0)),
    ),
    { ok: true },
  );
  t.match(
    walkStage2(
      s2cfg({ effPs: 32 }),
      ipa,
      RO,
      mk(() => PAGE(0x1_0000_0000n, 3)),
    ),
    { ok: false, fault: { kind: 'addr-size', addr: ipa } },
  );
  t.match(
    walkStage2(
      s2cfg({}),
      0x80_0000_0000n,
      RO,
      mk((a) => PAGE(a, 3)),
    ),
    { ok: false, fault: { kind: 'translation', stage: 2, addr: 0x80_0000_0000n } },
    'IPA ≥ 2^(64−S2T0SZ)',
  );
  t.match(walkStage2(s2cfg({}), ipa, RO, new FakeMemory().readDescriptor), {
    ok: false,
    fault: { kind: 'translation', addr: ipa },
  });
  const ea = new FakeMemory();
  ea.w64(0x4200_0000n, TABLE(0x7000_0000n));
  t.match(
    walkStage2(s2cfg({}), 0x1000n, RO, ea.readDescriptor),
    { ok: false, fault: { kind: 'walk-eabt', stage: 2, addr: 0x7000_0000n } },
    'EABT: descriptor address',
  );
});

t.test('stage 2 concatenated tables alias onto the first table (QEMU quirk, oracle s2-concat)', async (t) => {
  // 4K, S2T0SZ 24 (40-bit), SL0 1 → start level 1 with 2 concatenated tables; IPA bit 39 is dropped.
  const m = new FakeMemory();
  const ipa = 0x80_1234_5000n;
  mapWalk(m, ipa & ((1n << 39n) - 1n), 0x4800_0000n, 12, 39, 1, 3, [0x4200_0000n, 0x4201_0000n, 0x4202_0000n], (a) =>
    PAGE(a, 3),
  );
  t.match(walkStage2(s2cfg({ tsz: 24 }), ipa, RO, m.readDescriptor), {
    ok: true,
    entry: { translatedAddr: 0x4800_0000n },
  });
});

t.test(
  'inconsistent S2SL0/S2T0SZ: the start table base is masked to 0 (x86 shift, oracle s2-sl0-inconsistent)',
  async (t) => {
    const reads: bigint[] = [];
    const r = walkStage2(s2cfg({ tsz: 39, sl0: 2, vttb: 0x4200_0000n }), 0x123_4000n, RO, (pa) => {
      reads.push(pa);
      return 0n;
    });
    t.match(r, { ok: false, fault: { kind: 'translation' } });
    t.same(reads, [0n]);
  },
);
