/**
 * C qtests written the way QEMU's own are (libqtest + libqos), compiled with the oracle's
 * qtest-cc into a temporary build dir and run with QTEST_QEMU_BINARY=<repo>/bin/qemu-system-aarch64
 * (and, where the oracle has the devices, with the oracle's binary too). The TAP they print is
 * parsed: any `not ok`, `Bail out!`, missing test or non-zero exit fails.
 *
 * Binaries are cached by a hash of their sources, qtest-cc and the oracle's libraries
 * (tests/helpers/build-cache.ts): an unchanged test is not recompiled on the next run.
 *
 * Needs the oracle for qtest-cc (QTEST_ORACLE_PREFIX); skipped loudly without it (fails under CI=true).
 * Runs against qtestd are skipped with a note while qtestd lacks the device/SMMU the test needs.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { QTESTD_BINARY, REPO_ROOT } from '../helpers/launch.js';
import { skipMissingFeature, withOracle } from '../helpers/oracle.js';
import type { OracleInfo } from '../helpers/oracle.js';
import { qtestdMissingFeature } from '../helpers/differential/compare.js';
import { cachedBuild, qtestCcInputs } from '../helpers/build-cache.js';

t.setTimeout(15 * 60_000); // a safety net only: 8 C qtest binaries, ~25 launches on a busy 2-core machine

const SRC_DIR = join(REPO_ROOT, 'tests', 'c');
const SMMU_MACHINE = [
  '-machine',
  'virt,acpi=off,gic-version=3,iommu=smmuv3',
  '-smp',
  '1',
  '-m',
  '512',
  '-cpu',
  'max',
  '-net',
  'none',
];

interface CTest {
  name: string;
  /** the machine argv the test starts (used to ask qtestd whether it can run it) */
  args: string[];
  /** number of test cases the binary must report */
  cases: number;
  /** also run against the oracle (it has the devices) */
  oracle: boolean;
}

const TESTS: CTest[] = [
  {
    name: 'libqtest-basics',
    args: ['-machine', 'virt,acpi=off,gic-version=3', '-smp', '1', '-m', '512', '-cpu', 'max', '-net', 'none'],
    cases: 3,
    oracle: true,
  },
  { name: 'pci-basics', args: [...SMMU_MACHINE, '-device', 'edu,dma_mask=0xffffffffffffffff'], cases: 5, oracle: true },
  {
    name: 'smmu-testdev',
    args: [...SMMU_MACHINE, '-device', 'smmu-testdev,device=0x0,function=0x1'],
    cases: 1,
    oracle: false,
  },
  { name: 'iommu-smmuv3', args: [...SMMU_MACHINE, '-device', 'iommu-testdev'], cases: 3, oracle: false },
  {
    name: 'secure-ns-flows',
    args: [...SMMU_MACHINE, '-device', 'iommu-testdev,sec-sid=non-secure'],
    cases: 3,
    oracle: false,
  },
  {
    name: 'secure-impl-ns-flows',
    args: [
      ...SMMU_MACHINE.map((a) => (a.startsWith('virt,') ? `${a},secure=on` : a)),
      '-global',
      'arm-smmuv3.secure-impl=true',
      '-device',
      'iommu-testdev,sec-sid=non-secure',
    ],
    cases: 3,
    oracle: false,
  },
  {
    // the Secure SMMU author's flows through *_space (docs/secure-smmu.md); its NS cases start without secure=on
    name: 'secure-smmuv3',
    args: [
      ...SMMU_MACHINE.map((a) => (a.startsWith('virt,') ? `${a},secure=on` : a)),
      '-global',
      'arm-smmuv3.secure-impl=true',
      '-device',
      'iommu-testdev,sec-sid=secure',
    ],
    cases: 4,
    oracle: false,
  },
  // qtest memory attributes, both syntaxes, every error (protocol/qtest.md "Memory attributes")
  { name: 'qtest-attrs', args: ['-machine', 'virt,secure=on', '-cpu', 'cortex-a57'], cases: 6, oracle: false },
];

function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout: number },
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { ...opts, maxBuffer: 64 << 20, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: string }) | null;
      res({
        code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
        signal: e?.signal ?? null,
        stdout: String(stdout),
        stderr: String(stderr),
      });
    });
  });
}

export interface TapSummary {
  plan: number | null;
  ok: number;
  notOk: string[];
  skipped: number;
  bailOut: string | null;
}

/** Parse glib's --tap output. */
export function parseTap(out: string): TapSummary {
  const s: TapSummary = { plan: null, ok: 0, notOk: [], skipped: 0, bailOut: null };
  for (const line of out.split('\n')) {
    let m: RegExpMatchArray | null;
    if ((m = line.match(/^1\.\.(\d+)/))) s.plan = Number(m[1]);
    else if (/^not ok\b/.test(line)) s.notOk.push(line);
    else if (/^ok\b/.test(line)) {
      s.ok++;
      if (/#\s*SKIP/i.test(line)) s.skipped++;
    } else if (line.startsWith('Bail out!')) s.bailOut ??= line;
  }
  return s;
}

interface CRun {
  r: { code: number | null; signal: string | null; stdout: string; stderr: string };
  tap: TapSummary;
}

async function execCTest(exe: string, binary: string, buildDir: string): Promise<CRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, QTEST_QEMU_BINARY: binary, TMPDIR: buildDir };
  delete env.QTEST_LOG;
  const r = await run(exe, ['--tap'], { cwd: buildDir, env, timeout: 180_000 });
  return { r, tap: parseTap(r.stdout) };
}

const passed = ({ r, tap }: CRun, c: CTest): boolean =>
  tap.bailOut === null &&
  tap.notOk.length === 0 &&
  tap.plan === c.cases &&
  tap.ok === c.cases &&
  tap.skipped === 0 &&
  r.code === 0 &&
  !r.signal;

function checkCTest(tt: Test, { r, tap }: CRun, c: CTest): void {
  const detail = `exit ${r.code ?? r.signal}\n--- stdout (tail)\n${r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('# starting QEMU'))
    .slice(-40)
    .join('\n')}\n--- stderr (tail)\n${r.stderr.slice(-3000)}`;
  tt.equal(tap.bailOut, null, `no Bail out!${tap.bailOut ? `: ${tap.bailOut}\n${detail}` : ''}`);
  tt.same(tap.notOk, [], `no failing test case${tap.notOk.length ? `\n${detail}` : ''}`);
  tt.equal(tap.plan, c.cases, `TAP plan 1..${c.cases}`);
  tt.equal(tap.ok, c.cases, `${c.cases} test cases passed${tap.ok !== c.cases ? `\n${detail}` : ''}`);
  tt.equal(tap.skipped, 0, 'no test case skipped itself');
  tt.ok(r.code === 0 && !r.signal, `test binary exited 0 (${r.code ?? r.signal})${r.code === 0 ? '' : `\n${detail}`}`);
}

await withOracle(t, 'C qtests (libqtest/libqos)', async (tc, oracle: OracleInfo) => {
  const buildDir = mkdtempSync(join(tmpdir(), 'qtestd-ctests-'));
  tc.teardown(() => rmSync(buildDir, { recursive: true, force: true }));
  tc.ok(
    !/\s/.test(QTESTD_BINARY) && /-system-aarch64$/.test(QTESTD_BINARY),
    `QTEST_QEMU_BINARY usable by libqtest: ${QTESTD_BINARY}`,
  );

  // compile all (in parallel), into the build dir, never into the repo (or take them from the cache)
  const exes = new Map<string, string>();
  const headers = readdirSync(SRC_DIR)
    .filter((f) => f.endsWith('.h'))
    .sort()
    .map((f) => join(SRC_DIR, f));
  let fromCache = 0;
  await Promise.all(
    TESTS.map(async (c) => {
      const exe = join(buildDir, c.name);
      const src = join(SRC_DIR, `${c.name}.c`);
      // a test may #include another test's .c (secure-ns-flows.c): that file is an input too
      const included = [...readFileSync(src, 'utf8').matchAll(/^#include "([^"]+\.c)"/gm)].map((m) =>
        join(SRC_DIR, m[1]!),
      );
      const inputs = qtestCcInputs(oracle.qtestCc, oracle.prefix, [src, ...included, ...headers], ['-I', 'tests/c']);
      const built = await cachedBuild(`ctest-${c.name}`, inputs, exe, async (out) => {
        const r = await run(oracle.qtestCc, ['-I', SRC_DIR, '-o', out, src], { cwd: buildDir, timeout: 300_000 });
        return r.code === 0 ? null : `qtest-cc ${c.name}.c failed (${r.code ?? r.signal}):\n${r.stderr.slice(-4000)}`;
      });
      if (built.error === null) exes.set(c.name, exe);
      else tc.fail(built.error);
      if (built.cached) fromCache++;
    }),
  );
  tc.equal(exes.size, TESTS.length, `compiled ${exes.size}/${TESTS.length} C qtests with ${oracle.qtestCc}`);
  if (fromCache) tc.comment(`${fromCache} of them unchanged since an earlier run: taken from the build cache`);

  for (const c of TESTS) {
    const exe = exes.get(c.name);
    if (!exe) continue;
    // run first; only a failing run asks whether qtestd lacks the device (one launch less per test)
    const got = await execCTest(exe, QTESTD_BINARY, buildDir);
    const missing = passed(got, c) ? null : await qtestdMissingFeature(c.args);
    if (missing) {
      await skipMissingFeature(
        tc,
        `${c.name} vs qtestd`,
        `${c.args.join(' ')}: ${missing} (device-dependent C qtest skipped)`,
      );
    } else {
      await tc.test(`${c.name} vs qtestd (${QTESTD_BINARY})`, async (tt) => checkCTest(tt, got, c));
    }
    if (c.oracle) {
      const want = await execCTest(exe, oracle.binary, buildDir);
      await tc.test(`${c.name} vs QEMU 10.2.2 oracle`, async (tt) => checkCTest(tt, want, c));
    }
  }
});
