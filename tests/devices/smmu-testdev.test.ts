// Expected behaviour and constants from docs/devices.md#smmu-testdev and the RFC test flow.
import t from 'tap';
import { SmmuTestdev } from '../../src/devices/smmu-testdev.js';
import type { Iommu } from '../../src/memory/dma-view.js';
import type { AccessSize, IoRegion } from '../../src/memory/types.js';
import { deviceRig, registryDevice } from './rig.js';

const SMMU = 0x09050000n;
const IOVA = 0x8080604567n;

/** Stand-in for the SMMU's page 0: CMDQ_BASE/PROD storage plus an access log. */
function fakeSmmu(log: string[]): IoRegion & { regs: Map<bigint, bigint> } {
  const regs = new Map<bigint, bigint>();
  return {
    kind: 'io',
    name: 'smmuv3',
    size: 0x20000n,
    valid: { minSize: 4, maxSize: 8 },
    impl: { minSize: 4, maxSize: 8 },
    regs,
    read(off: bigint, size: AccessSize) {
      log.push(`r${size * 8} 0x${off.toString(16)}`);
      return regs.get(off) ?? 0n;
    },
    write(off: bigint, size: AccessSize, v: bigint) {
      log.push(`w${size * 8} 0x${off.toString(16)} 0x${v.toString(16)}`);
      regs.set(off, v);
    },
  };
}

function setup(props: { device?: number; function?: number } = {}, ramBytes = 512n << 20n) {
  const mmioLog: string[] = [];
  const smmu = fakeSmmu(mmioLog);
  const translations: Array<{ sid: number; iova: bigint; write: boolean }> = [];
  const iommu: Iommu = {
    translate: (sid, iova, write) => {
      translations.push({ sid, iova, write });
      if ((iova & ~0xfffn) !== (IOVA & ~0xfffn)) return { ok: false };
      return { ok: true, pa: 0x4ecba000n | (iova & 0xfffn), mask: 0xfffn };
    },
  };
  const dev = registryDevice('smmu-testdev', SmmuTestdev, props);
  const rig = deviceRig(dev, { ramBytes, iommu, iommuView: true, command: 0x0006 });
  const memory = rig.memory;
  memory.map(SMMU, smmu);
  const rd = (off: number) => rig.rd(off);
  const wr = (off: number, v: bigint) => rig.wr(off, v);
  const q = (addr: bigint, size = 8) => rig.load(addr, size);
  return { dev, memory, smmu, mmioLog, translations, rd, wr, q };
}

t.test('identity, reset values and register masks', async (t) => {
  const { dev, rd, wr } = setup();
  t.equal(dev.configRead(0, 4), 0x00051b36);
  t.equal(rd(0x00), 0x53544d4dn);
  t.equal(rd(0x04), 2n);
  t.equal(rd(0x38), 0xffffffffn);
  t.equal(rd(0x48), 1n, 'TRANS_MODE S2');
  t.equal(rd(0x4c), 1n);
  t.equal(rd(0x50), 1n);
  t.equal(rd(0x58), 0n);
  t.equal(rd(0x3c), 0n);
  t.equal(rd(0x200), 0n, 'unknown offset');
  wr(0x34, 7n);
  t.equal(rd(0x34), 1n, 'DIR: nonzero → 1');
  wr(0x40, 3n);
  t.equal(rd(0x40), 1n, 'MODE: bit 0');
  wr(0x48, 0xffn);
  t.equal(rd(0x48), 3n);
  wr(0x04, 5n);
  t.equal(rd(0x04), 2n, 'ATTR_NS read-only');
});

t.test('DMA writes 0xA0 + (i & 0x1f) through the IOMMU with StreamID 1 (props), not the slot', async (t) => {
  const { rd, wr, q, translations } = setup();
  t.equal(rd(0x00), 0x53544d4dn, 'ID read with nothing pending');
  wr(0x28, 0x80604567n);
  wr(0x2c, 0x80n);
  wr(0x30, 0x40n);
  wr(0x34, 0n);
  wr(0x3c, 1n);
  t.equal(rd(0x38), 0xfffffffen, 'BUSY until ID is read');
  rd(0x00);
  t.equal(rd(0x38), 0n);
  t.equal(translations[0].sid, 1);
  t.equal(translations[0].write, true);
  t.equal(q(0x4ecba567n, 8), 0xa7a6a5a4a3a2a1a0n);
  t.equal(q(0x4ecba567n + 0x20n, 8), 0xa7a6a5a4a3a2a1a0n, 'pattern restarts at 0x20');
  t.equal(q(0x4ecba567n + 0x18n, 8), 0xbfbebdbcbbbab9b8n);
});

t.test('device/function props pick the StreamID', async (t) => {
  const { dev, rd, wr, translations } = setup({ device: 3, function: 2 });
  t.equal(dev.requesterId(), 0x1a);
  t.equal(dev.devfn, 8, 'config space stays where the bus put it');
  wr(0x28, 0x80604567n);
  wr(0x2c, 0x80n);
  wr(0x30, 4n);
  wr(0x3c, 1n);
  rd(0x00);
  t.equal(translations[0].sid, 0x1a);
});

t.test('DMA result codes and the mode-1 bypass', async (t) => {
  const { dev, rd, wr, q, translations } = setup();
  const run = () => {
    wr(0x3c, 1n);
    rd(0x00);
    return rd(0x38);
  };
  wr(0x30, 0n);
  t.equal(run(), 0xdead0001n);
  wr(0x30, 65537n);
  t.equal(run(), 0xdead0001n);
  wr(0x30, 4n);
  wr(0x28, 0x1000n);
  wr(0x2c, 0n);
  t.equal(run(), 0xdead0002n, 'translation fault');
  wr(0x34, 1n);
  wr(0x28, 0x80604567n);
  wr(0x2c, 0x80n);
  t.equal(run(), 0n, 'direction 1 reads');
  t.equal(translations.at(-1)!.write, false);
  // Mode 1 with ATTRS bit 3: straight to system memory.
  const before = translations.length;
  wr(0x40, 1n);
  wr(0x44, 0xan);
  wr(0x34, 0n);
  wr(0x28, 0x40001000n);
  wr(0x2c, 0n);
  t.equal(run(), 0n);
  t.equal(translations.length, before, 'no translation');
  t.equal(q(0x40001000n, 4), 0xa3a2a1a0n);
  // Mode 1 without bit 3 goes through the IOMMU even with bus mastering off.
  dev.configWrite(0x04, 2, 0x0002);
  wr(0x44, 0x2n);
  wr(0x28, 0x80604567n);
  wr(0x2c, 0x80n);
  t.equal(run(), 0n);
  wr(0x40, 0n);
  t.equal(run(), 0xdead0002n, 'mode 0 is gated by bus mastering');
  wr(0x3c, 0n);
  t.equal(rd(0x38), 0xffffffffn, 'doorbell 0: IDLE');
});

const STE = 0x4e179040n;
const CD = 0x4e179080n;

function words(q: (a: bigint, s?: number) => bigint, base: bigint): bigint[] {
  return Array.from({ length: 8 }, (_, i) => q(base + BigInt(4 * i), 4));
}

t.test('builds the S2-only tables (§9.3)', async (t) => {
  const { rd, wr, q } = setup();
  wr(0x48, 1n);
  wr(0x54, 2n);
  wr(0x54, 1n);
  t.equal(rd(0x58), 0n);
  t.equal(q(0x4e4d0008n), 0x4e4d1003n);
  t.equal(q(0x4e4d1010n), 0x4e4d2003n);
  t.equal(q(0x4e4d2018n), 0x4e4d3003n);
  t.equal(q(0x4e4d3020n), 0x040000004ecba7c3n);
  t.same(words(q, STE), [0x4e17908dn, 0n, 0n, 0n, 0n, 0x000d0094n, 0x4e4d0000n, 0n]);
  t.same(words(q, CD), [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n], 'no CD for S2');
  t.equal(q(0x4e4d0000n), 0n, 'no nested entries');
});

t.test('builds the S1 tables with a CD and the S1 leaf', async (t) => {
  const { rd, wr, q } = setup();
  wr(0x48, 0n);
  wr(0x54, 1n);
  t.equal(rd(0x58), 0n);
  t.same(words(q, STE).slice(0, 1), [0x4e17908bn]);
  t.same(words(q, CD), [0xc0000010n, 0x1e206204n, 0x4e4d0000n, 0n, 0n, 0n, 0n, 0n]);
  t.equal(q(0x4e4d3020n), 0x040000004ecba743n);
  t.equal(q(0x4e4d3bc8n), 0n);
});

t.test('builds the nested tables', async (t) => {
  const { rd, wr, q } = setup();
  wr(0x48, 2n);
  wr(0x54, 1n);
  t.equal(rd(0x58), 0n);
  t.equal(q(STE, 4), 0x4e17908fn);
  const expected: Array<[bigint, bigint]> = [
    [0x4e4d0000n, 0x000000004e4d1003n],
    [0x4e4d1008n, 0x000000004e4d2003n],
    [0x4e4d2380n, 0x000000004e4d3003n],
    [0x4e4d3bc8n, 0x040000004e179743n],
    [0x4e4d2390n, 0x000000004e4d3003n],
    [0x4e4d3680n, 0x040000004e4d0743n],
    [0x4e4d3688n, 0x040000004e4d1743n],
    [0x4e4d3690n, 0x040000004e4d2743n],
    [0x4e4d3698n, 0x040000004e4d3743n],
    [0x4e4d23b0n, 0x000000004e4d3003n],
    [0x4e4d35d0n, 0x040000004ecba7c3n],
    [0x4e4d3020n, 0x040000004ecba743n],
  ];
  for (const [a, v] of expected) t.equal(q(a), v, `0x${a.toString(16)}`);
});

t.test('unsupported configurations report 0xDEAD3001 instead of aborting', async (t) => {
  const { rd, wr, q } = setup();
  wr(0x48, 3n);
  wr(0x54, 1n);
  t.equal(rd(0x58), 0xdead3001n);
  t.equal(q(0x4e4d0008n), 0n, 'nothing written');
  wr(0x54, 2n);
  t.equal(rd(0x58), 0n, 'bit 1 clears the status');
  wr(0x48, 1n);
  wr(0x4c, 0n);
  wr(0x54, 1n);
  t.equal(rd(0x58), 0xdead3001n);
  wr(0x4c, 1n);
  wr(0x50, 2n);
  wr(0x54, 3n);
  t.equal(rd(0x58), 0xdead3001n);
});

t.test('a failing table write reports 0xDEAD2011; a failing STE word stops the build', async (t) => {
  // 128 MiB of RAM ends at 0x48000000: every table address is unassigned.
  const small = setup({}, 128n << 20n);
  small.wr(0x54, 1n);
  t.equal(small.rd(0x58), 0n, 'STE write failed: status left as it was');
  // RAM up to 0x4E200000: STE and CD land, the page tables at 0x4E4D0000 do not.
  const mid = setup({}, 0x0e200000n);
  mid.wr(0x48, 1n);
  mid.wr(0x54, 1n);
  t.equal(mid.rd(0x58), 0n, 'S2: the last store (an STE word) succeeded');
  mid.wr(0x48, 0n);
  mid.wr(0x54, 1n);
  t.equal(mid.rd(0x58), 0xdead2011n, 'S1: the last store (the S1 leaf) failed');
});

t.test('TRANS_CLEAR zeroes the tables and pushes CFGI_STE, CFGI_CD, TLBI_NSNH_ALL by MMIO', async (t) => {
  const { rd, wr, q, smmu, mmioLog, memory } = setup();
  wr(0x48, 2n);
  wr(0x54, 1n);
  smmu.regs.set(0x90n, 0x4e16b00an);
  smmu.regs.set(0x94n, 0n);
  smmu.regs.set(0x98n, 0x3ffn);
  wr(0x20, SMMU);
  wr(0x24, 0n);
  wr(0x5c, 1n);
  for (const a of [
    0x4e4d0008n,
    0x4e4d1010n,
    0x4e4d2018n,
    0x4e4d3020n,
    0x4e4d0000n,
    0x4e4d1008n,
    0x4e4d2380n,
    0x4e4d3bc8n,
  ]) {
    t.equal(q(a), 0n, `cleared 0x${a.toString(16)}`);
  }
  t.same(words(q, STE), Array(8).fill(0n));
  t.same(words(q, CD), Array(8).fill(0n));
  t.equal(q(0x4e4d2390n), 0x000000004e4d3003n, 'other nested entries stay');
  t.same(mmioLog, [
    'r32 0x90',
    'r32 0x94',
    'r32 0x98',
    'w32 0x98 0x400',
    'r32 0x90',
    'r32 0x94',
    'r32 0x98',
    'w32 0x98 0x401',
    'r32 0x90',
    'r32 0x94',
    'r32 0x98',
    'w32 0x98 0x402',
  ]);
  const cmd = (slot: bigint) => {
    const b = new Uint8Array(16);
    memory.readBytes(0x4e16b000n + 16n * slot, b);
    return Buffer.from(b).toString('hex');
  };
  t.equal(cmd(0x3ffn), '03000000' + '01000000' + '00'.repeat(8), 'CFGI_STE SID 1 in the last slot');
  t.equal(cmd(0n), '05000000' + '01000000' + '00'.repeat(8), 'CFGI_CD wraps to slot 0');
  t.equal(cmd(1n), '30000000' + '01000000' + '00'.repeat(8), 'TLBI_NSNH_ALL');
  t.equal(rd(0x58), 0n, 'status untouched');
});

t.test('TRANS_CLEAR without SMMU_BASE does no MMIO', async (t) => {
  const { wr, mmioLog } = setup();
  wr(0x5c, 0n);
  t.same(mmioLog, []);
});

t.test('device reset restores registers, keeps the StreamID', async (t) => {
  const { dev, rd, wr } = setup({ function: 3 });
  wr(0x48, 0n);
  wr(0x30, 8n);
  wr(0x3c, 1n);
  dev.reset();
  t.equal(rd(0x48), 1n);
  t.equal(rd(0x30), 0n);
  t.equal(rd(0x38), 0xffffffffn);
  t.equal(dev.requesterId(), 3);
});
