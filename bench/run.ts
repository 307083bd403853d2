/**
 * `npm run bench`: qtestd next to the real QEMU oracle (QTEST_ORACLE_PREFIX) in the same run, on
 * the same machine, both with -qtest-log none. Prints a table of figures and qtestd/QEMU ratios and
 * saves everything as JSON (bench/results/latest.json). A benchmark, not a test: nothing is asserted.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { cpuUs, disposeTargets, launch, LineClient, median, rssKiB, targets, warmDaemonPid } from './targets.js';
import type { Target } from './targets.js';
import { engineBenchmarks } from './engine.js';
import { serviceBenchmarks } from './service.js';
import { smmuBenchmarks } from './smmu.js';

type Figures = Record<string, number>;

const RUNS = Number(process.env.BENCH_RUNS ?? 7);

async function launchFigure(t: Target): Promise<number> {
  if (t.name === 'qtestd-warm') {
    // The first launch goes cold and starts the daemon; wait for it, then let it warm up.
    await (await launch(t)).stop();
    for (let i = 0; i < 300 && !warmDaemonPid(); i++) await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 5; i++) await (await launch(t)).stop();
  }
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const l = await launch(t);
    times.push(l.firstReplyMs);
    await l.stop();
  }
  return median(times);
}

async function protocolFigures(t: Target): Promise<Figures> {
  const l = await launch(t);
  const c = new LineClient(l.qtest);
  const out: Figures = {};
  // Warm up both sides (JIT, caches) before timing anything.
  for (let i = 0; i < 3000; i++) await c.request('readl 0x40001000');
  await c.pipeline('readl 0x40001000', 50_000);
  // Serial readl round trip.
  // The process serving the requests (for the warm path: the daemon, not the shim).
  const server = t.name === 'qtestd-warm' ? (warmDaemonPid() ?? l.child.pid!) : l.child.pid!;
  const n = 5000;
  let c0 = cpuUs(server);
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await c.request('readl 0x40001000');
  out.serialReadlUs = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  out.serialServerCpuUsPerReq = (cpuUs(server) - c0) / n;
  // Pipelined readl.
  const p = 200_000;
  c0 = cpuUs(server);
  t0 = process.hrtime.bigint();
  await c.pipeline('readl 0x40001000', p);
  out.pipelinedOpsPerSec = p / (Number(process.hrtime.bigint() - t0) / 1e9);
  out.pipelinedServerCpuNsPerOp = ((cpuUs(server) - c0) * 1000) / p;
  // 1 MiB b64write + b64read.
  const payload = Buffer.alloc(1 << 20, 0x5a).toString('base64');
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    t0 = process.hrtime.bigint();
    await c.request(`b64write 0x40100000 0x100000 ${payload}`);
    await c.request('b64read 0x40100000 0x100000');
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  out.b64OneMiBRoundTripMs = median(times);
  await l.stop();
  if (t.name === 'qtestd-warm') {
    // The shim's RSS says nothing; the daemon's is shared by all launches (see the service figures).
    const pid = warmDaemonPid();
    if (pid) out.warmDaemonRssMiB = rssKiB(pid) / 1024;
    return out;
  }
  for (const mem of ['512', '4G']) {
    const idle = await launch(t, [], mem);
    await new Promise((r) => setTimeout(r, 300));
    out[`idleRssMiB_${mem}`] = rssKiB(idle.child.pid!) / 1024;
    await idle.stop();
  }
  return out;
}

async function main(): Promise<void> {
  const list = targets();
  const results: Record<string, Figures> = {};
  for (const t of list) {
    process.stderr.write(`bench: ${t.name} …\n`);
    results[t.name] = { launchToFirstReplyMs: await launchFigure(t), ...(await protocolFigures(t)) };
  }
  process.stderr.write('bench: in-process engine …\n');
  const engine = await engineBenchmarks();
  Object.assign(engine, await smmuBenchmarks());
  process.stderr.write('bench: service (sessions in one process vs one QEMU per session) …\n');
  Object.assign(engine, await serviceBenchmarks(list.find((t) => t.name === 'qemu')));
  disposeTargets();
  const rows = [...new Set(list.flatMap((t) => Object.keys(results[t.name])))];
  const header = [
    'figure',
    ...list.map((t) => t.name),
    ...(results.qemu ? list.filter((t) => t.name !== 'qemu').map((t) => `${t.name}/qemu`) : []),
  ];
  const lines = [header.join(' | ')];
  for (const r of rows) {
    const cells = [r, ...list.map((t) => results[t.name][r]?.toFixed(2) ?? '–')];
    if (results.qemu) {
      for (const t of list.filter((x) => x.name !== 'qemu')) {
        const a = results[t.name][r];
        const b = results.qemu[r];
        cells.push(a === undefined || b === undefined ? '–' : `${(a / b).toFixed(2)}×`);
      }
    }
    lines.push(cells.join(' | '));
  }
  for (const [k, v] of Object.entries(engine)) lines.push(`${k} | ${v.toFixed(2)}`);
  const report = lines.join('\n');
  process.stderr.write(report + '\n');
  mkdirSync('bench/results', { recursive: true });
  const json = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    oracle: !!results.qemu,
    runs: RUNS,
    results,
    engine,
  };
  writeFileSync('bench/results/latest.json', JSON.stringify(json, null, 2) + '\n');
  process.stderr.write('bench: saved bench/results/latest.json\n');
  if (!results.qemu) process.stderr.write('bench: QTEST_ORACLE_PREFIX not set: no side-by-side ratios\n');
}

main().catch((e) => {
  disposeTargets();
  process.stderr.write(`bench failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
