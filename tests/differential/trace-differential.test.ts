/**
 * Trace-event differential: the seeded SMMU programs of the SMMU differential
 * (tests/helpers/smmu-programs.ts; edu DMAs through the SMMU, ECAM config writes in the header) run
 * on qtestd and on QEMU 10.2.2 with the same `-trace PATTERN`, and the trace lines on stderr must be
 * identical, in order (the log backend prints no prefix by default; a `-msg timestamp=on` time
 * would be dropped here). Events qtestd does not emit (protocol/trace.md, "Not emitted") are
 * dropped from QEMU's side only.
 *
 *   QTESTD_TRACE_COUNT=N   number of programs (default 24)
 */
import t from 'tap';
import { withOracle } from '../helpers/oracle.js';
import { launch } from '../helpers/launch.js';
import type { TargetName } from '../helpers/launch.js';
import {
  generateSmmuProgram,
  gerrornAck,
  processHeader,
  programSeed,
  SMMU_PROGRAM_ARGS,
} from '../helpers/smmu-programs.js';
import type { SmmuProgram } from '../helpers/smmu-programs.js';
import { NOT_EMITTED } from './trace-not-emitted.js';

const COUNT = Number(process.env.QTESTD_TRACE_COUNT ?? 24);
const SEED = 0x7ace5eed;
/** tests/helpers/processes.ts keeps this much of a target's stderr. */
const CAPTURE_LIMIT = 1 << 20;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z /;

/** Trace lines of a stderr text (timestamp prefix dropped), without the events in `drop`. */
export function traceLines(stderr: string, drop: ReadonlySet<string>): string[] {
  return stderr
    .split('\n')
    .map((l) => l.replace(TIMESTAMP, ''))
    .filter((l) => /^(smmu|smmuv3|pci_cfg|iommu_testdev)_[a-z0-9_]* /.test(l))
    .filter((l) => !drop.has(l.slice(0, l.indexOf(' '))));
}

async function run(target: TargetName, patterns: string[], programs: readonly SmmuProgram[]): Promise<string> {
  const inst = await launch({
    target,
    args: [...SMMU_PROGRAM_ARGS, ...patterns.flatMap((p) => ['-trace', p])],
    qmp: false,
  });
  await inst.qtest.batch(processHeader());
  let gerror: bigint | null = null;
  for (const p of programs) {
    for (const seg of p.segments) {
      const r = await inst.qtest.batch(gerror === null ? seg : [gerrornAck(gerror), ...seg], 60000);
      if (!r.done) throw new Error(`${target} stopped answering in program ${p.index}`);
      const last = r.replies[r.replies.length - 1]!;
      const m = /^OK (0x[0-9a-f]+)$/.exec(last[last.length - 1] ?? '');
      gerror = m ? BigInt(m[1]!) : 0n;
    }
  }
  await inst.teardown();
  return inst.stderr();
}

function firstDifference(a: string[], b: string[]): string {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      const ctx = (xs: string[]) => xs.slice(Math.max(0, i - 3), i + 3).join('\n    ');
      return `line ${i}:\n  qtestd:\n    ${ctx(a)}\n  QEMU:\n    ${ctx(b)}`;
    }
  }
  return 'none';
}

void withOracle(t, 'trace events match QEMU 10.2.2', async (t) => {
  // One process per run; linear and two-level stream tables in separate runs (FMT is sticky).
  const linear: SmmuProgram[] = [];
  const twoLevel: SmmuProgram[] = [];
  for (let i = 0; (linear.length < COUNT || twoLevel.length < COUNT / 2) && i < COUNT * 8; i++) {
    // The program's kind does not depend on its RAM slot: generate once to learn it, then in the
    // next free slot of its process.
    const kind = await generateSmmuProgram(programSeed(SEED, i), i, 0);
    const list = kind.twoLevel ? twoLevel : linear;
    if (list.length >= (kind.twoLevel ? COUNT / 2 : COUNT)) continue;
    list.push(await generateSmmuProgram(programSeed(SEED, i), i, list.length));
  }
  const runs: Array<[string[], SmmuProgram[]]> = [
    [['smmu*'], linear],
    [['smmu*'], twoLevel],
    [['smmu_ptw_*', 'smmu_get_pte', 'smmu_iotlb_*'], linear],
    [['pci_cfg*'], linear],
    [['smmuv3_translate*'], linear],
  ];
  const seen = new Map<string, number>();
  for (const [patterns, programs] of runs) {
    const pattern = `${patterns.join(' ')} (${programs === linear ? 'linear' : 'two-level'})`;
    const [ours, theirs] = await Promise.all([run('qtestd', patterns, programs), run('oracle', patterns, programs)]);
    let a = traceLines(ours, new Set());
    let b = traceLines(theirs, NOT_EMITTED);
    // The process helper keeps the first MiB of stderr: compare what both sides kept whole.
    if (theirs.length >= CAPTURE_LIMIT || ours.length >= CAPTURE_LIMIT) {
      const n = Math.min(a.length, b.length) - 1;
      t.comment(`${pattern}: stderr capture limit reached; comparing the first ${n} trace lines`);
      a = a.slice(0, n);
      b = b.slice(0, n);
    }
    for (const l of b) {
      // Nested stage-1 walks print stage=3: count them apart from the other walk lines.
      const key = l.slice(0, l.indexOf(' ')) + (/^smmu_ptw_\w+ stage=3 /.test(l) ? ' (nested)' : '');
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    t.ok(b.length > 0, `${pattern}: QEMU printed ${b.length} trace lines`);
    t.equal(a.length, b.length, `${pattern}: same number of trace lines`);
    t.ok(
      a.length === b.length && a.every((l, i) => l === b[i]),
      `${pattern}: identical trace lines over ${programs.length} programs; first difference: ${firstDifference(a, b)}`,
    );
  }
  // The programs reach every kind of walk line and the two-level stream table lookup.
  for (const name of [
    'smmu_get_pte',
    'smmu_ptw_level',
    'smmu_ptw_level (nested)',
    'smmu_ptw_page_pte',
    'smmu_ptw_block_pte',
    'smmu_ptw_invalid_pte',
    'smmuv3_find_ste_2lvl',
  ])
    t.ok((seen.get(name) ?? 0) > 0, `compared ${seen.get(name) ?? 0} ${name} lines`);
});
