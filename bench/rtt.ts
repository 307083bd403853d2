/**
 * Serial `readl` round trips from outside node (bench/clients.ts) and idle memory, interleaved
 * across targets (one launch of each per round), medians over rounds:
 *   - coldPyRttUs / coldCRttUs: mean over the first 3,000 requests of a fresh launch (JIT cold);
 *   - cRttUs / pyRttUs: after 5,000 warm-up requests (3,000 timed); cServerCpuUsPerReq: the serving process's
 *     CPU per request (for the warm target, the daemon's), which holds up on a busy machine;
 *   - idle memory at -m 4G, 300 ms after the first reply: VmRSS, private (Private_Clean +
 *     Private_Dirty) and anonymous memory from /proc/PID/smaps_rollup.
 */
import { readFileSync } from 'node:fs';
import type { Clients } from './clients.js';
import type { Figures } from './launch.js';
import { cpuUs, launch, median, warmDaemonPid } from './targets.js';
import type { Target } from './targets.js';

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

async function rttRound(t: Target, clients: Clients): Promise<Figures> {
  const out: Figures = {};
  if (clients.c) {
    const l = await launch(t);
    out.coldCRttUs = await clients.c(l.qtest, COLD, CMD);
    await l.stop();
  }
  const l = await launch(t);
  const server = t.name === 'qtestd-warm' ? (warmDaemonPid() ?? l.child.pid!) : l.child.pid!;
  if (clients.python) out.coldPyRttUs = await clients.python(l.qtest, COLD, CMD);
  if (clients.c) {
    await clients.c(l.qtest, WARMUP, CMD);
    const c0 = cpuUs(server);
    out.cRttUs = await clients.c(l.qtest, N, CMD);
    out.cServerCpuUsPerReq = (cpuUs(server) - c0) / N;
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
