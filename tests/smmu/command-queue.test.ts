import t from 'tap';
import { ConfigCache } from '../../src/smmu/config-cache.js';
import { Iotlb } from '../../src/smmu/iotlb.js';
import {
  alignedPow2Mask,
  consumeCommands,
  decodeCommand,
  encodeCommand,
  executeCommand,
} from '../../src/smmu/command-queue.js';
import type { CommandTarget } from '../../src/smmu/command-queue.js';
import type { TlbEntry } from '../../src/smmu/page-table-walk.js';
import { newTransCfg } from '../../src/smmu/translation-config.js';
import { bytesOf } from '../../src/smmu/bits.js';
import { cmd, FakeMemory } from './fixtures.js';

const page = (iova: bigint, level = 3, shift = 12): TlbEntry => ({
  iova,
  translatedAddr: 0n,
  addrMask: (1n << BigInt(shift)) - 1n,
  perm: 3,
  parentPerm: 3,
  level,
  granuleShift: 12,
});

function target(s1p = true, s2p = true): CommandTarget & { syncs: number } {
  const tgt = {
    s1p,
    s2p,
    configCache: new ConfigCache(),
    iotlb: new Iotlb(),
    syncs: 0,
    signalSync: () => void tgt.syncs++,
  };
  return tgt;
}
const run = (tg: CommandTarget, words: number[]) => executeCommand(decodeCommand(bytesOf(words)), tg);
const tlbKeys = (tg: CommandTarget) =>
  tg.iotlb
    .entries()
    .map((e) => `${e.key.asid}/${e.key.vmid}/${e.key.iova.toString(16)}`)
    .sort();

t.test('command field decode (QEMU CMD_* positions)', async (t) => {
  const c = decodeCommand(bytesOf([0x0231_f412 | (1 << 10), 0x0005_0007, 0x1234_5b01, 0x0000_00ab]));
  t.match(c, { Opcode: 0x12, SSec: 1, NUM: 0x1f, SCALE: 0x03, VMID: 7, ASID: 5, Leaf: 1, TTL: 3, TG: 2 });
  t.equal(c.Address, 0xab_1234_5000n);
  t.same(decodeCommand(encodeCommand({ Opcode: 0x46, CS: 1 })).CS, 1);
});

t.test('opcodes QEMU rejects or ignores', async (t) => {
  const tg = target();
  for (const op of [0x00, 0x07, 0x08, 0x14, 0x29, 0x31, 0x42, 0x47, 0xff])
    t.equal(run(tg, cmd(op)), 1, `0x${op.toString(16)} → CERROR_ILL`);
  for (const op of [0x01, 0x02, 0x18, 0x1a, 0x20, 0x21, 0x22, 0x23, 0x40, 0x41, 0x44, 0x45])
    t.equal(run(tg, cmd(op)), 0, `0x${op.toString(16)} accepted`);
  const s1 = target(true, false);
  t.equal(run(s1, cmd(0x28)), 1, 'S12_VMALL without S2P');
  t.equal(run(s1, cmd(0x2a)), 1, 'S2_IPA without S2P');
  const s2 = target(false, true);
  for (const op of [0x10, 0x11, 0x12, 0x13]) t.equal(run(s2, cmd(op)), 1, `NH 0x${op.toString(16)} without S1P`);
  t.equal(run(s2, cmd(0x30)), 0, 'NSNH_ALL needs no stage');
});

t.test('CFGI_*: what each drops and keeps', async (t) => {
  const fill = () => {
    const tg = target();
    for (const sid of [7, 8, 9, 16, 0x108]) tg.configCache.insert(sid, newTransCfg());
    tg.iotlb.insert(1, 0, page(0x1000n));
    return tg;
  };
  const sids = (tg: CommandTarget) =>
    tg.configCache
      .entries()
      .map(([s]) => s)
      .sort((a, b) => a - b);
  let tg = fill();
  t.equal(run(tg, cmd(0x03, 0, 8)), 0);
  t.same(sids(tg), [7, 9, 16, 0x108], 'CFGI_STE');
  t.equal(tg.iotlb.size, 1, 'IOTLB untouched');
  tg = fill();
  run(tg, cmd(0x03, 0, 0x1_0008));
  t.same(sids(tg), [7, 9, 16, 0x108], 'SID bits above 15 ignored (device lookup by bus/devfn)');
  tg = fill();
  t.equal(run(tg, cmd(0x03, 1 << 10, 8)), 1, 'SSec → ILL');
  t.same(sids(tg), [7, 8, 9, 16, 0x108]);
  tg = fill();
  run(tg, cmd(0x04, 0, 9, 2));
  t.same(sids(tg), [7, 16, 0x108], 'range 2: SIDs 8..15');
  tg = fill();
  run(tg, cmd(0x04, 0, 9, 0));
  t.same(sids(tg), [7, 16, 0x108], 'range 0: SIDs 8..9');
  tg = fill();
  run(tg, cmd(0x04, 0, 0, 31));
  t.same(sids(tg), [], 'range 31: all');
  for (const op of [0x05, 0x06]) {
    tg = fill();
    run(tg, cmd(op, 0, 8, 0x1234));
    t.same(sids(tg), [7, 9, 16, 0x108], `0x${op.toString(16)} drops the whole config`);
    t.equal(run(tg, cmd(op, 1 << 10, 8)), 1);
  }
});

function tlbFilled(s2p = true): CommandTarget & { syncs: number } {
  const tg = target(true, s2p);
  const v = s2p ? 0 : -1;
  tg.iotlb.insert(1, v, page(0x1000n));
  tg.iotlb.insert(2, v, page(0x2000n));
  tg.iotlb.insert(1, s2p ? 5 : -1, page(0x3000n));
  tg.iotlb.insert(-1, v, page(0x4000n));
  return tg;
}

t.test('TLBI_*: what each drops and keeps', async (t) => {
  let tg = tlbFilled();
  run(tg, cmd(0x30));
  t.same(tlbKeys(tg), [], 'NSNH_ALL');
  tg = tlbFilled();
  run(tg, cmd(0x10, 0, 0));
  t.same(tlbKeys(tg), ['-1/0/4000', '1/5/3000'], 'NH_ALL with S2P: stage-1 entries of VMID 0');
  tg = tlbFilled(false);
  run(tg, cmd(0x10, 0, 5));
  t.same(tlbKeys(tg), [], 'NH_ALL on a stage-1-only SMMU: everything');
  tg = tlbFilled();
  run(tg, cmd(0x11, 0, (1 << 16) | 0));
  t.same(tlbKeys(tg), ['-1/0/4000', '1/5/3000', '2/0/2000'], 'NH_ASID exact asid+vmid');
  tg = tlbFilled(false);
  run(tg, cmd(0x11, 0, (1 << 16) | 5));
  t.same(tlbKeys(tg), ['-1/-1/4000', '2/-1/2000'], 'NH_ASID without S2P ignores the command VMID');
  tg = tlbFilled();
  run(tg, cmd(0x12, 0, (1 << 16) | 5, 0x3000));
  t.same(tlbKeys(tg), ['-1/0/4000', '1/0/1000', '2/0/2000'], 'NH_VA matches asid and vmid');
  tg = tlbFilled();
  run(tg, cmd(0x12, 0, (2 << 16) | 0, 0x1000));
  t.equal(tg.iotlb.size, 4, 'NH_VA with another ASID keeps the page');
  tg = tlbFilled();
  run(tg, cmd(0x13, 0, (9 << 16) | 0, 0x1000));
  t.same(tlbKeys(tg), ['-1/0/4000', '1/5/3000', '2/0/2000'], 'NH_VAA ignores the ASID');
  tg = tlbFilled();
  run(tg, cmd(0x13, 0, 0, 0x4000));
  t.same(tlbKeys(tg), ['1/0/1000', '1/5/3000', '2/0/2000'], 'NH_VAA also hits stage-2 entries (ASID −1 matches any)');
  tg = tlbFilled();
  run(tg, cmd(0x12, 1 << 12, 1 << 16, 0x1000 | (1 << 10)));
  t.same(tlbKeys(tg), ['-1/0/4000', '1/5/3000', '2/0/2000'], 'NH_VA TG=4K NUM=1: two pages from 0x1000');
  tg = tlbFilled();
  run(tg, cmd(0x28, 0, 5));
  t.same(tlbKeys(tg), ['-1/0/4000', '1/0/1000', '2/0/2000'], 'S12_VMALL');
  tg = tlbFilled();
  run(tg, cmd(0x2a, 0, 0, 0x4000));
  t.same(tlbKeys(tg), ['1/0/1000', '1/5/3000', '2/0/2000'], 'S2_IPA drops the stage-2 entry');
  tg = tlbFilled();
  run(tg, cmd(0x2a, 0, 0, 0x1000));
  t.equal(tg.iotlb.size, 4, 'S2_IPA never drops stage-1 entries');
});

t.test('SYNC signals only with CS bit 0', async (t) => {
  const tg = target();
  for (const cs of [0, 1, 2, 3]) run(tg, cmd(0x46, cs << 12));
  t.equal(tg.syncs, 2);
});

t.test('range splitting into aligned power-of-two chunks (dma_aligned_pow2_mask)', async (t) => {
  t.equal(alignedPow2Mask(0x1000n, 0x2fffn), 0xfffn);
  t.equal(alignedPow2Mask(0x2000n, 0x2fffn), 0xfffn);
  t.equal(alignedPow2Mask(0n, 0x2fffn), 0x1fffn);
  t.equal(alignedPow2Mask(0x4000n, 0xbfffn), 0x3fffn);
  const calls: Array<[bigint, bigint]> = [];
  const tg = target();
  tg.iotlb.invalidateIova = (_a, _v, iova, _tg, pages) => {
    calls.push([iova, pages]);
    return 0;
  };
  // TG 4K, NUM 2, SCALE 0: 3 pages at 0x1000 → chunks 0x1000 (1 page) and 0x2000 (2 pages)
  run(tg, cmd(0x12, 2 << 12, 1 << 16, 0x1000 | (1 << 10)));
  t.same(calls, [
    [0x1000n, 1n],
    [0x2000n, 2n],
  ]);
  calls.length = 0;
  // wraps past 2^64 and terminates
  run(tg, cmd(0x13, 1 << 12, 0, 0xffff_f000 | (1 << 10), 0xffff_ffff));
  t.same(calls, [
    [0xffff_ffff_ffff_f000n, 1n],
    [0n, 1n],
  ]);
});

t.test('consume loop: stops at errors with CONS on the bad command, respects a pending CMDQ_ERR', async (t) => {
  const m = new FakeMemory();
  const tg = target();
  m.words(0x4030_0000n, cmd(0x46, 1 << 12));
  m.words(0x4030_0010n, cmd(0xff));
  m.words(0x4030_0020n, cmd(0x46, 1 << 12));
  const q = { base: 0x4030_0002n, prod: 3, cons: 0, log2size: 2 };
  let pending = false;
  const deps = { read: m.readBlock, cmdqErrorPending: () => pending, target: tg };
  t.match(consumeCommands(q, deps), { executed: 1, error: 1, failedOpcode: 0xff });
  t.equal(q.cons, 1);
  pending = true;
  t.match(consumeCommands(q, deps), { executed: 0, error: 0 }, 'pending error: nothing runs');
  pending = false;
  m.words(0x4030_0010n, cmd(0x01));
  t.match(consumeCommands(q, deps), { executed: 2, error: 0 });
  t.equal(q.cons, 3);
  t.equal(tg.syncs, 2);
  const far = { base: 0x7000_0000n, prod: 1, cons: 0, log2size: 2 };
  t.match(consumeCommands(far, deps), { executed: 0, error: 2 }, 'fetch failure → CERROR_ABT');
});
