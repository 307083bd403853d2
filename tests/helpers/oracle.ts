/**
 * Where the real QEMU 10.2.2 oracle lives (built by ../shared/qemu-oracle/build.sh), and how tests
 * that need it behave when it is absent.
 *
 *   QTEST_ORACLE_PREFIX=/var/tmp/qemu-oracle   -> PREFIX/bin/qemu-system-aarch64, PREFIX/bin/qtest-cc
 *   QTEST_ORACLE_SRC=/var/tmp/qemu-oracle-work/qemu-src   -> the oracle's kept source tree (QEMU's own
 *                                                            tests/qtest/*.c, python/, ...)
 *
 * Without the oracle an oracle test is SKIPPED LOUDLY (a tap skip with a reason, plus one line on
 * stderr). Under CI=true it FAILS instead: CI must never pass silently without the oracle.
 */
import { accessSync, constants } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Test } from 'tap';

export const ORACLE_ENV = 'QTEST_ORACLE_PREFIX';

export interface OracleInfo {
  prefix: string;
  /** PREFIX/bin/qemu-system-aarch64 (has the qtest accelerator) */
  binary: string;
  /** PREFIX/bin/qtest-cc (compile + link a C qtest against libqtest/libqos) */
  qtestCc: string;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function probe(): { info: OracleInfo | null; why: string } {
  const raw = process.env[ORACLE_ENV];
  if (!raw)
    return { info: null, why: `${ORACLE_ENV} not set: real QEMU 10.2.2 oracle unavailable (oracle tests skipped)` };
  const prefix = resolve(raw);
  const binary = join(prefix, 'bin', 'qemu-system-aarch64');
  const qtestCc = join(prefix, 'bin', 'qtest-cc');
  for (const p of [binary, qtestCc]) {
    if (!isExecutable(p)) {
      return { info: null, why: `${ORACLE_ENV}=${raw}: ${p} is missing or not executable (oracle tests skipped)` };
    }
  }
  return { info: { prefix, binary, qtestCc }, why: '' };
}

const probed = probe();

/** The oracle, or null when it is not available. */
export const oracle: OracleInfo | null = probed.info;
export const oracleAvailable: boolean = oracle !== null;
export const oracleBinary: string | undefined = oracle?.binary;
export const oracleQtestCc: string | undefined = oracle?.qtestCc;
/** Why the oracle is unavailable ('' when it is). */
export const oracleMissingReason: string = probed.why;

/** CI=true (or 1): missing prerequisites fail rather than skip. */
export const inCI: boolean = /^(true|1|yes)$/i.test(process.env.CI ?? '');

/**
 * Run `fn` as subtest `name` when the oracle is available. Otherwise: a loud skip (tap skip with
 * the reason + one stderr line), or, under CI=true, a failing subtest.
 */
export function withOracle(
  t: Test,
  name: string,
  fn: (t: Test, oracle: OracleInfo) => Promise<void> | void,
): Promise<unknown> {
  if (oracle) {
    const o = oracle;
    return t.test(name, (tt) => fn(tt, o));
  }
  return skipOrFail(t, name, oracleMissingReason);
}

/**
 * Skip subtest `name` loudly, or fail it under CI=true (use for the oracle only: a missing oracle is
 * an environment problem CI must not hide).
 */
export function skipOrFail(t: Test, name: string, reason: string): Promise<unknown> {
  if (inCI) {
    return t.test(name, async (tt) => {
      tt.fail(`${reason} -- CI=true: oracle tests are mandatory in CI`);
    });
  }
  process.stderr.write(`# SKIP ${name}: ${reason}\n`);
  return t.test(name, { skip: reason }, () => {});
}

/**
 * Skip subtest `name` loudly because qtestd lacks a feature (a device, a register block). Under
 * CI=true this still skips, unless QTESTD_REQUIRE_FEATURES=1, which turns it into a failure.
 */
export function skipMissingFeature(t: Test, name: string, reason: string): Promise<unknown> {
  if (/^(true|1|yes)$/i.test(process.env.QTESTD_REQUIRE_FEATURES ?? '')) {
    return t.test(name, async (tt) => {
      tt.fail(`${reason} -- QTESTD_REQUIRE_FEATURES=1`);
    });
  }
  process.stderr.write(`# SKIP ${name}: ${reason}\n`);
  return t.test(name, { skip: reason }, () => {});
}

export const ORACLE_SRC_ENV = 'QTEST_ORACLE_SRC';

function probeSrc(): { src: string | null; why: string } {
  const raw = process.env[ORACLE_SRC_ENV];
  if (!raw) return { src: null, why: `${ORACLE_SRC_ENV} not set: the oracle's QEMU source tree is unavailable` };
  const src = resolve(raw);
  try {
    accessSync(join(src, 'tests', 'qtest', 'libqtest.c'), constants.R_OK);
  } catch {
    return { src: null, why: `${ORACLE_SRC_ENV}=${raw}: no tests/qtest/libqtest.c there (not a QEMU source tree)` };
  }
  return { src, why: '' };
}

const probedSrc = probeSrc();

/** The oracle's QEMU source tree (QTEST_ORACLE_SRC), or null. */
export const oracleSrc: string | null = probedSrc.src;
/** Why the source tree is unavailable ('' when it is). */
export const oracleSrcMissingReason: string = probedSrc.why;

/**
 * Like withOracle, but also needs the oracle's source tree (QTEST_ORACLE_SRC): a loud skip without
 * either, a failure under CI=true.
 */
export function withOracleSrc(
  t: Test,
  name: string,
  fn: (t: Test, oracle: OracleInfo, src: string) => Promise<void> | void,
): Promise<unknown> {
  if (oracle && oracleSrc) {
    const o = oracle;
    const s = oracleSrc;
    return t.test(name, (tt) => fn(tt, o, s));
  }
  return skipOrFail(t, name, oracle ? oracleSrcMissingReason : oracleMissingReason);
}
