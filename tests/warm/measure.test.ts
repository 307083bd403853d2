// Launch latency, warm vs cold (printed as TAP comments, never asserted: timings depend on the
// machine): spawn of `/bin/sh -c "exec <binary> <libqtest argv>"` → the `endianness` reply, median
// of QTESTD_MEASURE_RUNS runs each (3 in `npm test`, where every run must still launch and exit 0;
// the figures to trust are `npm run bench`'s; QTESTD_MEASURE_RUNS=20 for a closer look here). With
// the oracle (QTEST_ORACLE_PREFIX) also real QEMU, and the wall time of an unchanged C qtest
// (tests/c/libqtest-basics.c built with the oracle's qtest-cc) per binary.
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { oracle, oracleBinary, oracleQtestCc } from '../helpers/oracle.js';
import { cachedBuildSync, qtestCcInputs } from '../helpers/build-cache.js';
import { daemonPid, findCc, libqtestLaunch, makeInstall, median, REPO, waitFor } from './harness.js';

t.setTimeout(600000); // a safety net: every figure is a series of process launches on a possibly busy machine

const RUNS = Math.max(1, Number(process.env.QTESTD_MEASURE_RUNS ?? 3) || 3);
/** the daemon's first launches after start-up, not measured */
const WARMUP = Math.min(5, RUNS);
/** runs of the C qtest per binary */
const C_RUNS = Math.max(1, Math.round(RUNS / 4));
const cc = findCc();

async function sample(binary: string, env: NodeJS.ProcessEnv, runs = RUNS): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const l = await libqtestLaunch(binary, env);
    out.push(l.endiannessMs);
    const q = await l.quit();
    if (q.code !== 0) throw new Error(`${binary}: exit ${q.code ?? q.signal} after SIGTERM`);
  }
  return out;
}

const fmt = (xs: number[]): string =>
  `median ${median(xs).toFixed(2)} ms (min ${Math.min(...xs).toFixed(2)}, max ${Math.max(...xs).toFixed(2)})`;

function wallTime(exe: string, env: NodeJS.ProcessEnv): Promise<{ ms: number; code: number | null; out: string }> {
  return new Promise((res) => {
    const t0 = performance.now();
    execFile(exe, [], { env, timeout: 120000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as NodeJS.ErrnoException).code === 'number'
          ? (err as unknown as { code: number }).code
          : null
        : 0;
      res({ ms: performance.now() - t0, code, out: String(stdout) + String(stderr) });
    });
  });
}

if (!cc) {
  process.stderr.write('tests/warm: SKIPPED - no C compiler; nothing to measure\n');
  t.test('warm launch latency', { skip: 'no C compiler: the warm launch shim cannot be built' }, () => {});
} else {
  const inst = makeInstall(cc);
  if (typeof inst === 'string') {
    t.fail(inst);
  } else {
    t.teardown(() => inst.cleanup());

    t.test('launch → first endianness reply', async (t) => {
      const coldEnv = { ...inst.env, QTESTD_NO_DAEMON: '1' };
      const cold = await sample(inst.script, coldEnv);
      t.comment(`cold  (bin/qemu-system-aarch64, QTESTD_NO_DAEMON=1: sh + node)   ${fmt(cold)}`);
      // The first shim launch goes cold and starts the daemon; wait for it, then warm runs.
      await sample(inst.shim, inst.env, 1);
      t.ok(await waitFor(() => daemonPid(inst), 120000), 'daemon running');
      await sample(inst.shim, inst.env, WARMUP); // the daemon's first launches after start-up
      const warm = await sample(inst.shim, inst.env);
      t.comment(`warm  (native/build/qemu-system-aarch64 → daemon)                ${fmt(warm)}`);
      const warmScript = await sample(inst.script, inst.env);
      t.comment(`warm  (bin/qemu-system-aarch64 → shim → daemon: one more sh)     ${fmt(warmScript)}`);
      if (oracleBinary) {
        const oracle = await sample(oracleBinary, inst.env);
        t.comment(`oracle (real QEMU 10.2.2)                                        ${fmt(oracle)}`);
      } else t.comment('oracle: not available (QTEST_ORACLE_PREFIX unset)');
      t.pass('measured');
    });

    const cSource = join(REPO, 'tests', 'c', 'libqtest-basics.c');
    t.test(
      'C qtest wall time (libqtest-basics)',
      {
        skip:
          !oracleQtestCc || !oracleBinary || !existsSync(cSource)
            ? 'needs the oracle (qtest-cc) and tests/c/libqtest-basics.c'
            : false,
      },
      async (t) => {
        const dir = mkdtempSync(join(tmpdir(), 'qtestd-warm-c-'));
        t.teardown(() => rmSync(dir, { recursive: true, force: true }));
        const exe = join(dir, 'libqtest-basics');
        const inputs = qtestCcInputs(oracleQtestCc!, oracle!.prefix, [cSource], []);
        const built = cachedBuildSync('measure-libqtest-basics', inputs, exe, (out) => {
          const r = spawnSync(oracleQtestCc!, ['-o', out, cSource], { encoding: 'utf8' });
          return r.status === 0 ? null : `qtest-cc: ${r.stderr}`;
        });
        if (built.error !== null) return t.fail(built.error);
        const targets: Array<[string, NodeJS.ProcessEnv]> = [
          ['oracle', { ...inst.env, QTEST_QEMU_BINARY: oracleBinary! }],
          ['cold  ', { ...inst.env, QTEST_QEMU_BINARY: inst.script, QTESTD_NO_DAEMON: '1' }],
          ['warm  ', { ...inst.env, QTEST_QEMU_BINARY: inst.shim }],
        ];
        for (const [name, env] of targets) {
          const times: number[] = [];
          for (let i = 0; i < C_RUNS; i++) {
            const r = await wallTime(exe, env);
            if (r.code !== 0) return t.fail(`${name}: exit ${r.code}\n${r.out}`);
            times.push(r.ms);
          }
          t.comment(`${name} ${fmt(times)}`);
        }
        t.comment(
          'libqtest reaps with waitpid(WNOHANG) then sleeps 100 ms: every qtest_quit costs ≥ 100 ms whatever the binary',
        );
        t.pass('measured');
      },
    );
  }
}
