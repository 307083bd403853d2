/**
 * Build and run QEMU's own generic qtests (tests/qtest/*.c of the oracle's source tree) with the
 * oracle kit's qtest-cc, and collect one outcome per GLib sub-test path from their TAP.
 *
 * Binaries are cached outside the repository, keyed by the kit (PREFIX/.complete) and the test's
 * source, so CI compiles each once per kit: $QTESTD_UPSTREAM_CACHE, else /var/tmp/qtestd-upstream-qtests.
 *
 * A GLib qtest aborts on its first failed assertion, so one run can leave later sub-tests
 * unreported; those are then run one by one (`-p PATH`), which tells a crash from a sub-test the
 * target never registers (qom-test and test-hmp register one per machine the binary reports).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export type Outcome = 'pass' | 'fail' | 'skip' | 'crash' | 'missing';

export interface SubResult {
  outcome: Outcome;
  /** output tail explaining a non-pass (what the test printed, stderr included) */
  detail: string;
}

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Safety net only (a hung test binary is killed); never an assertion on duration. */
const RUN_TIMEOUT_MS = 240_000;

export function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  return new Promise((res) => {
    execFile(
      cmd,
      args,
      { ...opts, timeout: RUN_TIMEOUT_MS, maxBuffer: 64 << 20, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: string }) | null;
        res({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      },
    );
  });
}

export function cacheRoot(): string {
  return process.env.QTESTD_UPSTREAM_CACHE ?? '/var/tmp/qtestd-upstream-qtests';
}

/**
 * The compiled test `name` (tests/qtest/<name>.c plus `extra` sources), built once per kit and
 * source content. Returns the executable path, or throws with the compiler's output.
 */
export async function buildQtest(
  qtestCc: string,
  prefix: string,
  src: string,
  name: string,
  extra: string[] = [],
): Promise<string> {
  const sources = [join(src, 'tests', 'qtest', `${name}.c`), ...extra.map((e) => join(src, 'tests', 'qtest', e))];
  const h = createHash('sha256');
  h.update(readFileSync(join(prefix, '.complete')));
  for (const s of sources) h.update(readFileSync(s));
  const dir = join(cacheRoot(), h.digest('hex').slice(0, 16));
  const exe = join(dir, name);
  if (existsSync(exe)) return exe;
  mkdirSync(dir, { recursive: true });
  const tmp = `${exe}.tmp-${process.pid}`;
  const r = await run(qtestCc, ['-o', tmp, ...sources], { cwd: dir });
  if (r.code !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`qtest-cc ${name} failed (${r.code ?? r.signal}):\n${r.stderr.slice(-4000)}`);
  }
  renameSync(tmp, exe); // atomic: a concurrent build of the same key gives the same file
  return exe;
}

function env(binary: string, tmp: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, QTEST_QEMU_BINARY: binary, TMPDIR: tmp };
  delete e.QTEST_LOG;
  return e;
}

/** The sub-test paths `exe` registers against `binary`, restricted to `filters` (GLib -p). */
export async function listSubtests(exe: string, binary: string, filters: string[], tmp: string): Promise<string[]> {
  const r = await run(exe, ['-l', ...filters.flatMap((p) => ['-p', p])], { cwd: tmp, env: env(binary, tmp) });
  if (r.code !== 0) throw new Error(`${exe} -l failed (${r.code ?? r.signal}):\n${r.stderr.slice(-3000)}`);
  return r.stdout.split('\n').filter((l) => l.startsWith('/'));
}

/** `ok N PATH`, `ok N PATH # SKIP why`, `not ok N PATH` of GLib's --tap. */
export function parseTapResults(out: string): Map<string, Outcome> {
  const m = new Map<string, Outcome>();
  for (const line of out.split('\n')) {
    const r = /^(not ok|ok) \d+ (\S+)(.*)$/.exec(line);
    if (!r) continue;
    m.set(r[2], r[1] === 'not ok' ? 'fail' : /#\s*SKIP/i.test(r[3]) ? 'skip' : 'pass');
  }
  return m;
}

/** Why a run did not pass, in a few lines: exit status, GLib's ERROR lines, the binary's stderr. */
function tail(r: RunResult): string {
  const lines = `${r.stdout}\n${r.stderr}`
    .split('\n')
    .filter((l) => /ERROR|Bail out|qemu-system-aarch64:|Assertion|error/i.test(l) && !l.startsWith('# starting QEMU'));
  return [`exit ${r.code ?? r.signal}`, ...[...new Set(lines)].slice(0, 8)].join('\n');
}

/** Run `paths` of `exe` against `binary`; one outcome per path. */
export async function runSubtests(
  exe: string,
  binary: string,
  paths: string[],
  tmp: string,
): Promise<Map<string, SubResult>> {
  const results = new Map<string, SubResult>();
  const e = env(binary, tmp);
  const batch = await run(exe, ['--tap', ...paths.flatMap((p) => ['-p', p])], { cwd: tmp, env: e });
  for (const [path, outcome] of parseTapResults(batch.stdout)) {
    if (paths.includes(path)) results.set(path, { outcome, detail: outcome === 'pass' ? '' : tail(batch) });
  }
  for (const path of paths) {
    if (results.has(path)) continue;
    const r = await run(exe, ['--tap', '-p', path], { cwd: tmp, env: e });
    const outcome = parseTapResults(r.stdout).get(path);
    if (outcome) results.set(path, { outcome, detail: outcome === 'pass' ? '' : tail(r) });
    else if (r.code === 0) results.set(path, { outcome: 'missing', detail: `not registered by the test\n${tail(r)}` });
    else results.set(path, { outcome: 'crash', detail: tail(r) });
  }
  return results;
}
