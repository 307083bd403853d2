/**
 * `npm run bench`: qtestd next to the real QEMU oracle (QTEST_ORACLE_PREFIX) and a bare node echo
 * server (bench/floor-echo.cjs, the floor of any node process) in the same run, interleaved (one
 * launch or batch of each target per round), medians and ratios. Prints the figures, the
 * transfer-size sweep and issue 12's targets (met / not met), and saves bench/results/latest.json
 * and latest.md. A benchmark, not a test: nothing is asserted.
 *
 * BENCH_ONLY=launch,rtt,memory,protocol,sweep,ctest,engine,wire,service runs a subset (default: all);
 * BENCH_RUNS (launch rounds, default 7), BENCH_ROUNDS (other rounds, default 3).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { REPO_ROOT } from '../tests/helpers/qtestd-fixture.js';
import { makeClients } from './clients.js';
import { ctestFigures } from './ctests.js';
import { engineBenchmarks } from './engine.js';
import { launchFigures, primeWarm } from './launch.js';
import type { Figures } from './launch.js';
import { figureTable, markdown, targetRows } from './report.js';
import { memoryFigures, rttFigures } from './rtt.js';
import { serviceBenchmarks } from './service.js';
import { smmuBenchmarks } from './smmu.js';
import { traceBenchmarks } from './trace.js';
import { ByteClient, qtestWireBenchmarks } from './qtest-wire.js';
import { sweep, sweepTable } from './sweep.js';
import type { Cliff, SweepRow } from './sweep.js';
import { cpuUs, disposeTargets, launch, LineClient, median, rssKiB, targets, warmDaemonPid } from './targets.js';
import type { Target } from './targets.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ONLY = new Set(
  (process.env.BENCH_ONLY ?? 'launch,rtt,memory,protocol,sweep,ctest,engine,wire,service').split(','),
);

/** Node-client figures: serial and pipelined readl, 1 MiB b64 round trip (one session each). */
async function protocolFigures(t: Target): Promise<Figures> {
  const l = await launch(t);
  const out: Figures = {};
  // The 1 MiB b64write + b64read round trip, from a client that sends prebuilt Buffers and keeps
  // replies as Buffers (ByteClient): the string client below adds ~20 ms of its own per round
  // trip (a 1.4 MB request string, the reply's chunks joined), more than qtestd's whole share.
  // 3 warm-up rounds, 7 timed.
  const b64 = new ByteClient(l.qtest);
  const b64write = Buffer.from(`b64write 0x40100000 0x100000 ${Buffer.alloc(1 << 20, 0x5a).toString('base64')}\n`);
  const b64read = Buffer.from('b64read 0x40100000 0x100000\n');
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = process.hrtime.bigint();
    await b64.request(b64write);
    await b64.request(b64read);
    if (i >= 3) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  out.b64OneMiBRoundTripMs = median(times);
  l.qtest.removeAllListeners('data');
  const c = new LineClient(l.qtest);
  // Warm up both sides (JIT, caches) before timing anything.
  for (let i = 0; i < 3000; i++) await c.request('readl 0x40001000');
  await c.pipeline('readl 0x40001000', 50_000);
  // The process serving the requests (for the warm path: the daemon, not the shim).
  const server = t.name === 'qtestd-warm' ? (warmDaemonPid() ?? l.child.pid!) : l.child.pid!;
  const n = 5000;
  let c0 = cpuUs(server);
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await c.request('readl 0x40001000');
  out.serialReadlUs = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  out.serialServerCpuUsPerReq = (cpuUs(server) - c0) / n;
  const p = 200_000;
  c0 = cpuUs(server);
  t0 = process.hrtime.bigint();
  await c.pipeline('readl 0x40001000', p);
  out.pipelinedOpsPerSec = p / (Number(process.hrtime.bigint() - t0) / 1e9);
  out.pipelinedServerCpuNsPerOp = ((cpuUs(server) - c0) * 1000) / p;
  await l.stop();
  if (t.name === 'qtestd-warm') {
    const pid = warmDaemonPid();
    if (pid) out.warmDaemonRssMiB = rssKiB(pid) / 1024;
  }
  return out;
}

function merge(into: Record<string, Figures>, from: Record<string, Figures>): void {
  for (const [t, f] of Object.entries(from)) Object.assign((into[t] ??= {}), f);
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const load0 = loadavg();
  const core = targets();
  const byName = (n: string): Target | undefined => core.find((t) => t.name === n);
  const clients = makeClients();
  const notes = [...clients.notes];
  const results: Record<string, Figures> = {};
  let sweepRows: SweepRow[] = [];
  let cliffs: Cliff[] = [];
  const floor: Target = {
    name: 'floor',
    binary: process.execPath,
    prefix: [join(REPO_ROOT, 'bench', 'floor-echo.cjs')],
    env: { NODE_EXTRA_CA_CERTS: undefined },
  };
  /** Seconds each part took (in latest.json), to see where a run's time goes. */
  const seconds: Record<string, number> = {};
  let part = '';
  let partT0 = Date.now();
  const step = (s: string): void => {
    if (part) seconds[part] = (Date.now() - partT0) / 1000;
    part = s;
    partT0 = Date.now();
    process.stderr.write(`bench: ${s} … (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  };
  const warm = byName('qtestd-warm');
  if (warm) await primeWarm(warm);

  if (ONLY.has('launch')) {
    step('launch → first reply');
    const extra: Target[] = [
      // Before this change's start-up work: the unbundled ESM tree, the environment as given.
      {
        name: 'qtestd-unbundled',
        binary: process.execPath,
        prefix: [join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js')],
        env: { QTESTD_ARGV0: 'qemu-system-aarch64' },
      },
      { ...byName('qtestd')!, name: 'qtestd-nocache', env: { ...byName('qtestd')!.env, QTESTD_CODE_CACHE: 'off' } },
      floor,
      { ...floor, name: 'floor-env', env: {} },
    ];
    if (clients.echo) extra.push({ name: 'process-floor', binary: clients.echo });
    merge(results, await launchFigures([...core, ...extra], RUNS, clients.launch));
  }
  if (ONLY.has('rtt')) {
    step('serial readl RTT, C and Python clients');
    merge(results, await rttFigures([...core, floor], clients, ROUNDS));
  }
  if (ONLY.has('memory')) {
    step('idle memory at -m 4G');
    merge(results, await memoryFigures([...core.filter((t) => t.name !== 'qtestd-warm'), floor], ROUNDS));
  }
  if (ONLY.has('protocol')) {
    step('node client: serial, pipelined, 1 MiB b64');
    for (const t of core) merge(results, { [t.name]: await protocolFigures(t) });
  }
  if (ONLY.has('sweep')) {
    step('transfer-size sweep');
    // The warm target serves requests with the same code as the cold one: left out to keep the
    // run short (QEMU alone spends minutes on the large writes).
    ({ rows: sweepRows, cliffs } = await sweep(
      core.filter((t) => t.name !== 'qtestd-warm'),
      ROUNDS,
    ));
  }
  if (ONLY.has('ctest')) {
    step('C qtest walls');
    merge(results, await ctestFigures(core, ROUNDS, notes));
    notes.push(
      'iommu-smmuv3 needs iommu-testdev, which QEMU 10.2.2 lacks: pci-basics (runs on both) stands in for the ratio',
    );
  }
  const engine: Figures = {};
  if (ONLY.has('engine')) {
    step('in-process engine');
    Object.assign(engine, await engineBenchmarks(), await smmuBenchmarks(), await traceBenchmarks());
  }
  if (ONLY.has('wire')) {
    step('qtest wire path (bulk, sweep, readl vs echo)');
    Object.assign(engine, await qtestWireBenchmarks(core)); // bench/qtest-wire.ts
  }
  if (ONLY.has('service')) {
    step('service (sessions in one process vs one QEMU per session)');
    Object.assign(engine, await serviceBenchmarks(byName('qemu')));
  }
  step('done');
  disposeTargets();
  clients.dispose();

  const names = [...core.map((t) => t.name), ...Object.keys(results).filter((n) => !core.some((t) => t.name === n))];
  const rows = targetRows(results, sweepRows, cliffs, engine);
  const uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  const machine = { nproc: cpus().length, model: cpus()[0]?.model, node: process.version, uptime, loadBefore: load0 };
  const md = [
    `${new Date().toISOString().slice(0, 10)} · ${machine.nproc} CPUs (${machine.model}) · Node ${machine.node} · \`uptime\` at the end: ${uptime}`,
    '',
    markdown(rows),
    '',
    figureTable(results, names),
    '',
    ...(sweepRows.length
      ? [
          'Transfer-size sweep (wall ms per request; server CPU ns per byte, the cliff figure):',
          '',
          sweepTable(
            sweepRows,
            core.map((t) => t.name),
          ),
        ]
      : []),
    '',
    ...notes.map((n) => `- ${n}`),
  ].join('\n');
  process.stderr.write(md + '\n');
  for (const [k, v] of Object.entries(engine)) process.stderr.write(`${k} | ${v.toFixed(2)}\n`);
  mkdirSync('bench/results', { recursive: true });
  const json = {
    date: new Date().toISOString(),
    machine,
    oracle: !!byName('qemu'),
    runs: RUNS,
    rounds: ROUNDS,
    seconds,
    results,
    sweep: sweepRows,
    cliffs,
    targets: rows,
    engine,
    notes,
  };
  writeFileSync('bench/results/latest.json', JSON.stringify(json, null, 2) + '\n');
  writeFileSync('bench/results/latest.md', md + '\n');
  process.stderr.write(
    `bench: saved bench/results/latest.json and latest.md (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`,
  );
  if (!byName('qemu')) process.stderr.write('bench: QTEST_ORACLE_PREFIX not set: no side-by-side ratios\n');
}

main().catch((e) => {
  disposeTargets();
  process.stderr.write(`bench failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
