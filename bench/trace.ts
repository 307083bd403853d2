/**
 * Trace-event benchmark: the SMMU end-to-end edu-DMA program (bench/smmu.ts) with `-trace smmu*`
 * on qtestd and on QEMU 10.2.2, and without tracing for the slowdown factor of each. Translations
 * are counted from the `smmuv3_translate_*` lines each target printed; translations/s = that count
 * over the program's wall time (pipelined, median of 3 runs). Tracing off costs nothing measurable
 * in process: compare bench/smmu.ts's engine figures of two builds (protocol/trace.md).
 *
 * `node dist/bench/trace.js` runs it alone; bench/run.ts calls traceBenchmarks() with the engine set.
 */
import { launch } from '../tests/helpers/launch.js';
import type { TargetName } from '../tests/helpers/launch.js';
import { oracleAvailable } from '../tests/helpers/oracle.js';
import { eduDmaBenchProgram, SMMU_PROGRAM_ARGS } from '../tests/helpers/smmu-programs.js';

async function timed(
  target: TargetName,
  program: readonly string[],
  trace: boolean,
): Promise<{ ms: number; translations: number }> {
  const runs: Array<{ ms: number; translations: number }> = [];
  for (let i = 0; i < 3; i++) {
    const args = trace ? [...SMMU_PROGRAM_ARGS, '-trace', 'smmu*'] : SMMU_PROGRAM_ARGS;
    const inst = await launch({ target, args, qmp: false });
    const t0 = process.hrtime.bigint();
    await inst.qtest.batch(program, 120000);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await inst.teardown();
    const translations = inst
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('smmuv3_translate_')).length;
    runs.push({ ms, translations });
  }
  runs.sort((a, b) => a.ms - b.ms);
  return runs[1]!;
}

export async function traceBenchmarks(dmas = 200): Promise<Record<string, number>> {
  const program = await eduDmaBenchProgram(dmas);
  const out: Record<string, number> = {};
  const targets: TargetName[] = oracleAvailable ? ['qtestd', 'oracle'] : ['qtestd'];
  for (const target of targets) {
    const name = target === 'qtestd' ? 'Qtestd' : 'Qemu';
    const off = await timed(target, program, false);
    const on = await timed(target, program, true);
    out[`traceSmmuOn${name}Ms`] = on.ms;
    out[`traceOff${name}Ms`] = off.ms;
    out[`traceSmmuOn${name}Translations`] = on.translations;
    out[`traceSmmuOn${name}TranslationsPerSec`] = on.translations / (on.ms / 1000);
    out[`traceSmmuSlowdown${name}`] = on.ms / off.ms;
  }
  if (oracleAvailable) out.traceSmmuOnTimeRatioQtestdVsQemu = out.traceSmmuOnQtestdMs! / out.traceSmmuOnQemuMs!;
  return out;
}

const isMain = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'));
if (isMain) {
  const r = await traceBenchmarks();
  for (const [k, v] of Object.entries(r)) process.stderr.write(`${k} | ${v.toFixed(2)}\n`);
}
