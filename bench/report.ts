/**
 * Issue 12's targets evaluated on one benchmark run: each row the measured ratio, the goal and
 * whether it is met, as text and as a Markdown table (bench/results/latest.md, for the README).
 */
import type { Figures } from './launch.js';
import type { Cliff, SweepRow } from './sweep.js';
import { kib } from './sweep.js';

export interface TargetRow {
  what: string;
  value: string;
  goal: string;
  met: 'met' | 'not met' | 'not measured';
}

type Results = Record<string, Figures>;

function row(what: string, ratio: number | undefined, op: '<=' | '>=', goal: number): TargetRow {
  const g = `${op === '<=' ? '≤' : '≥'} ${goal}×`;
  if (ratio === undefined || !Number.isFinite(ratio)) return { what, value: '–', goal: g, met: 'not measured' };
  const ok = op === '<=' ? ratio <= goal : ratio >= goal;
  return { what, value: `${ratio.toFixed(2)}×`, goal: g, met: ok ? 'met' : 'not met' };
}

const div = (a?: number, b?: number): number | undefined => (a === undefined || b === undefined ? undefined : a / b);

/**
 * `engine` holds the wire figures (bench/qtest-wire.ts) when they ran: the 64 KiB hex `read` is
 * then taken from there (hundreds of requests per round) rather than from the sweep's one point,
 * with the server's CPU per request beside it (the steadier figure on a busy machine).
 */
export function targetRows(r: Results, sweepRows: SweepRow[], cliffs: Cliff[], engine: Figures = {}): TargetRow[] {
  const q = r.qemu ?? {};
  const cold = r.qtestd ?? {};
  const warm = r['qtestd-warm'] ?? {};
  const floor = r.floor ?? {};
  const read64 = sweepRows.find((x) => x.op === 'read' && x.size === 65536);
  const wireRatio = engine['wire.hexRead64KiB.qtestd/qemu'];
  const rows: TargetRow[] = [
    row('hex `read` 64 KiB throughput vs QEMU', wireRatio ?? div(read64?.ms.qemu, read64?.ms.qtestd), '>=', 1.5),
  ];
  const cpu = engine['wire.hexRead64KiB_serverCpu.qtestd/qemu'];
  if (cpu !== undefined) rows.push(row('hex `read` 64 KiB, QEMU CPU / qtestd CPU per request', 1 / cpu, '>=', 1.5));
  const swept = sweepRows.length > 0;
  const ours = cliffs.filter((c) => c.target === 'qtestd' || c.target === 'qtestd-warm');
  rows.push({
    what: 'no cliff in the 4 KiB … 16 MiB sweep (per-byte cost rising > 1.3× between adjacent sizes)',
    value: !swept
      ? '–'
      : ours.length === 0
        ? 'none'
        : ours.map((c) => `${c.target} ${c.op} ${kib(c.from)}→${kib(c.to)} ${c.rise.toFixed(2)}×`).join('; '),
    goal: 'none',
    met: !swept ? 'not measured' : ours.length === 0 ? 'met' : 'not met',
  });
  rows.push(
    row('1 MiB b64write + b64read vs QEMU', div(cold.b64OneMiBRoundTripMs, q.b64OneMiBRoundTripMs), '<=', 0.3),
    // Launch figures: THE ones come from bench/clients/launch.c, which launches as libqtest's
    // qtest_init does (fork + sh -c exec; accept; `endianness`); the node harness's are secondary.
    row('cold launch → first reply vs QEMU', div(cold.launchToFirstReplyMs, q.launchToFirstReplyMs), '<=', 1.5),
    row(
      'cold launch → first reply vs bare node',
      div(cold.launchToFirstReplyMs, floor.launchToFirstReplyMs),
      '<=',
      1.15,
    ),
    row('warm launch → first reply vs QEMU', div(warm.launchToFirstReplyMs, q.launchToFirstReplyMs), '<=', 0.1),
    row(
      'warm qtest_init (launch → `qmp_capabilities` return) vs QEMU',
      div(warm.qtestInitMs, q.qtestInitMs),
      '<=',
      0.1,
    ),
    row(
      'secondary, node harness: cold launch → first reply vs QEMU',
      div(cold.nodeHarnessFirstReplyMs, q.nodeHarnessFirstReplyMs),
      '<=',
      1.5,
    ),
    row(
      'secondary, node harness: warm launch → first reply vs QEMU',
      div(warm.nodeHarnessFirstReplyMs, q.nodeHarnessFirstReplyMs),
      '<=',
      0.1,
    ),
    row('warm `readl` RTT, C client, vs bare node echo', div(cold.cRttUs, floor.cRttUs), '<=', 1.1),
    row('warm `readl` RTT, Python client, vs QEMU', div(cold.pyRttUs, q.pyRttUs), '<=', 1.0),
    row('cold RTT, first 3,000 requests, Python client, vs QEMU', div(cold.coldPyRttUs, q.coldPyRttUs), '<=', 1.2),
    row('idle VmRSS at -m 4G vs QEMU', div(cold.idleRssMiB_4G, q.idleRssMiB_4G), '<=', 1.4),
    row('idle private memory at -m 4G vs QEMU', div(cold.idlePrivateMiB_4G, q.idlePrivateMiB_4G), '<=', 0.5),
    row('`iommu-smmuv3-test` wall, warm, vs QEMU', undefined, '<=', 0.75),
    row('`iommu-smmuv3-test` wall, cold, vs QEMU', undefined, '<=', 1.5),
    row(
      'pci-basics C qtest wall, warm, vs QEMU (stand-in, see note)',
      div(warm.ctestWallMs_pci_basics, q.ctestWallMs_pci_basics),
      '<=',
      0.75,
    ),
    row(
      'pci-basics C qtest wall, cold, vs QEMU (stand-in, see note)',
      div(cold.ctestWallMs_pci_basics, q.ctestWallMs_pci_basics),
      '<=',
      1.5,
    ),
  );
  return rows;
}

export function markdown(rows: TargetRow[]): string {
  const lines = ['| target (issue 12) | measured | goal | |', '|---|---|---|---|'];
  for (const x of rows) lines.push(`| ${x.what} | ${x.value} | ${x.goal} | ${x.met} |`);
  return lines.join('\n');
}

/** Figures × targets as a Markdown table with ratios to QEMU and to the bare-node floor. */
export function figureTable(r: Results, names: string[]): string {
  const figs = [...new Set(names.flatMap((n) => Object.keys(r[n] ?? {})))];
  const ratioTo = ['qemu', 'floor'].filter((b) => names.includes(b));
  const head = ['figure', ...names];
  for (const b of ratioTo) head.push(`qtestd/${b}`, `warm/${b}`);
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  const fmt = (v: number | undefined): string => (v === undefined ? '–' : v >= 1000 ? v.toFixed(0) : v.toPrecision(3));
  for (const f of figs) {
    const cells = [f, ...names.map((n) => fmt(r[n]?.[f]))];
    for (const b of ratioTo) {
      for (const n of ['qtestd', 'qtestd-warm']) {
        const v = div(r[n]?.[f], r[b]?.[f]);
        cells.push(v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}×`);
      }
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
