/**
 * Launch → first reply, interleaved across targets (one launch of each per round), median wall ms
 * and median CPU ms of the launched process at the first reply (robust when the machine is busy),
 * and where a warm launch's time goes:
 *   - processFloorMs: bench/clients/echo.c launched the same way (fork/exec, two dials, one
 *     reply): what any launch costs at least;
 *   - daemonCpuMs: CPU the warm daemon spent on the launch (request, argv, Session, dials);
 *   - sessionBuildMs: of that, argv parsing + making the Session, timed in this process with a
 *     warm JIT, as the daemon does it (a launch without -device builds its machine on the first
 *     request that needs it, so this no longer includes the board);
 *   - shimCpuMs: the native shim's own CPU;
 *   - restMs: the remainder (the shim → daemon hop, wake-ups, scheduling).
 */
import { pino } from 'pino';
import { parseArgv } from '../src/config/argv.js';
import { DEFAULT_PLUGINS } from '../src/machine/default-plugins.js';
import { Session } from '../src/session/session.js';
import { cpuUs, launch, MACHINE_ARGS, median, warmDaemonPid } from './targets.js';
import type { Target } from './targets.js';

export type Figures = Record<string, number>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Start the warm target's daemon (the first launch goes cold and starts it) and warm it up. */
export async function primeWarm(t: Target): Promise<void> {
  await (await launch(t)).stop();
  for (let i = 0; i < 300 && !warmDaemonPid(); i++) await sleep(50);
  for (let i = 0; i < 5; i++) await (await launch(t)).stop();
}

function sessionBuildMs(): number {
  const log = pino({ level: 'silent' });
  const argv = [
    '-qtest',
    'unix:/nonexistent/q.sock',
    '-display',
    'none',
    ...MACHINE_ARGS,
    '-m',
    '512',
    '-accel',
    'qtest',
  ];
  const times: number[] = [];
  for (let i = 0; i < 60; i++) {
    const t0 = performance.now();
    new Session(parseArgv(argv).machine, { log, plugins: DEFAULT_PLUGINS, lazyMachine: true }).dispose();
    if (i >= 20) times.push(performance.now() - t0);
  }
  return median(times);
}

export async function launchFigures(list: Target[], runs: number): Promise<Record<string, Figures>> {
  const wall: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  const daemonCpu: number[] = [];
  for (const t of list) {
    wall[t.name] = [];
    cpu[t.name] = [];
    if (t.name === 'qtestd-warm') await primeWarm(t);
  }
  for (let i = 0; i < runs; i++) {
    for (const t of list) {
      const daemon = t.name === 'qtestd-warm' ? warmDaemonPid() : undefined;
      const d0 = daemon ? cpuUs(daemon) : 0;
      const l = await launch(t);
      if (daemon) daemonCpu.push((cpuUs(daemon) - d0) / 1000);
      wall[t.name].push(l.firstReplyMs);
      cpu[t.name].push(l.firstReplyCpuMs);
      await l.stop();
    }
  }
  const out: Record<string, Figures> = {};
  for (const t of list) {
    out[t.name] = { launchToFirstReplyMs: median(wall[t.name]), launchCpuMs: median(cpu[t.name]) };
  }
  const warm = out['qtestd-warm'];
  const floor = out['process-floor'];
  if (warm) {
    warm.warmDaemonCpuMs = median(daemonCpu);
    warm.warmSessionBuildMs = sessionBuildMs();
    warm.warmShimCpuMs = warm.launchCpuMs;
    if (floor) {
      warm.warmProcessFloorMs = floor.launchToFirstReplyMs;
      warm.warmRestMs = warm.launchToFirstReplyMs - floor.launchToFirstReplyMs - warm.warmDaemonCpuMs;
    }
  }
  return out;
}
