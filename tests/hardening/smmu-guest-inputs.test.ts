/**
 * Guest-controlled SMMU inputs that must fault cleanly: never loop, never allocate without bound.
 * Each scenario drives an in-process Session (virt + SMMUv3 + edu + iommu-testdev + smmu-testdev)
 * through qtest lines only, must finish (the file's minute-scale timeout is the safety net: no
 * wall-clock bound, a busy machine may be slow), must keep answering afterwards, and must keep the
 * process RSS bounded. Timings and RSS are printed as comments.
 */
import t from 'tap';
import { DEVICES, Driver, RAM, REG, rssMiB, SMMU } from '../helpers/hardening/machine-driver.js';
import { hexU64 as hex } from '../helpers/bytes.js';

t.setTimeout(600000);

const GERROR_CMDQ_ERR = 1n;
const GERROR_EVENTQ_ABT = 4n;
/** RSS may grow by at most this much over the whole file (the RAM budget bounds guest memory). */
const RSS_GROWTH_LIMIT_MIB = 1200;

const startRss = rssMiB();
let maxRss = startRss;

function scenario(name: string, fn: (d: Driver, t: Tap) => void): void {
  t.test(name, async (t) => {
    const d = new Driver();
    d.setupDevices();
    const t0 = performance.now();
    fn(d, t);
    const ms = performance.now() - t0;
    const rss = rssMiB();
    maxRss = Math.max(maxRss, rss);
    t.comment(`${name}: ${ms.toFixed(0)} ms, ${d.requests} requests, RSS ${rss} MiB`);
    t.ok(d.requests > 0, `finished after ${d.requests} requests`);
    t.ok(rss - startRss < RSS_GROWTH_LIMIT_MIB, `RSS ${rss} MiB (start ${startRss} MiB)`);
    // the session still answers
    t.equal(d.cmd('endianness'), 'OK little');
  });
}
type Tap = import('tap').Test;

const cmdqErr = (d: Driver) => (d.smmuReadl(REG.CMDQ_CONS) >> 24n) & 0x7fn;
const gerrorPending = (d: Driver) => d.smmuReadl(REG.GERROR) ^ d.smmuReadl(REG.GERRORN);

// ---------------------------------------------------------------- command queue

scenario('CMDQ log2size above IDR1 (31) is clamped to 19; PROD far beyond CONS runs 2^19 commands', (d, t) => {
  d.setupSmmuBypass();
  const q = 0x50000000n;
  d.ok(`memset ${hex(q)} ${hex(16 << 19)} 0x46`); // every command: CMD_SYNC, CS=0
  d.smmuWriteq(REG.CMDQ_BASE, q | 31n);
  d.smmuWritel(REG.CMDQ_PROD, (1 << 19) - 1);
  t.equal(d.smmuReadl(REG.CMDQ_CONS), BigInt((1 << 19) - 1), 'all commands consumed');
  t.equal(cmdqErr(d), 0n, 'no error');
});

scenario('CMDQ PROD with the wrap bit flipped (queue full) and PROD = 0xffffffff (overflow)', (d, t) => {
  d.setupSmmuBypass();
  const q = 0x50000000n;
  d.ok(`memset ${hex(q)} ${hex(16 << 8)} 0x46`);
  d.smmuWriteq(REG.CMDQ_BASE, q | 8n);
  d.smmuWritel(REG.CMDQ_PROD, 1 << 8); // wrap 1, index 0: full
  t.equal(d.smmuReadl(REG.CMDQ_CONS), 1n << 8n, 'the full queue is drained, CONS wraps');
  d.smmuWritel(REG.CMDQ_PROD, 0xffffffff);
  t.equal(cmdqErr(d), 0n);
  d.smmuWritel(REG.CMDQ_PROD, 0);
  t.pass('no hang on overflowing PROD');
});

scenario('commands with reserved bits set, unknown opcodes, SSec: CERROR_ILL, no loop', (d, t) => {
  d.setupSmmuBypass();
  const q = 0x48100000n;
  d.writeq(q, 0xffffffff_ffffff03n); // CFGI_STE, every other bit set (SSec=1) → ILL
  d.writeq(q + 8n, 0xffffffff_ffffffffn);
  d.smmuWritel(REG.CMDQ_PROD, 1);
  t.equal(cmdqErr(d), 1n, 'CERROR_ILL');
  t.equal(gerrorPending(d) & GERROR_CMDQ_ERR, GERROR_CMDQ_ERR, 'GERROR.CMDQ_ERR');
  // further PROD writes do nothing while the error is pending
  d.smmuWritel(REG.CMDQ_PROD, 0x7ffff);
  // acknowledge, replace with an unknown opcode, retry
  d.smmuWritel(REG.GERRORN, d.smmuReadl(REG.GERROR));
  d.writeq(q, 0xffn);
  d.smmuWritel(REG.CMDQ_PROD, 1);
  t.equal(cmdqErr(d), 1n, 'unknown opcode → ILL');
  // TLBI with every range bit set (NUM=31, SCALE=31, TG=3): bounded range invalidation
  d.smmuWritel(REG.GERRORN, d.smmuReadl(REG.GERROR));
  d.writeq(q, 0x12n | (0x1fn << 12n) | (0x1fn << 20n));
  d.writeq(q + 8n, 0xffffffff_fffffc00n | (3n << 10n) | 0x1fn);
  d.writeq(q + 16n, 0x04n | (31n << 0n)); // CFGI_STE_RANGE Range 31 (all)
  d.writeq(q + 24n, 0n);
  d.smmuWriteq(REG.CMDQ_CONS, 0);
  d.smmuWritel(REG.CMDQ_PROD, 2);
  t.pass('range invalidations over the whole space finish');
});

scenario('command queue in the SMMU registers, in unassigned space, past 2^52', (d, t) => {
  d.setupSmmuBypass();
  for (const base of [SMMU, 0x3f000000n, 0x000fffffffffffc0n, 0x10000000n]) {
    d.smmuWritel(REG.CR0, 0x5); // CMDQEN off while reconfiguring
    d.smmuWritel(REG.GERRORN, d.smmuReadl(REG.GERROR));
    d.smmuWritel(REG.CMDQ_CONS, 0);
    d.smmuWriteq(REG.CMDQ_BASE, base | 19n);
    d.smmuWritel(REG.CR0, 0xd);
    d.smmuWritel(REG.CMDQ_PROD, (1 << 19) - 1);
    t.ok(cmdqErr(d) !== 0n || d.smmuReadl(REG.CMDQ_CONS) > 0n, `${hex(base)}: stops with an error or consumes`);
  }
});

scenario('command queue inside the event queue: events overwrite commands', (d, t) => {
  const q = 0x48100000n;
  d.setupSmmuBypass(0x48000000n, 2, q, q); // stream table of 4 STEs: sid 0x10 is past it
  d.ok(`memset ${hex(q)} 0x1000 0x46`);
  for (let i = 0; i < 64; i++) {
    d.iommuDma(0x40000000n, 4); // C_BAD_STREAMID events land in the command queue
    d.smmuWritel(REG.CMDQ_PROD, (i + 1) & 0xff);
  }
  t.ok(d.smmuReadl(REG.EVENTQ_PROD) > 0n, 'events recorded');
});

// ---------------------------------------------------------------- event queue

scenario('event queue full: EVENTQ_ABT, no unbounded growth', (d, t) => {
  d.setupSmmuBypass(0x48000000n, 2, 0x48100000n, 0x48200000n);
  d.smmuWriteq(REG.EVENTQ_BASE, 0x48200000n | 1n); // 2 entries
  for (let i = 0; i < 200; i++) d.iommuDma(0x40000000n, 4);
  t.equal(gerrorPending(d) & GERROR_EVENTQ_ABT, GERROR_EVENTQ_ABT, 'GERROR.EVENTQ_ABT_ERR');
  // event queue in MMIO / unassigned / the SMMU itself
  for (const base of [SMMU, 0x3f000000n, 0x10000000n]) {
    d.smmuWritel(REG.EVENTQ_PROD, 0);
    d.smmuWritel(REG.EVENTQ_CONS, 0);
    d.smmuWriteq(REG.EVENTQ_BASE, base | 19n);
    for (let i = 0; i < 20; i++) d.iommuDma(0x40000000n, 4);
  }
  t.pass('faults with the event queue anywhere');
});

// ---------------------------------------------------------------- stream tables

scenario('StreamIDs past the table, linear tables outside RAM, LOG2SIZE 63', (d, t) => {
  d.setupSmmuBypass(0x48000000n, 2);
  t.not(d.iommuDma(0x40000000n, 4), 0n, 'sid 0x10 past a 4-entry table faults');
  for (const [base, cfg] of [
    [0x000fffffffffffc0n, 20],
    [SMMU, 8],
    [0x3f000000n, 8],
    [0x10000000n, 63],
    [0n, 63],
  ] as const) {
    d.smmuWritel(REG.CR0, 0);
    d.smmuWriteq(REG.STRTAB_BASE, base);
    d.smmuWritel(REG.STRTAB_BASE_CFG, cfg);
    d.smmuWritel(REG.CR0, 0xd);
    d.iommuDma(0x40000000n, 4);
    d.smmuTestdevDma(0x40000000n, 64);
  }
  t.pass('no hang');
});

scenario('2-level stream tables whose L1 descriptors point at MMIO, unassigned space, the SMMU, themselves', (d, t) => {
  d.setupSmmuBypass();
  const l1 = 0x48400000n;
  d.smmuWritel(REG.CR0, 0);
  d.smmuWriteq(REG.STRTAB_BASE, l1);
  d.smmuWritel(REG.STRTAB_BASE_CFG, (1 << 16) | (8 << 6) | 16); // 2-level, SPLIT 8, LOG2SIZE 16
  d.smmuWritel(REG.CR0, 0xd);
  for (const target of [SMMU, 0x08000000n, 0x3f000000n, 0x10000000n, l1, 0x000fffffffffffc0n, 0xffffffffffffffc0n]) {
    for (const span of [1n, 9n, 31n]) {
      d.writeq(l1, target | span);
      d.smmuWriteq(REG.CMDQ_BASE, 0x48100000n | 8n);
      d.iommuDma(0x40000000n, 4);
      d.smmuTestdevDma(0x40000000n, 64);
    }
  }
  t.pass('no hang');
});

scenario('STE/CD/page-table descriptors pointing outside RAM and into MMIO', (d, t) => {
  d.setupSmmuBypass();
  const ste = 0x48000000n + BigInt(DEVICES.iommu.sid * 64);
  for (const ptr of [SMMU, 0x3f000000n, 0x10000000n, 0x000fffffffffffc0n, ste]) {
    // S1 STE (Config 5) with the CD at ptr
    d.writeq(ste, (ptr & 0x000fffffffffffc0n) | (5n << 1n) | 1n);
    d.writeq(ste + 8n, 0n);
    d.smmuWritel(REG.CMDQ_PROD, 0);
    d.iommuDma(0x40000000n, 4);
    // S2 STE (Config 6) with the table at ptr
    d.writeq(ste, (6n << 1n) | 1n);
    d.writeq(ste + 16n, (0x14n | (2n << 6n) | (5n << 16n) | (1n << 19n)) << 32n);
    d.writeq(ste + 24n, ptr & 0x000ffffffffff000n);
    d.iommuDma(0x40000000n, 4);
  }
  t.pass('no hang');
});

// ---------------------------------------------------------------- DMA lengths

scenario('iommu-testdev DMA_LEN 0, and 1 MiB through a faulting SMMU', (d, t) => {
  d.setupSmmuBypass(0x48000000n, 2); // sid 0x10 is past the table: every page faults
  t.not(d.iommuDma(0x40000000n, 0), 0n, 'len 0 reports an error code');
  t.equal(d.iommuDma(0x40000000n, 0x100000n), 0xdead0002n, '1 MiB faults: DMA_TX_FAIL');
  t.equal(gerrorPending(d) & GERROR_EVENTQ_ABT, GERROR_EVENTQ_ABT, 'the event queue overflowed: EVENTQ_ABT_ERR');
});

scenario('iommu-testdev DMA_LEN 1 MiB in bypass', (d, t) => {
  t.equal(d.iommuDma(0x40100000n, 0x100000n), 0n, 'OK');
});

// iommu-testdev has no maximum DMA length upstream; a 4 GiB transfer would take minutes to hours
// (bypass ≈ 0.1 s/MiB, faulting through the SMMU ≈ 1.2 s/MiB) and stall every session of the
// process. qtestd refuses lengths above 16 MiB with BAD_LEN (protocol/deviations-devices.md).
scenario('iommu-testdev DMA_LEN 0xffffffff is refused at once; 16 MiB still runs', (d, t) => {
  d.setupDevices();
  t.equal(d.iommuDma(0x20000000n, 0xffffffffn), 0xdead0001n, 'over 16 MiB → DMA_BAD_LEN');
  t.not(d.iommuDma(0x20000000n, 16n << 20n), 0xdead0001n, '16 MiB is within the limit');
});

scenario('smmu-testdev DMA lengths 0, 65536, 65537, 0xffffffff', (d, t) => {
  d.setupSmmuBypass();
  for (const len of [0n, 65536n, 65537n, 0xffffffffn]) {
    const r = d.smmuTestdevDma(RAM + 0x100000n, len);
    t.comment(`len ${hex(len)} → ${hex(r)}`);
  }
  t.equal(d.smmuTestdevDma(RAM + 0x100000n, 65537n), 0xdead0001n, 'past 64 KiB → DMA_BAD_LEN');
});

scenario('edu DMA with huge counts, addresses past 2^64, through a faulting SMMU', (d, t) => {
  d.setupSmmuBypass(0x48000000n, 2);
  for (const [src, dst, count] of [
    [0x40000n, RAM, 0xffffffffffffffffn],
    [0xfffffffffffff000n, 0x40000n, 0x100000n],
    [RAM, 0x40ff0n, 0x40n],
    [0x40000n, 0xfffffffffffffff0n, 0x1000n],
  ] as const) {
    d.eduDma(src, dst, count, 1);
    d.eduDma(dst, src, count, 3);
  }
  t.pass('bounded');
});

scenario('random STE and CD contents for 256 StreamIDs, DMA from every device', (d, t) => {
  d.setupSmmuBypass();
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 64; i++) d.writel(0x48000000n + (BigInt(rnd() % (256 * 64)) * 4n) / 4n, rnd());
    for (let i = 0; i < 16; i++) d.writel(RAM + BigInt(rnd() % 0x200000) * 4n, rnd());
    d.writeq(0x48100000n, 0x30n); // TLBI_NSNH_ALL
    d.writeq(0x48100010n, 0x04n | (31n << 0n));
    d.writeq(0x48100018n, 0n);
    d.writeq(0x48100010n, 0x04n);
    d.smmuWritel(REG.CMDQ_PROD, (round * 2 + 2) & 0xff);
    d.iommuDma(RAM + BigInt(rnd() % 0x1000000), rnd() % 0x10000);
    d.smmuTestdevDma(RAM + BigInt(rnd() % 0x1000000), rnd() % 0x10000);
    d.eduDma(0x40000n, RAM + BigInt(rnd() % 0x1000000), rnd() % 0x1000, 1 | (rnd() & 2));
  }
  t.pass('bounded');
});

t.test('RSS summary', async (t) => {
  t.comment(`start ${startRss} MiB, max ${maxRss} MiB`);
  t.ok(maxRss - startRss < RSS_GROWTH_LIMIT_MIB);
});
