/**
 * The two things a benchmark compares: qtestd (the drop-in launcher) and the real QEMU oracle,
 * started the way libqtest starts them (the benchmark listens; the target dials in).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface Target {
  name: 'qtestd' | 'qtestd-warm' | 'qemu';
  binary: string;
}

export function targets(): Target[] {
  const list: Target[] = [{ name: 'qtestd', binary: resolve('bin/qemu-system-aarch64') }];
  const shim = resolve('native/build/qemu-system-aarch64');
  if (existsSync(shim)) list.push({ name: 'qtestd-warm', binary: shim });
  const prefix = process.env.QTEST_ORACLE_PREFIX;
  if (prefix && existsSync(join(prefix, 'bin/qemu-system-aarch64'))) list.push({ name: 'qemu', binary: join(prefix, 'bin/qemu-system-aarch64') });
  return list;
}

export const MACHINE_ARGS = '-machine virt,acpi=off,gic-version=3,iommu=smmuv3 -cpu max -smp 1 -net none'.split(' ');

export interface Launched {
  child: ChildProcess;
  qtest: Socket;
  qmp: Socket;
  /** ms from spawn to the `OK little` reply to the first `endianness`. */
  firstReplyMs: number;
  stop(): Promise<number | null>;
}

/** Launch like libqtest: listen on two UNIX sockets, spawn, accept both, send `endianness`. */
export async function launch(target: Target, extra: string[] = [], mem = '512'): Promise<Launched> {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-bench-'));
  const qpath = join(dir, 'q.sock');
  const mpath = join(dir, 'q.qmp');
  const accept = (path: string) =>
    new Promise<{ socket: Promise<Socket>; close: () => void }>((res) => {
      let got!: (s: Socket) => void;
      const socket = new Promise<Socket>((r) => (got = r));
      const server = createServer((s) => {
        server.close();
        got(s);
      });
      server.listen(path, () => res({ socket, close: () => server.close() }));
    });
  const q = await accept(qpath);
  const m = await accept(mpath);
  const t0 = process.hrtime.bigint();
  const args = ['-qtest', `unix:${qpath}`, '-qtest-log', 'none', '-chardev', `socket,path=${mpath},id=char0`, '-mon', 'chardev=char0,mode=control', '-display', 'none', '-audio', 'none', ...MACHINE_ARGS, '-m', mem, ...extra, '-accel', 'qtest'];
  const child = spawn(target.binary, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const qtest = await q.socket;
  qtest.setNoDelay(true);
  const reply = new Promise<void>((res) => {
    let buf = '';
    const on = (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) {
        qtest.off('data', on);
        res();
      }
    };
    qtest.on('data', on);
  });
  qtest.write('endianness\n');
  await reply;
  const firstReplyMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const qmp = await m.socket;
  qmp.on('data', () => {});
  return {
    child,
    qtest,
    qmp,
    firstReplyMs,
    stop: async () => {
      const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      child.kill('SIGTERM');
      const code = await exited;
      qtest.destroy();
      qmp.destroy();
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

/** Resident set size of a process in KiB (Linux). */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) : NaN;
}

/** Line-oriented request/response helper that reads while it writes. */
export class LineClient {
  private buf = '';
  private waiters: Array<(line: string) => void> = [];
  private lines: string[] = [];

  constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
  }

  next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((r) => this.waiters.push(r));
  }

  async request(line: string): Promise<string> {
    this.socket.write(line + '\n');
    return this.next();
  }

  /** Send `count` copies of `line`, keeping at most `window` unanswered; resolves when all replied. */
  async pipeline(line: string, count: number, window = 256): Promise<void> {
    let sent = 0;
    let received = 0;
    const chunk = (line + '\n').repeat(64);
    while (received < count) {
      while (sent < count && sent - received < window) {
        const n = Math.min(64, count - sent);
        this.socket.write(n === 64 ? chunk : (line + '\n').repeat(n));
        sent += n;
      }
      await this.next();
      received++;
    }
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
