import t from 'tap';
import { fetchSte, locateSte } from '../../src/smmu/stream-table.js';
import { FakeMemory } from './fixtures.js';

const mem = () => new FakeMemory();

t.test('linear: STE at (base aligned to the table) + 64 × SID', async (t) => {
  const m = mem();
  t.same(locateSte({ base: 0x4010_0000n, log2size: 5, twoLevel: false, split: 0 }, 8, m.readBlock), {
    ok: true,
    steAddr: 0x4010_0200n,
  });
  // base bits below log2size + 5 are cleared (16 → 2 MiB alignment)
  t.same(locateSte({ base: 0x4010_1000n, log2size: 16, twoLevel: false, split: 0 }, 8, m.readBlock), {
    ok: true,
    steAddr: 0x4000_0200n,
  });
  // bits 63:52 and 5:0 of STRTAB_BASE are ignored (RA bit 62 too)
  t.same(locateSte({ base: 0x4000_0000_4010_003fn, log2size: 5, twoLevel: false, split: 0 }, 1, m.readBlock), {
    ok: true,
    steAddr: 0x4010_0040n,
  });
});

t.test('SID beyond 2^min(LOG2SIZE,16) → C_BAD_STREAMID', async (t) => {
  const m = mem();
  t.match(locateSte({ base: 0x4010_0000n, log2size: 3, twoLevel: false, split: 0 }, 8, m.readBlock), {
    ok: false,
    event: 'C_BAD_STREAMID',
  });
  t.match(
    locateSte({ base: 0x4010_0000n, log2size: 0, twoLevel: false, split: 0 }, 0, m.readBlock),
    { ok: true },
    'log2size 0 = one STE',
  );
  t.match(
    locateSte({ base: 0x4010_0000n, log2size: 40, twoLevel: false, split: 0 }, 0xffff, m.readBlock),
    { ok: true },
    'capped at 16 bits',
  );
});

t.test('LOG2SIZE ≥ 60 uses the x86 shift behaviour (oracle scenario linear-log2-60)', async (t) => {
  const m = mem();
  t.same(locateSte({ base: 0x4010_0000n, log2size: 60, twoLevel: false, split: 0 }, 8, m.readBlock), {
    ok: true,
    steAddr: 0x4010_0200n,
  });
  t.same(locateSte({ base: 0x4010_0000n, log2size: 59, twoLevel: false, split: 0 }, 8, m.readBlock), {
    ok: true,
    steAddr: 0x200n,
  });
});

t.test('two-level: L1STD, span checks and fetch faults', async (t) => {
  const m = mem();
  const cfg = { base: 0x4050_0000n, log2size: 8, twoLevel: true, split: 6 };
  m.w64(0x4050_0000n, 0x4051_0000n | 7n);
  // l1: what smmuv3_find_ste_2lvl prints (span 7 → max L2 index 127).
  const l1 = { l1Addr: 0x4050_0000n, l1Index: 0, l2Ptr: 0x4051_0000n, l2Index: 8, maxL2: 127 };
  t.same(locateSte(cfg, 8, m.readBlock), { ok: true, steAddr: 0x4051_0200n, l1Addr: 0x4050_0000n, l2Index: 8, l1 });
  m.w64(0x4050_0008n, 0x4052_0000n | 3n); // SIDs 64..127, span 3 → 8 STEs
  t.match(locateSte(cfg, 64 + 7, m.readBlock), { ok: true, steAddr: 0x4052_01c0n });
  t.match(
    locateSte(cfg, 64 + 8, m.readBlock),
    { ok: false, event: 'C_BAD_STE', l1: { l1Index: 1, l2Ptr: 0x4052_0000n, l2Index: 8, maxL2: 7 } },
    'L2 index beyond span',
  );
  t.match(locateSte(cfg, 128, m.readBlock), { ok: false, event: 'C_BAD_STREAMID' }, 'span 0');
  t.match(
    locateSte({ ...cfg, base: 0x7000_0000n }, 8, m.readBlock),
    { ok: false, event: 'F_STE_FETCH', fetchAddr: 0x7000_0000n },
    'L1 fetch fails',
  );
  m.w64(0x4050_0000n, 0x7000_0000n | 7n);
  t.same(
    fetchSte(cfg, 8, m.readBlock),
    { ok: false, event: 'F_STE_FETCH', fetchAddr: 0x7000_0200n, ste: true, l1: { ...l1, l2Ptr: 0x7000_0000n } },
    'STE fetch fails',
  );
  // base alignment: max(5, log2size − split + 2) low bits cleared
  t.match(locateSte({ ...cfg, base: 0x4050_0010n, log2size: 12, split: 6 }, 0, m.readBlock), { l1Addr: 0x4050_0000n });
  t.match(locateSte({ ...cfg, base: 0x4050_0010n, log2size: 5, split: 8 }, 0, m.readBlock), { l1Addr: 0x4050_0000n });
});

t.test('2-level with a huge L2Ptr wraps like dma_addr_t and fails to fetch', async (t) => {
  const m = mem();
  m.w64(0x4050_0000n, 0xffff_ffff_ffff_ffe0n | 1n);
  const r = fetchSte({ base: 0x4050_0000n, log2size: 8, twoLevel: true, split: 6 }, 1, m.readBlock);
  const l1 = { l1Addr: 0x4050_0000n, l1Index: 0, l2Ptr: 0xffff_ffff_ffff_ffe0n, l2Index: 1, maxL2: 1 };
  t.same(r, { ok: false, event: 'F_STE_FETCH', fetchAddr: 0x20n, ste: true, l1 });
});
