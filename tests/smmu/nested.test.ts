import t from 'tap';
import { combineEntries, walkForStage } from '../../src/smmu/nested.js';
import type { TlbEntry } from '../../src/smmu/page-table-walk.js';
import { newTransCfg } from '../../src/smmu/translation-config.js';
import type { TransCfg } from '../../src/smmu/translation-config.js';
import { BLOCK, FakeMemory, mapWalk, PAGE } from './fixtures.js';

const e = (o: Partial<TlbEntry>): TlbEntry => ({
  iova: 0n,
  translatedAddr: 0n,
  addrMask: 0xfffn,
  perm: 3,
  parentPerm: 3,
  level: 3,
  granuleShift: 12,
  ...o,
});

t.test('combine keeps the smaller page, S1 perm primary, S2 perm secondary', async (t) => {
  const s1 = e({ translatedAddr: 0x4820_0000n, addrMask: 0x1f_ffffn, level: 2, perm: 1 });
  const s2 = e({ translatedAddr: 0x5000_5000n, addrMask: 0xfffn, perm: 2, level: 3 });
  t.same(combineEntries(s1, s2, 0x1234_5678n), {
    iova: 0x1234_5000n,
    translatedAddr: 0x5000_5000n,
    addrMask: 0xfffn,
    perm: 1,
    parentPerm: 2,
    level: 3,
    granuleShift: 12,
  });
  const small = e({ translatedAddr: 0x4800_3000n });
  const big = e({ translatedAddr: 0x5000_0000n, addrMask: 0x1f_ffffn, level: 2, granuleShift: 14 });
  t.match(combineEntries(small, big, 0x7000n), {
    translatedAddr: 0x5000_3000n,
    addrMask: 0xfffn,
    level: 3,
    granuleShift: 12,
  });
});

function nestedCfg(): TransCfg {
  const c = newTransCfg();
  c.stage = 'nested';
  c.oas = 44;
  c.asid = 1;
  c.recordFaults = true;
  c.tt[0] = { disabled: false, tsz: 16, granuleShift: 12, ttb: 0x4100_0000n, had: false };
  c.tt[1] = { disabled: true, tsz: 0, granuleShift: 0, ttb: 0n, had: false };
  c.s2 = { vmid: 0, granuleShift: 12, vttb: 0x4200_0000n, sl0: 1, effPs: 44, tsz: 25, affd: false, recordFaults: true };
  return c;
}

t.test('nested walk: table IPAs through the callback, output through stage 2', async (t) => {
  const m = new FakeMemory();
  const va = 0x1234_5678_9000n;
  mapWalk(m, va, 0x4800_0000n, 12, 48, 0, 3, [0x4100_0000n, 0x4101_0000n, 0x4102_0000n, 0x4103_0000n]);
  m.w64(0x4200_0008n, BLOCK(0x4000_0000n, 3)); // S2 L1[1]: identity 1G for 0x40000000
  const seen: bigint[] = [];
  const r = walkForStage('nested', nestedCfg(), va + 0x10n, 1, m.readDescriptor, (ipa) => {
    seen.push(ipa);
    return { ok: true, pa: ipa };
  });
  t.match(r, { ok: true, entry: { translatedAddr: 0x4800_0000n, addrMask: 0xfffn, perm: 3, parentPerm: 3 } });
  t.same(seen, [0x4101_0000n, 0x4102_0000n, 0x4103_0000n]);
  const failing = walkForStage('nested', nestedCfg(), va, 1, m.readDescriptor, () => ({
    ok: false,
    fault: { kind: 'translation', stage: 2, addr: 0n, isIpaDescriptor: false },
  }));
  t.match(
    failing,
    { ok: false, fault: { kind: 'translation', stage: 1, addr: 0x4101_0000n, isIpaDescriptor: true } },
    'QEMU reports stage 1 with the table IPA',
  );
  const noS2 = new FakeMemory();
  mapWalk(noS2, va, 0x4800_0000n, 12, 48, 0, 3, [0x4100_0000n, 0x4101_0000n, 0x4102_0000n, 0x4103_0000n]);
  t.match(
    walkForStage('nested', nestedCfg(), va, 1, noS2.readDescriptor, (ipa) => ({ ok: true, pa: ipa })),
    { ok: false, fault: { kind: 'translation', stage: 2, addr: 0x4800_0000n } },
    'final S2 fault carries the IPA',
  );
});

t.test('stage-2-only input ≥ 2^OAS is a stage-1 address-size fault', async (t) => {
  const c = nestedCfg();
  c.stage = 's2';
  const m = new FakeMemory();
  t.match(walkForStage('s2', c, 0x1000_0000_0000n, 1, m.readDescriptor), {
    ok: false,
    fault: { kind: 'addr-size', stage: 1 },
  });
  m.w64(0x4200_0008n, BLOCK(0x4000_0000n, 3));
  t.match(walkForStage('s2', c, 0x4000_1000n, 1, m.readDescriptor), {
    ok: true,
    entry: { translatedAddr: 0x4000_0000n },
  });
  void PAGE;
});
