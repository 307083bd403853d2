/**
 * Transfer-size sweep: `read`, `b64read`, `write`, `b64write` of 4 KiB … 16 MiB (powers of two)
 * against each target's one session, interleaved (each size and op: one batch per target per
 * round; sizes past 1 MiB: one round), median ms per request and ns per byte. A cliff is the per-byte cost rising more than
 * 1.3× from one size to the next.
 */
import { launch, LineClient, median } from './targets.js';
import type { Target } from './targets.js';

export const SWEEP_OPS = ['read', 'b64read', 'write', 'b64write'] as const;
export const SWEEP_SIZES = Array.from({ length: 13 }, (_, i) => 4096 * 2 ** i);
const ADDR = 0x40100000;
/**
 * QEMU's `write`/`b64write` grow faster than linearly past a few MiB (a 16 MiB `write` takes it
 * minutes on a busy machine): its points above this size are not timed (shown as –); the
 * per-byte slope below it is the comparison, and qtestd's own points go to 16 MiB.
 */
const QEMU_WRITE_MAX = 4 << 20;

export interface SweepRow {
  op: string;
  size: number;
  /** target → median ms per request */
  ms: Record<string, number>;
}

export interface Cliff {
  target: string;
  op: string;
  from: number;
  to: number;
  rise: number;
}

function request(op: string, size: number, payload: Map<number, { hex: string; b64: string }>): string {
  const a = `0x${ADDR.toString(16)} 0x${size.toString(16)}`;
  if (op === 'read' || op === 'b64read') return `${op} ${a}`;
  const p = payload.get(size)!;
  return op === 'write' ? `write ${a} 0x${p.hex}` : `b64write ${a} ${p.b64}`;
}

export async function sweep(list: Target[], rounds: number): Promise<{ rows: SweepRow[]; cliffs: Cliff[] }> {
  const payload = new Map<number, { hex: string; b64: string }>();
  for (const size of SWEEP_SIZES) {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i++) b[i] = (i * 7 + 3) & 0xff;
    payload.set(size, { hex: b.toString('hex'), b64: b.toString('base64') });
  }
  const sessions = [];
  for (const t of list) {
    const l = await launch(t, [], '512');
    sessions.push({ t, l, c: new LineClient(l.qtest) });
  }
  const rows: SweepRow[] = [];
  try {
    for (const size of SWEEP_SIZES) {
      const k = Math.max(1, Math.min(16, Math.round((1 << 20) / size)));
      for (const op of SWEEP_OPS) {
        const line = request(op, size, payload);
        const times: Record<string, number[]> = {};
        // Past 1 MiB one round without a warm-up request: QEMU's `write` grows faster than
        // linearly (16 MiB takes it over a minute) and the figure is about the per-byte slope.
        const big = size > 1 << 20;
        for (let r = 0; r < (big ? 1 : rounds); r++) {
          for (const s of sessions) {
            if (s.t.name === 'qemu' && op.endsWith('write') && size > QEMU_WRITE_MAX) continue;
            if (!big) await s.c.request(line); // touch the pages / warm the path once
            const t0 = process.hrtime.bigint();
            for (let i = 0; i < k; i++) {
              const reply = await s.c.request(line);
              if (!reply.startsWith('OK'))
                throw new Error(`${s.t.name}: ${op} 0x${size.toString(16)}: ${reply.slice(0, 80)}`);
            }
            (times[s.t.name] ??= []).push(Number(process.hrtime.bigint() - t0) / 1e6 / k);
          }
        }
        rows.push({ op, size, ms: Object.fromEntries(Object.entries(times).map(([n, v]) => [n, median(v)])) });
      }
    }
  } finally {
    for (const s of sessions) await s.l.stop();
  }
  const cliffs: Cliff[] = [];
  for (const t of list) {
    for (const op of SWEEP_OPS) {
      const r = rows.filter((x) => x.op === op);
      for (let i = 1; i < r.length; i++) {
        const rise = r[i].ms[t.name] / r[i].size / (r[i - 1].ms[t.name] / r[i - 1].size);
        if (Number.isFinite(rise) && rise > 1.3)
          cliffs.push({ target: t.name, op, from: r[i - 1].size, to: r[i].size, rise });
      }
    }
  }
  return { rows, cliffs };
}

export function kib(size: number): string {
  return size >= 1 << 20 ? `${size >> 20} MiB` : `${size >> 10} KiB`;
}

/** The sweep as a text table: ms per request and ns/byte per target, and qtestd/QEMU. */
export function sweepTable(rows: SweepRow[], names: string[]): string {
  const head = ['op', 'size', ...names.map((n) => `${n} ms`), ...names.map((n) => `${n} ns/B`)];
  if (names.includes('qemu')) head.push(...names.filter((n) => n !== 'qemu').map((n) => `${n}/qemu`));
  const lines = [head.join(' | ')];
  for (const r of rows) {
    const cells = [r.op, kib(r.size)];
    const cell = (v: number | undefined, f: (x: number) => string): string => (v === undefined ? '–' : f(v));
    for (const n of names) cells.push(cell(r.ms[n], (v) => v.toFixed(3)));
    for (const n of names) cells.push(cell(r.ms[n], (v) => ((v * 1e6) / r.size).toFixed(2)));
    if (names.includes('qemu'))
      for (const n of names.filter((x) => x !== 'qemu'))
        cells.push(cell(r.ms.qemu, (q) => `${(r.ms[n] / q).toFixed(2)}×`));
    lines.push(cells.join(' | '));
  }
  return lines.join('\n');
}
