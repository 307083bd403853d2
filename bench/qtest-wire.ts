/**
 * The qtest wire path: bulk transfers and the request loop, qtestd next to QEMU (when
 * QTEST_ORACLE_PREFIX is set) and next to a bare Node echo server (the floor a Node server cannot
 * go below), all in the same run, interleaved, medians:
 *   - 64 KiB hex `read` throughput (what qtest_memread uses), MB/s, and qtestd/QEMU;
 *   - the transfer-size sweep 4 KiB … 16 MiB for read/b64read/write/b64write: ns per byte, and
 *     the largest rise between adjacent sizes (a cliff is > 1.3×);
 *   - serial `readl` round trip, µs, vs QEMU and vs the echo floor.
 * Each also as the server's own CPU time per request/byte (meaningful on a loaded machine).
 * The client reads replies as Buffers (no strings), so it is not what is measured.
 * `node dist/bench/qtest-wire.js` runs it alone; bench/run.ts calls qtestWireBenchmarks() too.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuUs, disposeTargets, launch, median, targets } from './targets.js';
import type { Launched, Target } from './targets.js';

const ROUNDS = Number(process.env.BENCH_WIRE_ROUNDS ?? 3);
/**
 * 64 KiB hex reads before the timed ones. A fresh qtestd reaches its steady cost per read only
 * after about 2,000 of them: V8 optimises the functions the read path calls once per request
 * (not the encoding loops, which are hot at once) only after that many calls, and until then
 * runs them unoptimised and compiles them on the server's own CPU (~2× the steady cost per
 * read; QEMU has no such phase). The throughput figure is the steady state, as `readl`'s RTT is
 * after its 5,000 warm-up requests; the first 300 reads of a fresh process are reported apart
 * (`wire.hexRead64KiBFirst300_*`).
 */
const HEX_WARMUP = Number(process.env.BENCH_WIRE_HEX_WARMUP ?? 3000);
const SIZES = [4, 16, 64, 256, 1024, 4096, 16384].map((k) => k * 1024);

/** Sends request Buffers and waits for whole reply lines, counting bytes without keeping them. */
export class ByteClient {
  private waiting: ((bytes: number) => void) | undefined;
  private seen = 0;
  private queued = 0;

  constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      let from = 0;
      for (;;) {
        const nl = d.indexOf(0x0a, from);
        if (nl < 0) break;
        const bytes = this.seen + nl - from + 1;
        this.seen = 0;
        from = nl + 1;
        const w = this.waiting;
        this.waiting = undefined;
        if (w) w(bytes);
        else this.queued++;
      }
      this.seen += d.length - from;
    });
  }

  /** Send `req` (ending in LF) and resolve with the reply's length. */
  request(req: Buffer): Promise<number> {
    this.socket.write(req);
    if (this.queued > 0) {
      this.queued--;
      return Promise.resolve(0);
    }
    return new Promise((r) => (this.waiting = r));
  }
}

/** A bare Node echo server: one fixed readl-shaped reply per received line. */
const ECHO_SCRIPT = `
const net = require('node:net');
const reply = Buffer.from('OK 0x0000000000000000\\n');
net.createServer((s) => {
  s.setNoDelay(true);
  s.on('data', (d) => { let i = -1; while ((i = d.indexOf(10, i + 1)) >= 0) s.write(reply); });
}).listen(process.argv[1], () => process.stdout.write('ready\\n'));
`;

async function startEcho(dir: string): Promise<{ socket: Socket; child: ChildProcess }> {
  const path = join(dir, 'echo.sock');
  const child = spawn(process.execPath, ['-e', ECHO_SCRIPT, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => child.stdout!.once('data', () => r()));
  const socket = await new Promise<Socket>((res, rej) => {
    const s = connect({ path }, () => res(s));
    s.once('error', rej);
  });
  return { socket, child };
}

const hrMs = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

/** Milliseconds per request, `n` serial requests. */
async function timeSerial(c: ByteClient, req: Buffer, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await c.request(req);
  return hrMs(t0) / n;
}

function bulkRequests(size: number): Record<string, Buffer> {
  const data = Buffer.alloc(size, 0x5a);
  const a = '0x40100000';
  return {
    read: Buffer.from(`read ${a} 0x${size.toString(16)}\n`),
    b64read: Buffer.from(`b64read ${a} 0x${size.toString(16)}\n`),
    write: Buffer.concat([
      Buffer.from(`write ${a} 0x${size.toString(16)} 0x`),
      Buffer.from(data.toString('hex')),
      Buffer.from('\n'),
    ]),
    b64write: Buffer.concat([
      Buffer.from(`b64write ${a} 0x${size.toString(16)} `),
      Buffer.from(data.toString('base64')),
      Buffer.from('\n'),
    ]),
  };
}

/** Repetitions so one measurement moves about BENCH_WIRE_SWEEP_MIB (4) MiB (at least 1). */
const SWEEP_BYTES = Number(process.env.BENCH_WIRE_SWEEP_MIB ?? 4) << 20;
const repsFor = (size: number): number => Math.max(1, Math.floor(SWEEP_BYTES / size));
/**
 * QEMU's `write`/`b64write` cost grows faster than linearly past a few MiB (minutes for 16 MiB on
 * a busy machine): its points above this size are left out of the wire sweep (bench/sweep.ts
 * times them up to 4 MiB).
 */
const QEMU_WRITE_MAX = 1 << 20;

export async function qtestWireBenchmarks(list: Target[] = targets()): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const servers = list.filter((t) => t.name !== 'qtestd-warm');
  const launched: Array<{ t: Target; l: Launched; c: ByteClient; pid: number }> = [];
  for (const t of servers) {
    const l = await launch(t, [], '1G');
    l.qtest.removeAllListeners('data');
    launched.push({ t, l, c: new ByteClient(l.qtest), pid: l.child.pid! });
  }
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-wire-'));
  const echo = await startEcho(dir);
  const echoClient = new ByteClient(echo.socket);
  try {
    const readl = Buffer.from('readl 0x40001000\n');
    const hex64 = Buffer.from('read 0x40100000 0x10000\n');
    // The first 300 64 KiB reads of a fresh process (the data written first, as a test would).
    const fill64 = bulkRequests(65536).write;
    for (const { t, c, pid } of launched) {
      await c.request(fill64);
      const c0 = cpuUs(pid);
      out[`wire.hexRead64KiBFirst300_MBps.${t.name}`] = 65536 / 1e6 / ((await timeSerial(c, hex64, 300)) / 1e3);
      out[`wire.hexRead64KiBFirst300_serverCpuUs.${t.name}`] = (cpuUs(pid) - c0) / 300;
    }
    // Warm-up (JIT, page tables of guest RAM) on every server.
    for (const { c } of launched) {
      await timeSerial(c, readl, 5000);
      for (const reqs of SIZES.map(bulkRequests)) for (const r of Object.values(reqs)) await c.request(r);
      await timeSerial(c, hex64, HEX_WARMUP);
    }
    await timeSerial(echoClient, readl, 5000);

    const samples: Record<string, number[]> = {};
    const add = (k: string, v: number) => (samples[k] ??= []).push(v);
    for (let round = 0; round < ROUNDS; round++) {
      // Wall-clock figures, and the server's own CPU per request (robust on a loaded machine).
      for (const { t, c, pid } of launched) {
        let c0 = cpuUs(pid);
        add(`wire.hexRead64KiB_MBps.${t.name}`, 65536 / 1e6 / ((await timeSerial(c, hex64, 300)) / 1e3));
        add(`wire.hexRead64KiB_serverCpuUs.${t.name}`, (cpuUs(pid) - c0) / 300);
        c0 = cpuUs(pid);
        add(`wire.serialReadlUs.${t.name}`, (await timeSerial(c, readl, 3000)) * 1e3);
        add(`wire.serialReadl_serverCpuUs.${t.name}`, (cpuUs(pid) - c0) / 3000);
      }
      const e0 = cpuUs(echo.child.pid!);
      add('wire.serialReadlUs.echo', (await timeSerial(echoClient, readl, 3000)) * 1e3);
      add('wire.serialReadl_serverCpuUs.echo', (cpuUs(echo.child.pid!) - e0) / 3000);
    }
    for (const [k, v] of Object.entries(samples)) out[k] = median(v);

    // The sweep: fewer rounds (3), interleaved per size.
    for (const size of SIZES) {
      const reqs = bulkRequests(size);
      for (const cmd of Object.keys(reqs)) {
        for (const { t, c, pid } of launched) {
          if (t.name === 'qemu' && cmd.endsWith('write') && size > QEMU_WRITE_MAX) continue;
          const per: number[] = [];
          const cpu: number[] = [];
          for (let r = 0; r < 3; r++) {
            const c0 = cpuUs(pid);
            const reps = repsFor(size);
            per.push(((await timeSerial(c, reqs[cmd], reps)) * 1e6) / size);
            cpu.push(((cpuUs(pid) - c0) * 1e3) / reps / size);
          }
          out[`wire.sweep.${cmd}.${size >> 10}KiB_nsPerByte.${t.name}`] = median(per);
          out[`wire.sweep.${cmd}.${size >> 10}KiB_serverCpuNsPerByte.${t.name}`] = median(cpu);
        }
      }
    }
    for (const { t } of launched) {
      for (const cmd of ['read', 'b64read', 'write', 'b64write']) {
        for (const fig of ['nsPerByte', 'serverCpuNsPerByte']) {
          let worst = 0;
          for (let i = 1; i < SIZES.length; i++) {
            const a = out[`wire.sweep.${cmd}.${SIZES[i - 1] >> 10}KiB_${fig}.${t.name}`];
            const b = out[`wire.sweep.${cmd}.${SIZES[i] >> 10}KiB_${fig}.${t.name}`];
            if (a !== undefined && b !== undefined) worst = Math.max(worst, b / a);
          }
          out[`wire.sweep.${cmd}.worstAdjacentRise_${fig}.${t.name}`] = worst;
        }
      }
    }
    if (out['wire.hexRead64KiB_MBps.qemu'] !== undefined) {
      out['wire.hexRead64KiB.qtestd/qemu'] = out['wire.hexRead64KiB_MBps.qtestd'] / out['wire.hexRead64KiB_MBps.qemu'];
      out['wire.hexRead64KiBFirst300.qtestd/qemu'] =
        out['wire.hexRead64KiBFirst300_MBps.qtestd'] / out['wire.hexRead64KiBFirst300_MBps.qemu'];
      out['wire.serialReadl.qtestd/qemu'] = out['wire.serialReadlUs.qtestd'] / out['wire.serialReadlUs.qemu'];
      out['wire.hexRead64KiB_serverCpu.qtestd/qemu'] =
        out['wire.hexRead64KiB_serverCpuUs.qtestd'] / out['wire.hexRead64KiB_serverCpuUs.qemu'];
    }
    out['wire.serialReadl.qtestd/echo'] = out['wire.serialReadlUs.qtestd'] / out['wire.serialReadlUs.echo'];
    out['wire.serialReadl_serverCpu.qtestd/echo'] =
      out['wire.serialReadl_serverCpuUs.qtestd'] / out['wire.serialReadl_serverCpuUs.echo'];
  } finally {
    echo.socket.destroy();
    echo.child.kill('SIGTERM');
    for (const { l } of launched) await l.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

if (process.argv[1]?.endsWith('qtest-wire.js')) {
  qtestWireBenchmarks()
    .then((r) => {
      for (const [k, v] of Object.entries(r)) process.stderr.write(`${k} | ${v.toFixed(3)}\n`);
      disposeTargets();
    })
    .catch((e) => {
      disposeTargets();
      process.stderr.write(`bench failed: ${(e as Error).stack}\n`);
      process.exit(1);
    });
}
