/**
 * QEMU's own generic qtests, unchanged, against qtestd and against the QEMU 10.2.2 oracle in the
 * same run: built from the oracle's source tree (QTEST_ORACLE_SRC) with its qtest-cc
 * (QTEST_ORACLE_PREFIX), cached (generic-qtests.ts). Every sub-test that passes on the oracle must
 * pass on qtestd, except those named in known-gaps.json with the reason; a listed gap that passes
 * on qtestd, or that the oracle does not pass, fails the test (the list only shrinks).
 *
 * QTESTD_UPSTREAM_SUITES=name,... limits the run to some suites.
 * Skipped with one line without the oracle or its source tree; a failure under CI=true.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { QTESTD_BINARY, REPO_ROOT } from '../helpers/launch.js';
import { withOracleSrc } from '../helpers/oracle.js';
import { buildQtest, listSubtests, runSubtests } from './generic-qtests.js';
import type { SubResult } from './generic-qtests.js';

t.setTimeout(15 * 60_000);

interface Suite {
  name: string;
  /** GLib -p filters (the machines qtestd models); all sub-tests when absent */
  filters?: string[];
}

const SUITES: Suite[] = [
  { name: 'qmp-test' },
  { name: 'qmp-cmd-test' },
  { name: 'qom-test', filters: ['/aarch64/qom/virt-10.2', '/aarch64/qom/none'] },
  { name: 'test-hmp', filters: ['/aarch64/hmp/virt-10.2', '/aarch64/hmp/none', '/aarch64/hmp/none+2MB'] },
  { name: 'device-introspect-test' },
  { name: 'machine-none-test' },
  { name: 'readconfig-test' },
  { name: 'arm-cpu-features' },
  { name: 'numa-test' },
];

/** QTESTD_UPSTREAM_SUITES=a,b runs only those suites (while working on them); all by default. */
const only = process.env.QTESTD_UPSTREAM_SUITES?.split(',').filter(Boolean);
const SELECTED = only ? SUITES.filter((s) => only.includes(s.name)) : SUITES;

type Gaps = Record<string, Record<string, string>>;
const GAPS_FILE = join(REPO_ROOT, 'tests', 'upstream', 'known-gaps.json');
const gaps = (JSON.parse(readFileSync(GAPS_FILE, 'utf8')) as { gaps: Gaps }).gaps;

await withOracleSrc(
  t,
  "QEMU 10.2.2's generic qtests: qtestd passes what the oracle passes",
  async (tc, oracle, src) => {
    const tmp = mkdtempSync(join(tmpdir(), 'qtestd-upstream-'));
    tc.teardown(() => rmSync(tmp, { recursive: true, force: true }));

    const exes = new Map<string, string>();
    await Promise.all(
      SELECTED.map(async (s) => exes.set(s.name, await buildQtest(oracle.qtestCc, oracle.prefix, src, s.name))),
    );
    for (const name of Object.keys(gaps))
      tc.ok(
        SUITES.some((s) => s.name === name),
        `known-gaps.json: ${name} is a suite this test runs`,
      );

    let oraclePass = 0;
    let qtestdPass = 0;
    for (const suite of SELECTED) {
      await tc.test(suite.name, async (tt) => {
        const exe = exes.get(suite.name)!;
        const paths = await listSubtests(exe, oracle.binary, suite.filters ?? [], tmp);
        tt.ok(paths.length > 0, `the oracle registers ${paths.length} sub-tests`);
        const [onOracle, onQtestd] = await Promise.all([
          runSubtests(exe, oracle.binary, paths, tmp),
          runSubtests(exe, QTESTD_BINARY, paths, tmp),
        ]);
        const suiteGaps = gaps[suite.name] ?? {};
        for (const stale of Object.keys(suiteGaps).filter((p) => !paths.includes(p)))
          tt.fail(`known-gaps.json names ${stale}, which the oracle does not register`);
        for (const path of paths) {
          const o = onOracle.get(path)!;
          const q = onQtestd.get(path)!;
          const gap = suiteGaps[path];
          if (q.outcome === 'pass') qtestdPass++;
          if (o.outcome !== 'pass') {
            tt.comment(`${path}: ${o.outcome} on the oracle, not compared`);
            if (gap) tt.fail(`known-gaps.json names ${path}, which does not pass on the oracle`);
            continue;
          }
          oraclePass++;
          if (gap !== undefined) {
            if (q.outcome === 'pass') tt.fail(`${path} passes on qtestd now: remove it from known-gaps.json`);
            else tt.pass(`${path}: known gap (${q.outcome}): ${gap}`);
            continue;
          }
          tt.equal(q.outcome, 'pass', `${path} passes on qtestd as on the oracle${explain(q)}`);
        }
      });
    }
    tc.comment(`oracle passes ${oraclePass} sub-tests, qtestd ${qtestdPass}`);
  },
);

function explain(r: SubResult): string {
  return r.outcome === 'pass' ? '' : `\n${r.detail}`;
}
