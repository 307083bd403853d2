/**
 * Launch → first reply, interleaved across targets (one launch of each per round), medians.
 *
 * THE figure is taken by bench/clients/launch.c, a C harness that launches the way libqtest's
 * qtest_init does (listen on two UNIX sockets, fork + `sh -c "exec BINARY ARGS"`, accept both,
 * `endianness`, then the QMP greeting and `qmp_capabilities`), so no node harness cost is in it:
 *   - launchToFirstReplyMs / launchCpuMs: fork → the `endianness` reply (wall; CPU of the launched
 *     process, all its tasks, at that moment: robust when the machine is busy);
 *   - qtestInitMs / qtestInitCpuMs: fork → the `qmp_capabilities` return: what qtest_init costs;
 *   - quitMs: SIGTERM → the process reaped; launchTotalCpuMs: its CPU over the whole launch.
 * The same launch from a node harness (child_process.spawn, node's event loop accepting) is kept
 * as a secondary, labelled figure: nodeHarnessFirstReplyMs / nodeHarnessCpuMs.
 *
 * For the warm launch, where its time goes:
 *   - warmDaemonCpuMs: CPU the warm daemon (accepting process and workers) spent on the launch;
 *   - warmSessionBuildMs: of that, argv parsing + making the Session, timed in this process with a
 *     warm JIT, as the daemon does it (a launch without -device builds its machine on the first
 *     request that needs it, so this does not include the board);
 *   - warmShimCpuMs: the launched process's CPU (sh, then the native shim) at the first reply;
 *   - warmProcessFloorMs: bench/clients/echo.c launched the same way (fork/exec, two dials, one
 *     reply): what any launch costs at least;
 *   - warmRestMs: first reply − process floor − daemon CPU (the shim → daemon hop, wake-ups).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseArgv } from '../src/config/argv.js';
import { DEFAULT_PLUGINS } from '../src/machine/default-plugins.js';
import { Session } from '../src/session/session.js';
import { cpuUs, launch, MACHINE_ARGS, median, warmDaemonPid, warmDaemonPids } from './targets.js';
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

/** One line of bench/clients/launch.c (µs). */
interface CLaunch {
  first_us: number;
  first_cpu_us: number;
  init_us: number;
  init_cpu_us: number;
  quit_us: number;
  total_cpu_us: number;
  status: number;
}

/** Run the C harness once for `t` (its environment, the benchmark's argv, `-m 512`). */
function cLaunch(harness: string, dir: string, t: Target): Promise<CLaunch> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...t.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const binary = [t.binary, ...(t.prefix ?? [])].join(' ');
  const args = [...MACHINE_ARGS, '-m', '512'].join(' ');
  return new Promise((res, rej) => {
    const child = spawn(harness, [dir, binary, args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('error', rej);
    child.once('exit', (code) => {
      let r: (CLaunch & { error?: string }) | undefined;
      try {
        r = JSON.parse(out) as CLaunch & { error?: string };
      } catch (err) {
        return rej(new Error(`launch harness (${t.name}) exited ${code}: ${out} (${(err as Error).message})`));
      }
      if (code !== 0 || r.error) rej(new Error(`launch harness (${t.name}): ${r.error ?? out}`));
      else res(r);
    });
  });
}

const daemonCpuUs = (): number => warmDaemonPids().reduce((s, p) => s + cpuUs(p), 0);

/**
 * `harness`: bench/clients/launch.c compiled (bench/clients.ts); without it (no C compiler) the
 * node harness's figures are the only ones, under their own names.
 */
export async function launchFigures(list: Target[], runs: number, harness?: string): Promise<Record<string, Figures>> {
  const series: Record<string, Record<string, number[]>> = {};
  const add = (t: string, k: string, v: number): void => {
    ((series[t] ??= {})[k] ??= []).push(v);
  };
  const daemonCpu: number[] = [];
  for (const t of list) if (t.name === 'qtestd-warm') await primeWarm(t);
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-bench-launch-'));
  try {
    for (let i = 0; i < runs; i++) {
      for (const t of list) {
        const warm = t.name === 'qtestd-warm';
        if (harness) {
          const d0 = warm ? daemonCpuUs() : 0;
          const c = await cLaunch(harness, dir, t);
          if (warm) daemonCpu.push((daemonCpuUs() - d0) / 1000);
          add(t.name, 'launchToFirstReplyMs', c.first_us / 1000);
          add(t.name, 'launchCpuMs', c.first_cpu_us / 1000);
          add(t.name, 'qtestInitMs', c.init_us / 1000);
          add(t.name, 'qtestInitCpuMs', c.init_cpu_us / 1000);
          add(t.name, 'quitMs', c.quit_us / 1000);
          add(t.name, 'launchTotalCpuMs', c.total_cpu_us / 1000);
        }
        const d0 = warm && !harness ? daemonCpuUs() : 0;
        const l = await launch(t);
        if (warm && !harness) daemonCpu.push((daemonCpuUs() - d0) / 1000);
        add(t.name, 'nodeHarnessFirstReplyMs', l.firstReplyMs);
        add(t.name, 'nodeHarnessCpuMs', l.firstReplyCpuMs);
        await l.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const out: Record<string, Figures> = {};
  for (const [t, figs] of Object.entries(series)) {
    out[t] = {};
    for (const [k, v] of Object.entries(figs)) out[t][k] = median(v);
    if (!harness) {
      // no C harness: the node harness's figures stand in (README "Benchmarks" says which is which)
      out[t].launchToFirstReplyMs = out[t].nodeHarnessFirstReplyMs;
      out[t].launchCpuMs = out[t].nodeHarnessCpuMs;
    }
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
