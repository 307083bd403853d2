/**
 * A/B of the serial request loop (issue 12, "the request loop"): builds of qtestd side by side
 * with the bare node echo floor (bench/floor-echo.cjs) and, when QTEST_ORACLE_PREFIX is set, QEMU,
 * in interleaved rounds (one launch of each target per round, the order rotated each round),
 * medians and ratios. Per launch: the Python client's first 3,000 requests (cold), 5,000 C warm-up
 * requests, then 3,000 timed C requests and 3,000 timed Python requests, each with the server's
 * CPU per request (schedstat, all threads) — the figure that holds up on a busy machine.
 *
 *   node dist/bench/rtt-ab.js                         # this build vs the floor (and QEMU)
 *   RTT_AB="base=/tmp/old/bin/qemu-system-aarch64" RTT_AB_ROUNDS=7 node dist/bench/rtt-ab.js
 *
 * RTT_AB: extra qtestd launchers to compare (name=path, comma-separated; each run cold, with
 * QTESTD_NO_DAEMON=1). RTT_AB_ROUNDS: rounds (default 5). RTT_AB_CMD: the request (default readl).
 */
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeClients } from './clients.js';
import { cpuUs, launch, median } from './targets.js';
import type { Target } from './targets.js';
import { QTESTD_BINARY, REPO_ROOT } from '../tests/helpers/qtestd-fixture.js';

const CMD = process.env.RTT_AB_CMD ?? 'readl 0x40001000';
const ROUNDS = Number(process.env.RTT_AB_ROUNDS ?? 5);
const COLD = 3000;
const WARMUP = 5000;
const N = 3000;

type Row = Record<string, number>;

async function one(t: Target, clients: ReturnType<typeof makeClients>): Promise<Row> {
  const out: Row = {};
  const l = await launch(t);
  const pid = l.child.pid!;
  try {
    let c0 = cpuUs(pid);
    if (clients.python) {
      out.coldPyUs = await clients.python(l.qtest, COLD, CMD);
      out.coldPyCpuUs = (cpuUs(pid) - c0) / COLD;
    }
    if (clients.c) {
      await clients.c(l.qtest, WARMUP, CMD);
      c0 = cpuUs(pid);
      out.cUs = await clients.c(l.qtest, N, CMD);
      out.cCpuUs = (cpuUs(pid) - c0) / N;
    }
    if (clients.python) {
      c0 = cpuUs(pid);
      out.pyUs = await clients.python(l.qtest, N, CMD);
      out.pyCpuUs = (cpuUs(pid) - c0) / N;
    }
  } finally {
    await l.stop();
  }
  return out;
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
  const all: Record<string, Record<string, number[]>> = {};
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < list.length; k++) {
        const t = list[(k + r) % list.length];
        const row = await one(t, clients);
        const into = (all[t.name] ??= {});
        for (const [key, v] of Object.entries(row)) (into[key] ??= []).push(v);
      }
      process.stderr.write(`rtt-ab: round ${r + 1}/${ROUNDS} done\n`);
    }
  } finally {
    clients.dispose();
  }
  const keys = ['cUs', 'cCpuUs', 'pyUs', 'pyCpuUs', 'coldPyUs', 'coldPyCpuUs'];
  const med = (name: string, key: string): number => median(all[name]?.[key] ?? [NaN]);
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
      cells.push(`${(med(n, key) / med('floor', key)).toFixed(2)}×`, `${(med(n, key) / med('qemu', key)).toFixed(2)}×`);
    }
    lines.push(`| ${key} | ${cells.join(' | ')} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n${ROUNDS} rounds, ${CMD}; ${execSync('uptime').toString().trim()}\n`);
}

main().catch((e) => {
  process.stderr.write(`rtt-ab: ${(e as Error).stack}\n`);
  process.exitCode = 1;
});
