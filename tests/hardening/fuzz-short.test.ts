/**
 * The short fuzz run CI does: ≥ 100,000 qtest requests, ≥ 2,000 SMMU programs and 5,000 QMP
 * messages over 4 sessions plus a canary, in a worker thread with a stall watchdog. Fails on any
 * crash, hang or invariant violation (the seed is printed: re-run with `npm run fuzz -- --seed S`).
 * "Hang" means no progress for minutes (the watchdog and stall limits are safety nets, not speed
 * checks: a busy machine may be slow; speed belongs to `npm run bench`).
 * Two runs: a fixed seed, and one that changes daily (FUZZ_SEED overrides it).
 */
import t from 'tap';
import { formatSummary } from '../fuzz/engine.js';
import { fuzzInWorker } from '../fuzz/run.js';
import { DEFAULT_FUZZ } from '../fuzz/engine.js';

t.setTimeout(600000);

const daily = Number(process.env.FUZZ_SEED ?? Math.floor(Date.now() / 86400000));

for (const seed of [20260101, daily]) {
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
