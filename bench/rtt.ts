/**
 * Serial `readl` round trips from outside node (bench/clients.ts) and idle memory, interleaved
 * across targets (one launch of each per round), medians over rounds:
 *   - coldPyRttUs / coldCRttUs: mean over the first 3,000 requests of a fresh launch (JIT cold);
 *   - cRttUs / pyRttUs: after 5,000 warm-up requests (3,000 timed); cServerCpuUsPerReq: the serving process's
 *     CPU per request (for the warm target, the daemon's: its accepting process and workers), which holds up
 *     on a busy machine; coldCServerCpuUsPerReq / coldPyServerCpuUsPerReq: the same over the cold 3,000;
 *   - idle memory at -m 4G, 300 ms after the first reply: VmRSS, private (Private_Clean +
 *     Private_Dirty) and anonymous memory from /proc/PID/smaps_rollup.
 */
import { readFileSync } from 'node:fs';
import type { Clients } from './clients.js';
import type { Figures } from './launch.js';
import { cpuUs, launch, median, warmDaemonPids } from './targets.js';
import type { Launched, Target } from './targets.js';

const CMD = 'readl 0x40001000';
const COLD = 3000;
const WARMUP = 5000;
const N = 3000;

function collect(into: Record<string, Record<string, number[]>>, target: string, figures: Figures): void {
  const t = (into[target] ??= {});
  for (const [k, v] of Object.entries(figures)) (t[k] ??= []).push(v);
}

function medians(from: Record<string, Record<string, number[]>>): Record<string, Figures> {
  const out: Record<string, Figures> = {};
  for (const [t, figs] of Object.entries(from)) {
    out[t] = {};
    for (const [k, v] of Object.entries(figs)) out[t][k] = median(v);
  }
  return out;
}

/** CPU µs so far of the processes serving `l` (the warm target: the daemon and its workers). */
function serverCpuUs(t: Target, l: Launched): number {
  const pids = t.name === 'qtestd-warm' ? warmDaemonPids() : [];
  return (pids.length ? pids : [l.child.pid!]).reduce((sum, pid) => sum + cpuUs(pid), 0);
}

async function rttRound(t: Target, clients: Clients): Promise<Figures> {
  const out: Figures = {};
  if (clients.c) {
    const l = await launch(t);
    const c0 = serverCpuUs(t, l);
    out.coldCRttUs = await clients.c(l.qtest, COLD, CMD);
    out.coldCServerCpuUsPerReq = (serverCpuUs(t, l) - c0) / COLD;
    await l.stop();
  }
  const l = await launch(t);
  if (clients.python) {
    const c0 = serverCpuUs(t, l);
    out.coldPyRttUs = await clients.python(l.qtest, COLD, CMD);
    out.coldPyServerCpuUsPerReq = (serverCpuUs(t, l) - c0) / COLD;
  }
  if (clients.c) {
    await clients.c(l.qtest, WARMUP, CMD);
    const c0 = serverCpuUs(t, l);
    out.cRttUs = await clients.c(l.qtest, N, CMD);
    out.cServerCpuUsPerReq = (serverCpuUs(t, l) - c0) / N;
  }
  if (clients.python) out.pyRttUs = await clients.python(l.qtest, N, CMD);
  await l.stop();
  return out;
}

export async function rttFigures(list: Target[], clients: Clients, rounds: number): Promise<Record<string, Figures>> {
  const all: Record<string, Record<string, number[]>> = {};
  for (let i = 0; i < rounds; i++) for (const t of list) collect(all, t.name, await rttRound(t, clients));
  return medians(all);
}

function memory(pid: number): Figures {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (text: string, key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1]);
  return {
    idleRssMiB_4G: kib(status, 'VmRSS') / 1024,
    idlePrivateMiB_4G: (kib(rollup, 'Private_Clean') + kib(rollup, 'Private_Dirty')) / 1024,
    idleAnonymousMiB_4G: kib(rollup, 'Anonymous') / 1024,
  };
}

/** Idle memory of a launched process at -m 4G (not for the warm target: its shim is a C relay). */
export async function memoryFigures(list: Target[], rounds: number): Promise<Record<string, Figures>> {
  const all: Record<string, Record<string, number[]>> = {};
  for (let i = 0; i < rounds; i++) {
    for (const t of list) {
      const l = await launch(t, [], '4G');
      await new Promise((r) => setTimeout(r, 300));
      collect(all, t.name, memory(l.child.pid!));
      await l.stop();
    }
  }
  return medians(all);
}
