/**
 * Transfer-size sweep: `read`, `b64read`, `write`, `b64write` of 4 KiB … 16 MiB (powers of two)
 * against each target's one session, interleaved (every round visits every size and op, one
 * batch per target each), medians over the rounds (at least 7). Each batch moves at least
 * SWEEP_BATCH_BYTES (several requests at small sizes); its figures are wall ms per request and
 * the server's own CPU ns per byte (/proc schedstat of the serving process: steady on a loaded
 * machine, and not the client's cost). A cliff is the server's CPU per byte rising more than 1.3×
 * from one size to the next. The client sends prebuilt request Buffers and counts reply bytes
 * without making strings (bench/qtest-wire.ts ByteClient), so it is not what is measured.
 */
import { ByteClient } from './qtest-wire.js';
import { cpuUs, launch, median } from './targets.js';
import type { Target } from './targets.js';

export const SWEEP_OPS = ['read', 'b64read', 'write', 'b64write'] as const;
/**
 * The ops a run measures (SWEEP_OPS=write,b64write: a subset; SWEEP_FROM_KIB=N / SWEEP_TO_KIB=M:
 * the sizes from N KiB / up to M KiB).
 */
const RUN_OPS = SWEEP_OPS.filter((op) => (process.env.SWEEP_OPS ?? SWEEP_OPS.join(',')).split(',').includes(op));
export const SWEEP_SIZES = Array.from({ length: 13 }, (_, i) => 4096 * 2 ** i);
const ADDR = 0x40100000;
/** Rounds at least this many (BENCH_ROUNDS may ask for more). */
const MIN_ROUNDS = 7;
/** Bytes one batch moves at least (requests per batch = this / size, at least 1). */
const SWEEP_BATCH_BYTES = Number(process.env.BENCH_SWEEP_BATCH_MIB ?? 4) << 20;
/**
 * QEMU's `write`/`b64write` grow faster than linearly past a few MiB (a 16 MiB `write` takes it
 * minutes on a busy machine): its points above this size are not timed (shown as –); the
 * per-byte slope below it is the comparison, and qtestd's own points go to 16 MiB.
 */
const QEMU_WRITE_MAX = 4 << 20;

export interface SweepRow {
  op: string;
  size: number;
  /** target → median ms per request (wall) */
  ms: Record<string, number>;
  /** target → median server CPU ns per byte */
  cpuNsPerByte: Record<string, number>;
}

export interface Cliff {
  target: string;
  op: string;
  from: number;
  to: number;
  rise: number;
}

function request(op: string, size: number, data: Buffer): Buffer {
  const a = `0x${ADDR.toString(16)} 0x${size.toString(16)}`;
  if (op === 'read' || op === 'b64read') return Buffer.from(`${op} ${a}\n`);
  const payload = data.subarray(0, size);
  return op === 'write'
    ? Buffer.concat([Buffer.from(`write ${a} 0x`), Buffer.from(payload.toString('hex')), Buffer.from('\n')])
    : Buffer.concat([Buffer.from(`b64write ${a} `), Buffer.from(payload.toString('base64')), Buffer.from('\n')]);
}

export async function sweep(list: Target[], rounds: number): Promise<{ rows: SweepRow[]; cliffs: Cliff[] }> {
  const max = SWEEP_SIZES[SWEEP_SIZES.length - 1];
  const data = Buffer.alloc(max);
  for (let i = 0; i < max; i++) data[i] = (i * 7 + 3) & 0xff;
  const sessions = [];
  for (const t of list) {
    const l = await launch(t, [], '512');
    l.qtest.removeAllListeners('data');
    sessions.push({ t, l, c: new ByteClient(l.qtest), pid: l.child.pid! });
  }
  const n = Math.max(MIN_ROUNDS, rounds);
  const from = Number(process.env.SWEEP_FROM_KIB ?? 0) * 1024; // the sizes from this one (a subset)
  const to = Number(process.env.SWEEP_TO_KIB ?? Infinity) * 1024; // … up to this one
  const points = SWEEP_SIZES.filter((size) => size >= from && size <= to).flatMap((size) =>
    RUN_OPS.map((op) => ({ op, size, req: request(op, size, data) })),
  );
  const ms = points.map(() => ({}) as Record<string, number[]>);
  const cpu = points.map(() => ({}) as Record<string, number[]>);
  const runs = (name: string, op: string, size: number): boolean =>
    !(name === 'qemu' && op.endsWith('write') && size > QEMU_WRITE_MAX);
  try {
    // Round 0 warms every path and touches the pages; rounds 1…n are measured. Each round visits
    // every size (a burst of load on the machine lands on one round of many sizes, not on all
    // rounds of one size, where it could make a cliff).
    for (let r = 0; r <= n; r++) {
      for (let k = 0; k < points.length; k++) {
        const { op, size, req } = points[k];
        const reps = r === 0 ? 1 : Math.max(1, Math.floor(SWEEP_BATCH_BYTES / size));
        for (const s of sessions) {
          if (!runs(s.t.name, op, size)) continue;
          const c0 = cpuUs(s.pid);
          const t0 = process.hrtime.bigint();
          for (let i = 0; i < reps; i++) await s.c.request(req);
          if (r === 0) continue;
          (ms[k][s.t.name] ??= []).push(Number(process.hrtime.bigint() - t0) / 1e6 / reps);
          (cpu[k][s.t.name] ??= []).push(((cpuUs(s.pid) - c0) * 1e3) / reps / size);
        }
      }
    }
  } finally {
    for (const s of sessions) await s.l.stop();
  }
  const med = (m: Record<string, number[]>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, median(v)]));
  const rows: SweepRow[] = points.map((p, k) => ({
    op: p.op,
    size: p.size,
    ms: med(ms[k]),
    cpuNsPerByte: med(cpu[k]),
  }));
  return {
    rows,
    cliffs: cliffsOf(
      rows,
      list.map((t) => t.name),
    ),
  };
}

/** Rises of the server's CPU per byte of more than 1.3× between adjacent sizes. */
export function cliffsOf(rows: SweepRow[], names: string[]): Cliff[] {
  const cliffs: Cliff[] = [];
  for (const target of names) {
    for (const op of SWEEP_OPS) {
      const r = rows.filter((x) => x.op === op);
      for (let i = 1; i < r.length; i++) {
        const rise = r[i].cpuNsPerByte[target] / r[i - 1].cpuNsPerByte[target];
        if (Number.isFinite(rise) && rise > 1.3) cliffs.push({ target, op, from: r[i - 1].size, to: r[i].size, rise });
      }
    }
  }
  return cliffs;
}

export function kib(size: number): string {
  return size >= 1 << 20 ? `${size >> 20} MiB` : `${size >> 10} KiB`;
}

/** The sweep as a text table: wall ms per request, server CPU ns/byte per target, and qtestd/QEMU. */
export function sweepTable(rows: SweepRow[], names: string[]): string {
  const shown = names.filter((n) => rows.some((r) => r.ms[n] !== undefined));
  const others = shown.filter((n) => n !== 'qemu');
  const hasQemu = shown.includes('qemu');
  const head = ['op', 'size', ...shown.map((n) => `${n} ms`), ...shown.map((n) => `${n} CPU ns/B`)];
  if (hasQemu) head.push(...others.map((n) => `${n}/qemu CPU`));
  const lines = [head.join(' | '), head.map(() => '---').join(' | ')];
  for (const r of rows) {
    const cells = [r.op, kib(r.size)];
    const cell = (v: number | undefined, f: (x: number) => string): string => (v === undefined ? '–' : f(v));
    for (const n of shown) cells.push(cell(r.ms[n], (v) => v.toFixed(3)));
    for (const n of shown) cells.push(cell(r.cpuNsPerByte[n], (v) => v.toFixed(2)));
    if (hasQemu)
      for (const n of others) cells.push(cell(r.cpuNsPerByte.qemu, (q) => `${(r.cpuNsPerByte[n] / q).toFixed(2)}×`));
    lines.push(cells.join(' | '));
  }
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('sweep.js')) {
  // `node dist/bench/sweep.js`: the sweep alone (qtestd, and QEMU with QTEST_ORACLE_PREFIX);
  // SWEEP_AB="base=/path/to/bin/qemu-system-aarch64" adds other builds, interleaved.
  const { targets, disposeTargets } = await import('./targets.js');
  const list = targets().filter((t) => t.name !== 'qtestd-warm');
  for (const spec of (process.env.SWEEP_AB ?? '').split(',').filter(Boolean)) {
    const [name, binary] = spec.split('=');
    list.push({ name, binary, env: { QTESTD_NO_DAEMON: '1' } });
  }
  const { rows, cliffs } = await sweep(list, Number(process.env.BENCH_ROUNDS ?? MIN_ROUNDS));
  process.stderr.write(
    sweepTable(
      rows,
      list.map((t) => t.name),
    ) + '\n',
  );
  process.stderr.write(
    `cliffs (server CPU/B > 1.3× between adjacent sizes): ${cliffs.map((c) => `${c.target} ${c.op} ${kib(c.from)}→${kib(c.to)} ${c.rise.toFixed(2)}×`).join('; ') || 'none'}\n`,
  );
  disposeTargets();
}
