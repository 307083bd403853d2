/**
 * A cache of the binaries tests compile (the C qtests, the native launcher shim), so a test run does
 * not rebuild what an earlier run built from the same inputs. Kept in node_modules/.cache/qtestd-tests
 * (never in the repository), keyed by a hash of the compiler command and every input: the bytes of
 * the sources and headers, and the size and mtime of the libraries linked. Only successful builds
 * are stored; a changed source, header or library is a new key.
 * The compiler goes in by name and flags only: after a compiler upgrade (or to check a clean build)
 * run with QTESTD_TEST_NO_BUILD_CACHE=1, which turns the cache off.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

export const BUILD_CACHE_DIR = join(REPO_ROOT, 'node_modules', '.cache', 'qtestd-tests');
const disabled = process.env.QTESTD_TEST_NO_BUILD_CACHE === '1';

export interface BuildInputs {
  /** the command and flags, and anything else that changes the output (e.g. QTEST_CC) */
  command: readonly (string | undefined)[];
  /** files whose bytes go in (sources, headers, compiler wrapper scripts) */
  files: readonly string[];
  /** large files that go in by size and mtime (static libraries) */
  stamps?: readonly string[];
}

/** The cache key of a build: a hex digest of its inputs. */
export function buildKey(inputs: BuildInputs): string {
  const h = createHash('sha256');
  for (const c of inputs.command) h.update(`${c ?? ''}\0`);
  for (const f of inputs.files) h.update(`${f}\0`).update(readFileSync(f)).update('\0');
  for (const f of inputs.stamps ?? []) {
    const st = statSync(f);
    h.update(`${f}\0${st.size}\0${st.mtimeMs}\0`);
  }
  return h.digest('hex').slice(0, 32);
}

function entryOf(name: string, inputs: BuildInputs): string {
  return join(BUILD_CACHE_DIR, `${name}-${buildKey(inputs)}`);
}

/** Copy the cached binary to `out`; false when there is none. */
function fetch(entry: string, out: string): boolean {
  if (disabled || !existsSync(entry)) return false;
  copyFileSync(entry, out); // the mode (executable) comes along
  return true;
}

function store(entry: string, out: string): void {
  if (disabled) return;
  // concurrent test files may store the same entry: write a private copy, then rename it in place
  const tmp = `${entry}.${process.pid}.tmp`;
  try {
    mkdirSync(BUILD_CACHE_DIR, { recursive: true });
    copyFileSync(out, tmp);
    renameSync(tmp, entry);
  } catch (e) {
    rmSync(tmp, { force: true });
    // e.g. a read-only node_modules: it only costs the next run a rebuild
    process.stderr.write(`# build cache: ${entry} not stored (${(e as Error).message})\n`);
  }
}

export interface Built {
  /** the build's error text, or null */
  error: string | null;
  /** served from the cache (nothing was compiled) */
  cached: boolean;
}

/**
 * Put the binary for `inputs` at `out`: copied from the cache when an earlier build with the same
 * inputs is there, else built by `build(out)` (which returns an error text, or null on success)
 * and then stored.
 */
export async function cachedBuild(
  name: string,
  inputs: BuildInputs,
  out: string,
  build: (out: string) => Promise<string | null>,
): Promise<Built> {
  const entry = entryOf(name, inputs);
  if (fetch(entry, out)) return { error: null, cached: true };
  const error = await build(out);
  if (error === null) store(entry, out);
  return { error, cached: false };
}

/** cachedBuild with a synchronous build. */
export function cachedBuildSync(
  name: string,
  inputs: BuildInputs,
  out: string,
  build: (out: string) => string | null,
): Built {
  const entry = entryOf(name, inputs);
  if (fetch(entry, out)) return { error: null, cached: true };
  const error = build(out);
  if (error === null) store(entry, out);
  return { error, cached: false };
}

/**
 * The inputs of a C qtest built with the oracle's qtest-cc: the wrapper script, the sources and
 * headers, the oracle's `.complete` marker and its libraries (libqtest/libqos), and the extra flags.
 */
export function qtestCcInputs(
  qtestCc: string,
  prefix: string,
  files: readonly string[],
  flags: readonly string[],
): BuildInputs {
  const libDir = join(prefix, 'lib');
  const complete = join(prefix, '.complete');
  return {
    command: [qtestCc, ...flags, process.env.QTEST_CC],
    files: [...files, qtestCc, ...(existsSync(complete) ? [complete] : [])],
    stamps: existsSync(libDir)
      ? readdirSync(libDir)
          .sort()
          .map((f) => join(libDir, f))
      : [],
  };
}
