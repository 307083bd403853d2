import t from 'tap';
import { ConfigCache } from '../../src/smmu/config-cache.js';
import { Iotlb } from '../../src/smmu/iotlb.js';
import type { TlbEntry } from '../../src/smmu/page-table-walk.js';
import { newTransCfg } from '../../src/smmu/translation-config.js';

const entry = (iova: bigint, shift: number, level: number, granuleShift: 12 | 14 | 16 = 12): TlbEntry => ({
  iova,
  translatedAddr: 0x4800_0000n,
  addrMask: (1n << BigInt(shift)) - 1n,
  perm: 3,
  parentPerm: 3,
  level,
  granuleShift,
});

t.test('IOTLB lookup tries every level from the start level with aligned IOVAs', async (t) => {
  const tlb = new Iotlb();
  tlb.insert(1, 0, entry(0x1234_4000_0000n, 30, 1));
  t.ok(tlb.lookupAllLevels(1, 0, 12, 16, 0x1234_4567_8000n), '1G block found from a 4K-tsz16 walk');
  t.notOk(tlb.lookupAllLevels(1, 0, 12, 34, 0x1234_4567_8000n), 'start level 2 never looks at level 1');
  t.notOk(tlb.lookupAllLevels(2, 0, 12, 16, 0x1234_4567_8000n), 'ASID in the key');
  t.notOk(tlb.lookupAllLevels(1, 1, 12, 16, 0x1234_4567_8000n), 'VMID in the key');
  t.notOk(tlb.lookupAllLevels(1, 0, 14, 16, 0x1234_4567_8000n), 'TG in the key');
  t.notOk(tlb.lookupAllLevels(1, 0, 12, 0, 0x1234_4567_8000n), 'negative start level (uint8 in QEMU): no lookup');
});

t.test('IOTLB capacity: the 257th insert flushes everything first', async (t) => {
  const tlb = new Iotlb();
  for (let i = 0; i < 256; i++) tlb.insert(1, 0, entry(BigInt(i) << 12n, 12, 3));
  t.equal(tlb.size, 256);
  tlb.insert(1, 0, entry(0x100_0000n, 12, 3));
  t.equal(tlb.size, 1);
  t.equal(tlb.capacityFlushes, 1);
});

function filled(): Iotlb {
  const tlb = new Iotlb();
  tlb.insert(1, 0, entry(0x1000n, 12, 3)); // A: asid 1 vmid 0
  tlb.insert(2, 0, entry(0x2000n, 12, 3)); // B: asid 2 vmid 0
  tlb.insert(1, 5, entry(0x3000n, 12, 3)); // C: asid 1 vmid 5
  tlb.insert(-1, 0, entry(0x4000n, 12, 3)); // D: stage 2, vmid 0
  tlb.insert(-1, 5, entry(0x5000n, 12, 3)); // E: stage 2, vmid 5
  tlb.insert(1, 0, entry(0x20_0000n, 21, 2)); // F: 2M block asid 1
  return tlb;
}
const keys = (tlb: Iotlb) =>
  tlb
    .entries()
    .map((e) => `${e.key.asid}/${e.key.vmid}/${e.key.iova.toString(16)}`)
    .sort();

t.test('invalidation predicates (smmu-common.c)', async (t) => {
  let tlb = filled();
  tlb.invalidateAsidVmid(1, 0);
  t.same(keys(tlb), ['-1/0/4000', '-1/5/5000', '1/5/3000', '2/0/2000'], 'NH_ASID: exact asid+vmid');
  tlb = filled();
  tlb.invalidateVmid(0);
  t.same(keys(tlb), ['-1/5/5000', '1/5/3000'], 'S12_VMALL: all stages of the VMID');
  tlb = filled();
  tlb.invalidateVmidS1(0);
  t.same(keys(tlb), ['-1/0/4000', '-1/5/5000', '1/5/3000'], 'NH_ALL with S2: ASID ≥ 0 of the VMID');
  tlb = filled();
  tlb.invalidateIova(-1, -1, 0x2000n, 0, 1n, 0);
  t.same(keys(tlb), ['-1/0/4000', '-1/5/5000', '1/0/1000', '1/0/200000', '1/5/3000'], 'VAA any vmid: only the page');
  tlb = filled();
  tlb.invalidateIova(1, 0, 0x20_3000n, 0, 1n, 0);
  t.notOk(keys(tlb).includes('1/0/200000'), 'address inside a block drops the block');
  tlb = filled();
  tlb.invalidateIova(-1, -1, 0n, 1, 8n, 0);
  t.same(keys(tlb), ['1/0/200000'], 'range of 8 pages drops every entry whose base is inside (stage 2 ones too)');
  tlb = filled();
  tlb.invalidateIpa(0, 0x4000n, 0, 1n, 0);
  t.same(
    keys(tlb),
    ['-1/5/5000', '1/0/1000', '1/0/200000', '1/5/3000', '2/0/2000'],
    'S2_IPA: ASID −1 and exact VMID only',
  );
  tlb = filled();
  tlb.invalidateIpa(0, 0x1000n, 0, 1n, 0);
  t.equal(tlb.size, 6, 'S2_IPA never drops stage-1 entries');
  tlb = filled();
  t.equal(tlb.invalidateIova(1, 0, 0x1000n, 1, 1n, 3), 1, 'TTL exact key hit');
  t.equal(tlb.invalidateIova(1, 0, 0x1000n, 0, 1n, 3), 0, 'TG 0 never matches a stored key, scan finds nothing left');
  tlb.invalidateAll();
  t.equal(tlb.size, 0);
});

t.test('config cache: per-SID entries, range invalidation and counters', async (t) => {
  const c = new ConfigCache();
  t.notOk(c.lookup(8));
  c.insert(8, newTransCfg());
  c.insert(16, newTransCfg());
  c.insert(0xffff, newTransCfg());
  t.ok(c.lookup(8));
  t.same(c.counterEntries(), [[8, { hits: 1, misses: 1 }]]);
  t.equal(c.invalidateRange(0, 15), 1);
  t.equal(c.size, 2);
  t.ok(c.invalidateSid(16));
  t.notOk(c.invalidateSid(16));
  t.equal(c.invalidateRange(0, 0xffff_ffff), 1);
  t.equal(c.size, 0);
});
