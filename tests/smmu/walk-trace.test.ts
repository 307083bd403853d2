/**
 * The walk's trace events (src/smmu/walk-trace.ts) on hand-built tables: lines, order and the
 * stage number, in QEMU 10.2.2's formats (protocol/trace.md). The trace differential checks the
 * same against the oracle on the seeded programs.
 */
import t from 'tap';
import { Tracer } from '../../src/base/trace.js';
import { walkStage1, walkStage2 } from '../../src/smmu/page-table-walk.js';
import type { Stage1Params } from '../../src/smmu/page-table-walk.js';
import type { S2Cfg, TtInfo } from '../../src/smmu/translation-config.js';
import { walkTraced, walkTraceObserver } from '../../src/smmu/walk-trace.js';
import { BLOCK, FakeMemory, mapWalk } from './fixtures.js';

const TABLES = [0x4100_0000n, 0x4101_0000n, 0x4102_0000n, 0x4103_0000n];
const tt = (o: Partial<TtInfo> = {}): TtInfo => ({
  disabled: false,
  tsz: 16,
  granuleShift: 12,
  ttb: TABLES[0]!,
  had: false,
  ...o,
});
const S1: Stage1Params = { tt: [tt(), tt({ disabled: true, tsz: 0, granuleShift: 0 })], tbi: 0, oas: 44, affd: false };

function capture(patterns: string[]): { tr: Tracer; lines: string[] } {
  const lines: string[] = [];
  return { tr: Tracer.fromPatterns(patterns, { write: (s) => lines.push(s.trimEnd()) }), lines };
}

t.test('stage 1: table descriptors, then the page', async (t) => {
  const mem = new FakeMemory();
  mapWalk(mem, 0x1234_5000n, 0x5000_0000n, 12, 48, 0, 3, TABLES);
  const { tr, lines } = capture(['smmu_ptw_*', 'smmu_get_pte']);
  const r = walkStage1(S1, 0x1234_5678n, 1, mem.readDescriptor, undefined, walkTraceObserver(tr, 1));
  t.ok(r.ok);
  t.same(
    lines.map((l) => l.slice(0, l.indexOf(' '))),
    [
      ...['smmu_get_pte', 'smmu_ptw_level'],
      ...['smmu_get_pte', 'smmu_ptw_level'],
      ...['smmu_get_pte', 'smmu_ptw_level'],
      ...['smmu_get_pte', 'smmu_ptw_level', 'smmu_ptw_page_pte'],
    ],
  );
  t.equal(
    lines[0],
    'smmu_get_pte baseaddr=0x41000000 index=0x0, pteaddr=0x41000000, pte=0x41010003',
    'smmu_get_pte at level 0',
  );
  t.equal(
    lines[5],
    'smmu_ptw_level stage=1 level=2 iova=0x12345678 subpage_sz=0x200000 baseaddr=0x41020000 offset=145 => pte=0x41030003',
  );
  t.equal(
    lines[8],
    'smmu_ptw_page_pte stage=1 level=3 iova=0x12345678 base@=0x41030000 pte@=0x41030a28 pte=0x50000403 page address = 0x50000000',
  );
});

t.test('nested stage-1 walks print stage=3; blocks in MiB; invalid descriptors', async (t) => {
  const mem = new FakeMemory();
  mapWalk(mem, 0x4000_0000n, 0x8000_0000n, 12, 48, 0, 1, TABLES, (a) => BLOCK(a));
  const { tr, lines } = capture(['smmu_ptw_block_pte', 'smmu_ptw_invalid_pte', 'smmu_ptw_level']);
  t.ok(walkStage1(S1, 0x4000_1000n, 1, mem.readDescriptor, undefined, walkTraceObserver(tr, 3)).ok);
  t.equal(
    lines[2],
    'smmu_ptw_block_pte stage=3 level=1 base@=0x41010000 pte@=0x41010008 pte=0x80000401 iova=0x40001000 block address = 0x80000000 block size = 1024 MiB',
  );
  lines.length = 0;
  const s2: S2Cfg = {
    vmid: 0,
    granuleShift: 12,
    vttb: 0x4200_0000n,
    sl0: 1,
    effPs: 44,
    tsz: 25,
    affd: false,
    recordFaults: true,
  };
  t.notOk(walkStage2(s2, 0x1000n, 1, mem.readDescriptor, walkTraceObserver(tr, 3)).ok);
  t.same(lines, [
    'smmu_ptw_level stage=2 level=1 iova=0x1000 subpage_sz=0x40000000 baseaddr=0x42000000 offset=0 => pte=0x0',
    'smmu_ptw_invalid_pte stage=2 level=1 base@=0x42000000 pte@=0x42000000 offset=0 pte=0x0',
  ]);
});

t.test('a failed descriptor read prints nothing; the guard sees only the walk events', async (t) => {
  const mem = new FakeMemory();
  const { tr, lines } = capture(['smmu*']);
  const far = { ...S1, tt: [tt({ ttb: 0x7000_0000n }), S1.tt[1]] as const };
  t.notOk(walkStage1(far, 0x1000n, 1, mem.readDescriptor, undefined, walkTraceObserver(tr, 1)).ok);
  t.same(lines, []);
  t.ok(walkTraced(tr));
  t.notOk(walkTraced(capture(['smmu*', '-smmu_ptw_*', '-smmu_get_pte']).tr));
});
