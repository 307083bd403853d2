/**
 * Launch qtestd (bin/qemu-system-aarch64) or the real QEMU oracle with the same argv, as real
 * processes on real UNIX sockets:
 *
 *   BIN -qtest unix:<tmp>/qtest.sock,server=on,wait=off -qtest-log none
 *       -qmp unix:<tmp>/qmp.sock,server=on,wait=off -display none <args...> -accel qtest
 *
 * and hand back a qtest line client (pipelining-safe: replies are read continuously while requests
 * are written; IRQ lines are kept in order with the replies), a tiny QMP client, and a teardown
 * that SIGTERMs the process and reports its exit status (QEMU exits 0 on SIGTERM).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { oracleBinary } from './oracle.js';

/** The repository root (this file compiles to <repo>/dist/tests/helpers/launch.js). */
export const REPO_ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const QTESTD_BINARY: string = join(REPO_ROOT, 'bin', 'qemu-system-aarch64');

export type TargetName = 'qtestd' | 'oracle';

export function binaryFor(target: TargetName): string {
  if (target === 'qtestd') return QTESTD_BINARY;
  if (!oracleBinary) throw new Error('oracle requested but QTEST_ORACLE_PREFIX is not usable');
  return oracleBinary;
}

/** The machine every differential session uses (plus -device options). */
export const BASE_ARGS: readonly string[] = [
  '-machine', 'virt,acpi=off,gic-version=3,iommu=smmuv3',
  '-cpu', 'max', '-smp', '1', '-m', '512', '-net', 'none',
];

export interface LaunchOptions {
  target: TargetName;
  /** machine arguments, e.g. [...BASE_ARGS, '-device', 'edu'] */
  args: readonly string[];
  /** connect to QMP and negotiate capabilities (default true) */
  qmp?: boolean;
  /** ms to wait for the sockets (default 20000) */
  startTimeoutMs?: number;
}

export class LaunchError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
  ) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolve with `p`, or with null after `ms` (the timer does not keep the process alive). */
function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<null>((r) => {
    timer = setTimeout(() => r(null), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** A line-oriented client for the qtest socket. */
export class QtestClient {
  /** every line received (without its LF), in arrival order, including IRQ lines */
  readonly lines: string[] = [];
  private partial = '';
  private waiters: Array<() => void> = [];
  private readPos = 0;
  ended = false;
  error: Error | null = null;

  constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      if (parts.length) {
        this.lines.push(...parts);
        this.wake();
      }
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', (e) => {
      this.error = e;
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Write raw bytes (latin1). Node buffers what the kernel does not take; replies keep flowing. */
  sendRaw(data: string): void {
    if (!this.socket.destroyed) this.socket.write(data, 'latin1');
  }

  /** Send one request line (a LF is appended). */
  send(line: string): void {
    this.sendRaw(line + '\n');
  }

  /** Number of unread lines. */
  get available(): number {
    return this.lines.length - this.readPos;
  }

  /** Wait until at least `n` unread lines are buffered, EOF, or timeout. Returns true if they are there. */
  async waitLines(n: number, timeoutMs = 20000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.available < n) {
      if (this.ended) return false;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((res) => {
        const timer = setTimeout(res, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          res();
        });
      });
    }
    return true;
  }

  /** Read the next line (IRQ lines included). Throws on EOF/timeout. */
  async readLine(timeoutMs = 20000): Promise<string> {
    if (!(await this.waitLines(1, timeoutMs))) {
      throw new Error(this.ended ? `qtest socket closed (${this.error?.message ?? 'EOF'})` : `no reply within ${timeoutMs} ms`);
    }
    return this.lines[this.readPos++]!;
  }

  /** Send one request and return [IRQ lines..., reply]. */
  async request(line: string, timeoutMs = 20000): Promise<string[]> {
    this.send(line);
    const out: string[] = [];
    for (;;) {
      const l = await this.readLine(timeoutMs);
      out.push(l);
      if (!l.startsWith('IRQ ')) return out;
    }
  }

  /**
   * Pipelined batch: write all `requests` (each gets a LF; the empty string is a blank line, which
   * gets no reply) while reading, then collect replies. Returns, per request, the lines received
   * for it (IRQ lines first, the reply last). `done` is false when the stream ended or timed out
   * early; the partial result is still returned.
   */
  async batch(requests: readonly string[], timeoutMs = 30000): Promise<{ replies: string[][]; done: boolean }> {
    const expected = requests.filter((r) => r !== '').length;
    // write in slices so one huge string is not built
    const SLICE = 256;
    for (let i = 0; i < requests.length; i += SLICE) {
      this.sendRaw(requests.slice(i, i + SLICE).map((r) => r + '\n').join(''));
    }
    const replies: string[][] = requests.map(() => []);
    let ri = 0;
    const skipBlank = () => {
      while (ri < requests.length && requests[ri] === '') ri++;
    };
    skipBlank();
    let got = 0;
    const deadline = Date.now() + timeoutMs;
    while (got < expected) {
      const left = deadline - Date.now();
      let line: string;
      try {
        line = await this.readLine(Math.max(1, left));
      } catch {
        return { replies, done: false };
      }
      if (ri >= requests.length) {
        // an unexpected extra line: attach it to the last request so it shows in diffs
        replies[requests.length - 1]!.push(line);
        continue;
      }
      replies[ri]!.push(line);
      if (!line.startsWith('IRQ ')) {
        got++;
        ri++;
        skipBlank();
      }
    }
    return { replies, done: true };
  }
}

/** Minimal QMP client: JSON objects, one per line (QEMU ends each with CRLF). */
export class QmpClient {
  private buf = '';
  private queue: unknown[] = [];
  private waiters: Array<() => void> = [];
  readonly events: unknown[] = [];
  ended = false;

  constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (!line) continue;
        try {
          this.queue.push(JSON.parse(line));
        } catch {
          this.queue.push({ unparsable: line });
        }
      }
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Next message that is not an event (events are kept in `events`). */
  async receive(timeoutMs = 20000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.queue.length) {
        const m = this.queue.shift() as Record<string, unknown>;
        if (m && typeof m === 'object' && typeof m.event === 'string') this.events.push(m);
        else return m;
      }
      if (this.ended) throw new Error('QMP socket closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no QMP message within ${timeoutMs} ms`);
      await new Promise<void>((res) => {
        const timer = setTimeout(res, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          res();
        });
      });
    }
  }

  async execute(command: string, args?: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.socket.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    return this.receive();
  }
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** true when the process did not exit within the grace period and was SIGKILLed */
  killed: boolean;
}

export interface Instance {
  target: TargetName;
  argv: string[];
  proc: ChildProcess;
  qtest: QtestClient;
  qmp: QmpClient | null;
  stderr(): string;
  /** exit status once the process has exited by itself (null while running) */
  exited(): ExitStatus | null;
  /** SIGTERM, wait (up to graceMs, then SIGKILL), clean up. Resolves with the exit status. */
  teardown(graceMs?: number): Promise<ExitStatus>;
}

async function connectWithRetry(path: string, until: number, isDead: () => boolean): Promise<Socket> {
  let lastErr: Error | null = null;
  while (Date.now() < until) {
    if (isDead()) throw lastErr ?? new Error('process exited');
    try {
      return await new Promise<Socket>((res, rej) => {
        const s = connect(path);
        s.once('connect', () => {
          s.removeAllListeners('error');
          res(s);
        });
        s.once('error', (e) => {
          s.destroy();
          rej(e);
        });
      });
    } catch (e) {
      lastErr = e as Error;
      await sleep(10);
    }
  }
  throw lastErr ?? new Error(`timed out connecting to ${path}`);
}

/** Spawn a target and connect to its qtest (and QMP) sockets. */
export async function launch(opts: LaunchOptions): Promise<Instance> {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-launch-'));
  const qtestPath = join(dir, 'qtest.sock');
  const qmpPath = join(dir, 'qmp.sock');
  const argv = [
    '-qtest', `unix:${qtestPath},server=on,wait=off`, '-qtest-log', 'none',
    '-qmp', `unix:${qmpPath},server=on,wait=off`,
    '-display', 'none',
    ...opts.args,
    '-accel', 'qtest',
  ];
  const bin = binaryFor(opts.target);
  const proc = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => {
    if (stderr.length < 1 << 20) stderr += d;
  });
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => {
    // QEMU is silent on stdout under qtest; keep anything printed for diagnostics
    if (stderr.length < 1 << 20) stderr += `[stdout] ${d}`;
  });
  let status: ExitStatus | null = null;
  const exitP = new Promise<ExitStatus>((res) => {
    proc.on('exit', (code, signal) => {
      status = { code, signal, killed: false };
      res(status);
    });
    proc.on('error', (e) => {
      stderr += `spawn error: ${e.message}\n`;
      status = { code: null, signal: null, killed: false };
      res(status);
    });
  });
  const cleanupDir = () => rmSync(dir, { recursive: true, force: true });

  const until = Date.now() + (opts.startTimeoutMs ?? 20000);
  let qsock: Socket;
  let msock: Socket | null = null;
  try {
    qsock = await connectWithRetry(qtestPath, until, () => status !== null);
    if (opts.qmp !== false) msock = await connectWithRetry(qmpPath, until, () => status !== null);
  } catch (e) {
    // give a dying process a moment so its stderr/exit status are complete
    await within(exitP, 2000);
    if (!status) proc.kill('SIGKILL');
    const st = await exitP;
    cleanupDir();
    throw new LaunchError(
      `${opts.target} (${bin}) did not come up: ${(e as Error).message}; exit ${st.code ?? st.signal}; stderr: ${stderr.trim()}`,
      stderr,
      st.code,
      st.signal,
    );
  }
  const qtest = new QtestClient(qsock);
  let qmp: QmpClient | null = null;
  if (msock) {
    qmp = new QmpClient(msock);
    try {
      await qmp.receive(); // greeting
      const r = await qmp.execute('qmp_capabilities');
      if (!('return' in r)) throw new Error(`qmp_capabilities: ${JSON.stringify(r)}`);
    } catch (e) {
      proc.kill('SIGKILL');
      await exitP;
      cleanupDir();
      throw new LaunchError(`${opts.target}: QMP handshake failed: ${(e as Error).message}; stderr: ${stderr.trim()}`, stderr, null, null);
    }
  }

  let torn: Promise<ExitStatus> | null = null;
  const teardown = (graceMs = 10000): Promise<ExitStatus> => {
    if (torn) return torn;
    torn = (async () => {
      if (!status) proc.kill('SIGTERM');
      let st = await within(exitP, graceMs);
      if (!st) {
        proc.kill('SIGKILL');
        st = { ...(await exitP), killed: true };
      }
      qsock.destroy();
      msock?.destroy();
      cleanupDir();
      return st;
    })();
    return torn;
  };

  return {
    target: opts.target,
    argv: [bin, ...argv],
    proc,
    qtest,
    qmp,
    stderr: () => stderr,
    exited: () => status,
    teardown,
  };
}

/** Format an exit status for messages. */
export function describeExit(st: ExitStatus): string {
  if (st.killed) return `did not exit within the grace period (SIGKILLed; ${st.code ?? st.signal})`;
  return st.signal ? `killed by ${st.signal}` : `exit code ${st.code}`;
}

/** The device-missing message qtestd (and QEMU) print for an unknown -device. */
export const NOT_A_DEVICE = /not a valid device model name/;
