/**
 * Wall time of whole C qtests (tests/c, built with the oracle's qtest-cc) per QTEST_QEMU_BINARY:
 * QEMU, qtestd cold (bin/qemu-system-aarch64 with QTESTD_NO_DAEMON=1) and qtestd warm (the native
 * shim of the bench's private install). Interleaved rounds, median ms. iommu-smmuv3 needs
 * iommu-testdev, which QEMU 10.2.2 does not have: against QEMU only pci-basics runs.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../tests/helpers/qtestd-fixture.js';
import type { Figures } from './launch.js';
import { median } from './targets.js';
import type { Target } from './targets.js';

const TESTS = ['pci-basics', 'iommu-smmuv3'];
/** What QEMU 10.2.2 cannot run (no such device). */
const NOT_ON_QEMU = new Set(['iommu-smmuv3']);

function runTest(exe: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((res, rej) => {
    const t0 = process.hrtime.bigint();
    execFile(exe, [], { env, timeout: 300_000, maxBuffer: 16 << 20 }, (err, _out, stderr) => {
      if (err) rej(new Error(`${exe}: ${err.message}\n${stderr.slice(-2000)}`));
      else res(Number(process.hrtime.bigint() - t0) / 1e6);
    });
  });
}

export async function ctestFigures(list: Target[], rounds: number, notes: string[]): Promise<Record<string, Figures>> {
  const prefix = process.env.QTEST_ORACLE_PREFIX;
  const qtestCc = prefix ? join(prefix, 'bin', 'qtest-cc') : undefined;
  if (!qtestCc || !existsSync(qtestCc)) {
    notes.push('C qtests: no qtest-cc (QTEST_ORACLE_PREFIX): no C qtest walls');
    return {};
  }
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-bench-ctests-'));
  const out: Record<string, Figures> = {};
  try {
    const exes: Record<string, string> = {};
    for (const name of TESTS) {
      const exe = join(dir, name);
      const r = spawnSync(
        qtestCc,
        ['-I', join(REPO_ROOT, 'tests', 'c'), '-o', exe, join(REPO_ROOT, 'tests', 'c', `${name}.c`)],
        {
          encoding: 'utf8',
        },
      );
      if (r.status === 0) exes[name] = exe;
      else notes.push(`C qtests: qtest-cc ${name}.c failed: ${r.stderr.slice(-500)}`);
    }
    const times: Record<string, Record<string, number[]>> = {};
    for (let i = 0; i < rounds; i++) {
      for (const [name, exe] of Object.entries(exes)) {
        for (const t of list) {
          if (t.name === 'qemu' && NOT_ON_QEMU.has(name)) continue;
          const env: NodeJS.ProcessEnv = { ...process.env, ...t.env, QTEST_QEMU_BINARY: t.binary };
          for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
          ((times[t.name] ??= {})[`ctestWallMs_${name.replace(/-/g, '_')}`] ??= []).push(await runTest(exe, env));
        }
      }
    }
    for (const [t, figs] of Object.entries(times)) {
      out[t] = {};
      for (const [k, v] of Object.entries(figs)) out[t][k] = median(v);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
