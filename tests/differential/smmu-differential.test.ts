/**
 * SMMUv3 differential: seeded random SMMU programs (tests/helpers/smmu-programs.ts) run as qtest
 * sessions on qtestd and on real QEMU 10.2.2 (QTEST_ORACLE_PREFIX) with the same argv; edu DMAs go
 * through the SMMU. Every reply line, IRQ lines and their order included, must be byte-identical.
 *
 * Programs run in batches: one process per target per batch, programs in disjoint 8 MiB RAM slots,
 * linear-stream-table programs before 2-level ones (STRTAB_BASE_CFG.FMT is sticky until reset).
 * Both targets of a batch run concurrently; QTESTD_SMMU_JOBS batches run at once.
 *
 *   QTESTD_SMMU_SEED=N     base seed (decimal or 0x..., default fixed; printed on failure)
 *   QTESTD_SMMU_COUNT=N    number of programs (default 400)
 *   QTESTD_SMMU_BATCH=N    programs per process (default 30, at most MAX_SLOTS)
 *   QTESTD_SMMU_JOBS=N     batches in flight (default 2)
 *   QTESTD_SMMU_ONLY=i     run only program i (alone in a fresh process pair)
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { withOracle } from '../helpers/oracle.js';
import { describeExit, launch } from '../helpers/launch.js';
import type { TargetName } from '../helpers/launch.js';
import {
  generateSmmuProgram,
  gerrornAck,
  MAX_SLOTS,
  processHeader,
  programSeed,
  SMMU_PROGRAM_ARGS,
} from '../helpers/smmu-programs.js';
import type { SmmuProgram } from '../helpers/smmu-programs.js';

t.setTimeout(10 * 60_000); // a safety net only: qtestd and QEMU process pairs on a busy 2-core machine

const env = process.env;
const num = (s: string | undefined, d: number): number => (s && /^(0x[0-9a-f]+|\d+)$/i.test(s) ? Number(s) : d);
const BASE_SEED = num(env.QTESTD_SMMU_SEED, 0x5eed5a11) >>> 0;
const COUNT = num(env.QTESTD_SMMU_COUNT, 400);
const BATCH = Math.min(MAX_SLOTS, Math.max(1, num(env.QTESTD_SMMU_BATCH, 30)));
const JOBS = Math.max(1, num(env.QTESTD_SMMU_JOBS, 2));
const ONLY = env.QTESTD_SMMU_ONLY !== undefined ? num(env.QTESTD_SMMU_ONLY, -1) : undefined;

interface ProgramRun {
  /** every request sent for this program (GERRORN acks included) */
  requests: string[];
  replies: string[][];
  /** false when the target stopped answering during this program */
  done: boolean;
}

interface BatchRun {
  target: TargetName;
  header: { requests: string[]; replies: string[][] };
  programs: Map<number, ProgramRun>;
  exit: string;
  exitOk: boolean;
  stderr: string;
}

async function runBatch(target: TargetName, programs: readonly SmmuProgram[]): Promise<BatchRun> {
  const inst = await launch({ target, args: SMMU_PROGRAM_ARGS, qmp: false });
  const headerReq = processHeader();
  const h = await inst.qtest.batch(headerReq);
  const out: BatchRun = {
    target,
    header: { requests: headerReq, replies: h.replies },
    programs: new Map(),
    exit: '',
    exitOk: false,
    stderr: '',
  };
  let gerror: bigint | null = null;
  let alive = h.done;
  for (const p of programs) {
    if (!alive) break;
    const run: ProgramRun = { requests: [], replies: [], done: true };
    out.programs.set(p.index, run);
    for (const seg of p.segments) {
      const req = gerror === null ? seg : [gerrornAck(gerror), ...seg];
      const r = await inst.qtest.batch(req, 60000);
      run.requests.push(...req);
      run.replies.push(...r.replies);
      if (!r.done) {
        run.done = false;
        alive = false;
        break;
      }
      const last = r.replies[r.replies.length - 1]!;
      const m = /^OK (0x[0-9a-f]+)$/.exec(last[last.length - 1] ?? '');
      gerror = m ? BigInt(m[1]!) : 0n;
    }
  }
  const st = await inst.teardown();
  out.exit = describeExit(st);
  out.exitOk = st.code === 0 && !st.signal && !st.killed;
  out.stderr = inst.stderr();
  return out;
}

interface Mismatch {
  index: number;
  request: string;
  qtestd: string[];
  oracle: string[];
}

function compare(
  a: { requests: string[]; replies: string[][] },
  b: { requests: string[]; replies: string[][] },
): { count: number; first: Mismatch[] } {
  const first: Mismatch[] = [];
  let count = 0;
  const n = Math.max(a.requests.length, b.requests.length);
  for (let i = 0; i < n; i++) {
    const x = a.replies[i] ?? [];
    const y = b.replies[i] ?? [];
    const reqDiffer = a.requests[i] !== b.requests[i];
    if (reqDiffer || x.length !== y.length || x.some((l, k) => l !== y[k])) {
      count++;
      if (first.length < 6) {
        first.push({
          index: i,
          request: reqDiffer
            ? `${a.requests[i]} (qtestd) / ${b.requests[i]} (oracle)`
            : (a.requests[i] ?? b.requests[i] ?? ''),
          qtestd: x,
          oracle: y,
        });
      }
    }
  }
  return { count, first };
}

const show = (ls: string[]) =>
  ls.length ? ls.map((l) => JSON.stringify(l.length > 300 ? l.slice(0, 300) + '…' : l)).join(' + ') : '(no reply)';

function report(
  p: SmmuProgram,
  q: ProgramRun | undefined,
  o: ProgramRun | undefined,
  mm: { count: number; first: Mismatch[] },
): string {
  const lines = [
    `SMMU program #${p.index} seed=${p.seed} (0x${p.seed.toString(16)}), base seed 0x${BASE_SEED.toString(16)} [${p.kind}]: ${mm.count} request(s) differ`,
  ];
  const reqs = q?.requests ?? o?.requests ?? [];
  for (const m of mm.first) {
    lines.push(
      `  request #${m.index}: ${JSON.stringify(m.request.length > 300 ? m.request.slice(0, 300) + '…' : m.request)}`,
    );
    const ctx = reqs
      .slice(Math.max(0, m.index - 3), m.index)
      .map((r) => JSON.stringify(r.length > 120 ? r.slice(0, 120) + '…' : r))
      .join(', ');
    if (ctx) lines.push(`    after: ${ctx}`);
    lines.push(`    qtestd: ${show(m.qtestd)}`);
    lines.push(`    oracle: ${show(m.oracle)}`);
  }
  if (q && !q.done) lines.push('  qtestd stopped answering during this program');
  if (o && !o.done)
    lines.push('  the ORACLE stopped answering during this program (generator produced an input that kills QEMU)');
  try {
    const file = join(tmpdir(), `qtestd-smmu-diff-${BASE_SEED}-${p.index}.txt`);
    const body = reqs.map((r, i) => {
      const a = q?.replies[i] ?? [];
      const b = o?.replies[i] ?? [];
      const same = a.length === b.length && a.every((l, k) => l === b[k]);
      return `> ${r}\n` + (same ? b.map((l) => `< ${l}\n`).join('') : `! qtestd: ${show(a)}\n! oracle: ${show(b)}\n`);
    });
    writeFileSync(
      file,
      `# SMMU program #${p.index} seed ${p.seed} [${p.kind}]\n# argv: ${SMMU_PROGRAM_ARGS.join(' ')}\n# header: ${processHeader().join(' ; ')}\n` +
        body.join(''),
      'latin1',
    );
    lines.push(`  full program with both targets' replies: ${file}`);
  } catch {
    /* best effort */
  }
  lines.push(
    `  reproduce: QTESTD_SMMU_SEED=${BASE_SEED} QTESTD_SMMU_ONLY=${p.index} npx tap dist/tests/differential/smmu-differential.test.js`,
  );
  return lines.join('\n');
}

await withOracle(t, 'SMMUv3 differential (edu DMA through the SMMU)', async (tt) => {
  const t0 = Date.now();
  const indices = ONLY !== undefined ? [ONLY] : Array.from({ length: COUNT }, (_, i) => i);
  const batches: SmmuProgram[][] = [];
  for (let i = 0; i < indices.length; i += BATCH) {
    const slice = indices.slice(i, i + BATCH);
    const progs = await Promise.all(
      slice.map((idx, slot) => generateSmmuProgram(programSeed(BASE_SEED, idx), idx, slot)),
    );
    // linear stream tables first: STRTAB_BASE_CFG.FMT = 2-level is sticky until reset
    progs.sort((a, b) => Number(a.twoLevel) - Number(b.twoLevel) || a.index - b.index);
    batches.push(progs);
  }
  let requests = 0;
  let programsRun = 0;
  let failed = 0;
  const kinds = new Map<string, number>();
  const irqs = new Map<string, number>();
  const events = new Map<number, number>();
  const work = batches.map((progs, bi) => async () => {
    const [q, o] = await Promise.all([runBatch('qtestd', progs), runBatch('oracle', progs)]);
    const hm = compare(q.header, o.header);
    if (hm.count) {
      tt.fail(
        `batch ${bi}: process header differs: ${hm.first.map((m) => `${m.request}: qtestd ${show(m.qtestd)} oracle ${show(m.oracle)}`).join('; ')}`,
      );
    }
    for (const p of progs) {
      const qa = q.programs.get(p.index);
      const ob = o.programs.get(p.index);
      if (!qa || !ob) {
        failed++;
        tt.fail(
          `program #${p.index} seed=${p.seed} [${p.kind}] not run: ${!qa ? `qtestd (${q.exit}) ` : ''}${!ob ? `oracle (${o.exit})` : ''} stopped earlier`,
        );
        continue;
      }
      programsRun++;
      requests += ob.requests.length;
      const k = p.kind.split(' ').find((w) => /^(bypass|abort|invalid-ste|s1|s2|nested|disabled)$/.test(w)) ?? '?';
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
      for (const rs of ob.replies)
        for (const l of rs) if (l.startsWith('IRQ raise ')) irqs.set(l.slice(10), (irqs.get(l.slice(10)) ?? 0) + 1);
      const ei = ob.requests.indexOf(p.evqRead);
      const evq = ei >= 0 ? /^OK 0x([0-9a-f]*)$/.exec(ob.replies[ei]?.at(-1) ?? '') : null;
      if (evq)
        for (let off = 0; off + 64 <= evq[1]!.length; off += 64) {
          const type = parseInt(evq[1]!.slice(off, off + 2), 16);
          if (type) events.set(type, (events.get(type) ?? 0) + 1);
        }
      if (env.QTESTD_SMMU_DUMP) report(p, qa, ob, { count: 0, first: [] });
      const mm = compare(qa, ob);
      if (mm.count || !qa.done || !ob.done) {
        failed++;
        const msg = report(p, qa, ob, mm);
        process.stderr.write(msg + '\n');
        tt.fail(msg);
      }
    }
    if (!q.exitOk) tt.fail(`batch ${bi}: qtestd teardown: ${q.exit}; stderr: ${q.stderr.trim().slice(-600)}`);
    if (!o.exitOk) tt.fail(`batch ${bi}: oracle teardown: ${o.exit}; stderr: ${o.stderr.trim().slice(-600)}`);
  });
  // JOBS batches at a time
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(JOBS, work.length) }, async () => {
      while (next < work.length) await work[next++]!();
    }),
  );
  const secs = (Date.now() - t0) / 1000;
  const summary = `${programsRun} SMMU programs (${[...kinds].map(([k, v]) => `${k} ${v}`).join(', ')}), ${requests} requests, ${batches.length} process pairs, ${secs.toFixed(1)} s, base seed 0x${BASE_SEED.toString(16)}`;
  process.stderr.write(`# ${summary}; ${failed} program(s) differ\n`);
  process.stderr.write(
    `#   oracle IRQ raises by line: ${[...irqs]
      .sort()
      .map(([k, v]) => `${k}:${v}`)
      .join(' ')}\n`,
  );
  process.stderr.write(
    `#   event records left in the queues by type: ${[...events]
      .sort((a, b) => a[0] - b[0])
      .map(([k, v]) => `0x${k.toString(16)}:${v}`)
      .join(' ')}\n`,
  );
  if (failed === 0) tt.pass(`${summary}: every reply byte-identical`);
  tt.ok(programsRun === indices.length, `all ${indices.length} programs ran on both targets`);
});
