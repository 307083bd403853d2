#!/usr/bin/env node
/**
 * `npm test`'s runner: every dist/tests/**\/*.test.js file as a tap subtest (tap's own `t.spawn`,
 * jobs in parallel, TAP 14 out with tap's final `# { total, pass, fail, skip, todo }` line), run
 * with plain `node`.
 *
 * Why not `tap`'s own runner: it starts each test file with two module-hook loaders (@tapjs/mock,
 * @tapjs/processinfo, for mocking and coverage, which this suite does not use) and, through
 * NODE_OPTIONS, loads processinfo into every node process a test starts (each qtestd server, each
 * launcher). Measured on the 2-core CI machine: about 1 CPU-second more per test file and per
 * started node process, 2.5x the CPU of the same files under plain node; more than half of the
 * wall of `npm test`. The tests themselves stay tap tests; `npx tap dist/tests/x.test.js` runs one
 * as before.
 *
 * Order: the files that ran longest last time first (.tap/durations.json, written at the end of a
 * run), else the long ones named below, so that no long file starts last and runs alone.
 *
 * Usage: node scripts/run-tests.mjs [--jobs=N | -jN] [PATH-PART ...]
 *   PATH-PART keeps the files whose path contains it (e.g. `service/` or `http-routes`).
 *   `--reporter=…` and `--no-color` (tap's options, as CI passes them) are accepted; the output is
 *   always TAP. Environment: QTESTD_TEST_JOBS (default: 2), QTESTD_TEST_FILE_TIMEOUT_S (600).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DURATIONS = join(ROOT, '.tap', 'durations.json');

/** Long files (over ~8 s on an idle 2-core machine), for a clone that has no durations yet. */
const LONG_FIRST = [
  'isolation/heavy',
  'hardening/fuzz-short',
  'cli/service-flags',
  'warm/warm-launch',
  'service/run-dir',
  'package/package',
  'inspector/browser',
  'service/shutdown',
  'session/slices',
  'hardening/smmu-guest-inputs',
  'cli/launch-forms',
  'service/limits',
  'hardening/bad-input',
  'inspector/dry-run',
  'service/web-safety',
  'service/lifecycle',
];

let jobs = Number(process.env.QTESTD_TEST_JOBS ?? 2);
const filters = [];
for (const arg of process.argv.slice(2)) {
  const j = /^(?:--jobs=|-j)(\d+)$/.exec(arg);
  if (j) jobs = Number(j[1]);
  else if (/^(--reporter=|-R)/.test(arg) || arg === '--no-color' || arg === '--color') continue;
  else if (arg.startsWith('-')) {
    console.error(`run-tests: unknown option ${arg} (known: --jobs=N, -jN, --reporter=…, --no-color)`);
    process.exit(2);
  } else filters.push(arg);
}
if (!Number.isInteger(jobs) || jobs < 1) {
  console.error(`run-tests: jobs must be a positive integer, not ${jobs}`);
  process.exit(2);
}
const fileTimeoutS = Number(process.env.QTESTD_TEST_FILE_TIMEOUT_S ?? 600);
// a file's own tap root times out after TAP_TIMEOUT seconds (tap's default: 30) unless the file
// sets its own: the same safety net as the runner's
const childEnv = { ...process.env, TAP_TIMEOUT: String(fileTimeoutS) };

/** dist/tests/**\/*.test.js, fixtures aside, as paths relative to the repository. */
function testFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'fixtures' && e.name !== 'node_modules') out.push(...testFiles(p));
    } else if (e.name.endsWith('.test.js')) out.push(relative(ROOT, p));
  }
  return out;
}

let last = {};
try {
  last = JSON.parse(readFileSync(DURATIONS, 'utf8'));
} catch (err) {
  if (err.code !== 'ENOENT') console.error(`run-tests: ignoring ${DURATIONS}: ${err.message}`);
}
const hint = (f) => {
  if (typeof last[f] === 'number') return last[f];
  const i = LONG_FIRST.findIndex((name) => f.endsWith(`/${name}.test.js`));
  return i < 0 ? 0 : 1e9 - i;
};
const files = testFiles(join(ROOT, 'dist', 'tests'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort((a, b) => hint(b) - hint(a) || a.localeCompare(b));
if (files.length === 0) {
  console.error(`run-tests: no test files under dist/tests${filters.length ? ` matching ${filters.join(' ')}` : ''}`);
  process.exit(1);
}

t.jobs = jobs;
// the runner has no timeout of its own; each file has one (a safety net in minutes)
t.setTimeout(0);
const durations = { ...last };
for (const file of files) {
  // resolves with the file's results, `time` from its own `# time=` line
  t.spawn(
    process.execPath,
    [file],
    { buffered: jobs > 1, timeout: fileTimeoutS * 1000, cwd: ROOT, env: childEnv },
    file,
  ).then((r) => {
    if (typeof r?.time === 'number') durations[file] = Math.round(r.time);
  });
}
t.teardown(() => {
  mkdirSync(join(ROOT, '.tap'), { recursive: true });
  writeFileSync(DURATIONS, JSON.stringify(durations, null, 1) + '\n');
});
