/**
 * Differential corpus: seeded qtest sessions run on qtestd and on real QEMU 10.2.2 (the oracle,
 * QTEST_ORACLE_PREFIX) with the same argv; every reply line must be byte-identical.
 *
 *   QTESTD_DIFF_SEED=N        base seed (default fixed; printed on failure)
 *   QTESTD_DIFF_ONLY=v/s      only variant v (and session s), e.g. virt-smmuv3/ram
 *   QTESTD_DIFF_SCALE=x       multiply the corpus size
 *   QTESTD_DIFF_AVOID_KNOWN=1 skip inputs of the former differences in KNOWN_DEVIATIONS (generator.ts)
 *
 * Variants whose device/feature qtestd does not have yet are skipped with a note saying so.
 */
import t from 'tap';
import { withOracle, skipMissingFeature } from '../helpers/oracle.js';
import { describeOutcome, diffSession, qtestdMissingFeature } from '../helpers/differential/compare.js';
import { generateSession } from '../helpers/differential/generator.js';
import { BASE_SEED, sessionSeed, VARIANTS } from '../helpers/differential/variants.js';

t.setTimeout(10 * 60_000); // a safety net only: qtestd and QEMU process pairs on a busy 2-core machine

const only = process.env.QTESTD_DIFF_ONLY?.split('/');

for (const v of VARIANTS) {
  if (only && only[0] !== v.name) continue;
  await withOracle(t, `differential ${v.name}`, async (tv) => {
    const missing = await qtestdMissingFeature(v.args);
    if (missing) {
      await skipMissingFeature(
        tv,
        `all sessions of ${v.name}`,
        `${v.args.join(' ')}: ${missing} (device-dependent variant skipped)`,
      );
      return;
    }
    for (const s of v.sessions) {
      if (only && only[1] && only[1] !== s.name) continue;
      const seed = sessionSeed(v.name, s.name);
      const requests = generateSession(seed, {
        ...v.gen,
        groups: s.groups,
        count: s.count,
        avoidKnown: process.env.QTESTD_DIFF_AVOID_KNOWN === '1',
      });
      await tv.test(`${v.name}/${s.name}: ${requests.length} requests, seed ${seed}`, async (ts) => {
        const d = await diffSession(v.args, requests);
        const ok = d.mismatchCount === 0 && d.qtestd.done && d.oracle.done && d.qtestd.exitOk && d.oracle.exitOk;
        if (!ok) {
          const msg =
            describeOutcome(`${v.name}-${s.name}`, seed, v.args, requests, d) +
            `\n  reproduce: QTESTD_DIFF_SEED=${BASE_SEED} QTESTD_DIFF_ONLY=${v.name}/${s.name} npx tap dist/tests/differential/differential.test.js`;
          process.stderr.write(msg + '\n');
          ts.fail(msg);
        } else {
          ts.pass(`all ${requests.length} replies byte-identical`);
        }
        if (!d.oracle.done)
          ts.fail('the ORACLE stopped answering: the generator produced an input that kills QEMU (generator bug)');
      });
    }
  });
}
