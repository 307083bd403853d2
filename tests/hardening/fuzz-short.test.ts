/**
 * The short fuzz run CI does: ≥ 100,000 qtest requests, ≥ 2,000 SMMU programs and 5,000 QMP
 * messages over 4 sessions plus a canary, in a worker thread with a stall watchdog. Fails on any
 * crash, hang or invariant violation (the seed is printed: re-run with `npm run fuzz -- --seed S`).
 * "Hang" means no progress for minutes (the watchdog and stall limits are safety nets, not speed
 * checks: a busy machine may be slow; speed belongs to `npm run bench`).
 * One run with a fixed seed, so `npm test` is deterministic; a second seed adds no coverage a longer
 * `npm run fuzz` would not give. For a deeper run add seeds: FUZZ_SEED=S (a number, a comma list, or
 * `daily` for one that changes every day) runs those too.
 */
import t from 'tap';
import { formatSummary } from '../fuzz/engine.js';
import { fuzzInWorker } from '../fuzz/run.js';
import { DEFAULT_FUZZ } from '../fuzz/engine.js';

t.setTimeout(600000);

/** The extra seeds FUZZ_SEED asks for (none by default). */
function extraSeeds(spec: string | undefined): number[] {
  if (!spec) return [];
  return spec.split(',').map((s) => {
    const seed = s.trim() === 'daily' ? Math.floor(Date.now() / 86400000) : Number(s);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`FUZZ_SEED: ${JSON.stringify(s)} is not a seed`);
    return seed;
  });
}

for (const seed of [20260101, ...extraSeeds(process.env.FUZZ_SEED)]) {
  t.test(`fuzz seed ${seed}`, async (t) => {
    const t0 = Date.now();
    const s = await fuzzInWorker({
      ...DEFAULT_FUZZ,
      requests: 100000,
      smmuPrograms: 2000,
      qmp: 5000,
      seed,
      stallMs: 180000,
      watchdogMs: 120000,
      maxRssMiB: 1536,
    });
    const wall = (Date.now() - t0) / 1000;
    t.comment(formatSummary(s));
    t.comment(`wall ${wall.toFixed(1)} s`);
    t.ok(s.qtestRequests >= 100000, `${s.qtestRequests} qtest requests`);
    t.ok(s.smmuPrograms >= 2000, `${s.smmuPrograms} SMMU programs`);
    t.equal(s.crashes, 0, 'no crash');
    t.equal(s.hangs, 0, 'no hang');
    t.same(
      s.violations.map(
        (v) => `${v.kind} [${v.phase}] ${JSON.stringify(v.input.slice(0, 120))}: ${v.detail.split('\n')[0]}`,
      ),
      [],
      `no invariant violation (seed ${seed})`,
    );
  });
}
