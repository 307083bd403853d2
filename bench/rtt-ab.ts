/**
 * A/B of the serial request loop (issue 12, "the request loop"): builds of qtestd side by side
 * with the bare node echo floor (bench/floor-echo.cjs) and, when QTEST_ORACLE_PREFIX is set, QEMU.
 * Each round launches every target once (the Python client's first 3,000 requests on the fresh
 * launch: cold; then 5,000 C warm-up requests), then runs blocks of 3,000 timed C and 3,000 timed
 * Python requests, the targets taking turns block by block; every figure comes with the server's
 * CPU per request (schedstat, all threads), which holds up on a busy machine where latencies do
 * not. Ratios are medians of the ratios of samples taken side by side.
 *
 *   node dist/bench/rtt-ab.js                         # this build vs the floor (and QEMU)
 *   RTT_AB="base=/tmp/old/bin/qemu-system-aarch64" taskset -c 1 node dist/bench/rtt-ab.js
 *
 * RTT_AB: extra qtestd launchers to compare (name=path, comma-separated; each run cold, with
 * QTESTD_NO_DAEMON=1). RTT_AB_ROUNDS: rounds (default 3); RTT_AB_BLOCKS: timed blocks per round
 * (default 4); RTT_AB_CMD: the request (default `readl 0x40001000`).
 */
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeClients } from './clients.js';
import type { Clients } from './clients.js';
import { cpuUs, launch, median } from './targets.js';
import type { Launched, Target } from './targets.js';
import { QTESTD_BINARY, REPO_ROOT } from '../tests/helpers/qtestd-fixture.js';

const CMD = process.env.RTT_AB_CMD ?? 'readl 0x40001000';
const ROUNDS = Number(process.env.RTT_AB_ROUNDS ?? 3);
const COLD = 3000;
const WARMUP = 5000;
const N = 3000;

const BLOCKS = Number(process.env.RTT_AB_BLOCKS ?? 4);

type Samples = Record<string, number[]>;

function add(into: Samples, key: string, v: number): void {
  (into[key] ??= []).push(v);
}

/**
 * One round: a fresh launch of every target (the Python client's first COLD requests on each),
 * C warm-up, then BLOCKS blocks of N timed C and N timed Python requests per target, the targets
 * taking turns block by block (so a change in the machine's load hits them alike).
 */
async function round(list: Target[], r: number, clients: Clients, all: Record<string, Samples>): Promise<void> {
  const launched: Launched[] = [];
  try {
    for (let k = 0; k < list.length; k++) {
      const t = list[(k + r) % list.length];
      const l = await launch(t);
      launched[(k + r) % list.length] = l;
      const pid = l.child.pid!;
      if (clients.python) {
        const c0 = cpuUs(pid);
        add((all[t.name] ??= {}), 'coldPyUs', await clients.python(l.qtest, COLD, CMD));
        add(all[t.name], 'coldPyCpuUs', (cpuUs(pid) - c0) / COLD);
      }
      if (clients.c) await clients.c(l.qtest, WARMUP, CMD);
    }
    for (let b = 0; b < BLOCKS; b++) {
      for (let k = 0; k < list.length; k++) {
        const i = (k + b + r) % list.length;
        const l = launched[i];
        const into = (all[list[i].name] ??= {});
        const pid = l.child.pid!;
        for (const [name, client] of [
          ['c', clients.c],
          ['py', clients.python],
        ] as const) {
          if (!client) continue;
          const c0 = cpuUs(pid);
          add(into, `${name}Us`, await client(l.qtest, N, CMD));
          add(into, `${name}CpuUs`, (cpuUs(pid) - c0) / N);
        }
      }
    }
  } finally {
    for (const l of launched) if (l) await l.stop();
  }
}

async function main(): Promise<void> {
  const list: Target[] = [{ name: 'qtestd', binary: QTESTD_BINARY, env: { QTESTD_NO_DAEMON: '1' } }];
  for (const spec of (process.env.RTT_AB ?? '').split(',').filter(Boolean)) {
    const [name, binary] = spec.split('=');
    list.push({ name, binary, env: { QTESTD_NO_DAEMON: '1' } });
  }
  list.push({
    name: 'floor',
    binary: process.execPath,
    prefix: [join(REPO_ROOT, 'bench', 'floor-echo.cjs')],
    env: { NODE_EXTRA_CA_CERTS: undefined },
  });
  const prefix = process.env.QTEST_ORACLE_PREFIX;
  if (prefix && existsSync(join(prefix, 'bin/qemu-system-aarch64')))
    list.push({ name: 'qemu', binary: join(prefix, 'bin/qemu-system-aarch64') });
  const clients = makeClients();
  for (const n of clients.notes) process.stderr.write(`rtt-ab: ${n}\n`);
  const all: Record<string, Samples> = {};
  try {
    for (let r = 0; r < ROUNDS; r++) {
      await round(list, r, clients, all);
      process.stderr.write(`rtt-ab: round ${r + 1}/${ROUNDS} done\n`);
    }
  } finally {
    clients.dispose();
  }
  const keys = ['cUs', 'cCpuUs', 'pyUs', 'pyCpuUs', 'coldPyUs', 'coldPyCpuUs'];
  const med = (name: string, key: string): number => median(all[name]?.[key] ?? [NaN]);
  /** Median of the ratios of samples taken side by side (same round and block). */
  const paired = (name: string, ref: string, key: string): string => {
    const a = all[name]?.[key] ?? [];
    const b = all[ref]?.[key] ?? [];
    return a.length && a.length === b.length ? `${median(a.map((v, i) => v / b[i])).toFixed(2)}×` : '–';
  };
  const names = list.map((t) => t.name);
  const head = [
    'figure',
    ...names,
    ...names.filter((n) => n !== 'floor' && n !== 'qemu').flatMap((n) => [`${n}/floor`, `${n}/qemu`]),
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const key of keys) {
    const cells = names.map((n) => med(n, key).toFixed(2));
    for (const n of names.filter((x) => x !== 'floor' && x !== 'qemu')) {
      cells.push(paired(n, 'floor', key), paired(n, 'qemu', key));
    }
    lines.push(`| ${key} | ${cells.join(' | ')} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n${ROUNDS} rounds, ${CMD}; ${execSync('uptime').toString().trim()}\n`);
}

main().catch((e) => {
  process.stderr.write(`rtt-ab: ${(e as Error).stack}\n`);
  process.exitCode = 1;
});
