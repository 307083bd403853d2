/**
 * In-process benchmarks of the machine: the address-space hot path and (when available) the SMMU
 * translation engine. Figures are operations per second.
 */
import { pino } from 'pino';
import { parseArgv } from '../src/config/argv.js';
import { DEFAULT_PLUGINS } from '../src/machine/default-plugins.js';
import { Session } from '../src/session/session.js';

function opsPerSec(n: number, fn: () => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

export async function engineBenchmarks(): Promise<Record<string, number>> {
  const session = new Session(parseArgv('-machine virt,gic-version=3 -cpu max -m 512 -net none'.split(' ')).machine, {
    log: pino({ level: 'silent' }),
    plugins: DEFAULT_PLUGINS,
  });
  const buf = new Uint8Array(4);
  const out: Record<string, number> = {};
  out.ramReadlPerSec = opsPerSec(1_000_000, () => session.machine.system.readBytes(0x40001000n, buf));
  out.ecamReadlPerSec = opsPerSec(200_000, () => session.machine.system.readBytes(0x4010000000n, buf));
  return out;
}
