/**
 * Launch qtestd (bin/qemu-system-aarch64) or the real QEMU oracle with the same argv, as real
 * processes on real UNIX sockets (processes.ts, startServerSockets):
 *
 *   BIN -qtest unix:<tmp>/qtest.sock,server=on,wait=off -qtest-log none
 *       -qmp unix:<tmp>/qmp.sock,server=on,wait=off -display none <args...> -accel qtest
 *
 * and hand back the raw qtest line client the differential tests compare byte for byte
 * (pipelining-safe: replies are read continuously while requests are written; IRQ lines are kept
 * in order with the replies), a negotiated src/client QmpClient, and a teardown that SIGTERMs the
 * process and reports its exit status (QEMU exits 0 on SIGTERM). For typed qtest access use
 * launchClient() of qtestd-fixture.ts.
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { QmpClient } from '../../src/client/qmp-client.js';
import { socketTransport } from '../../src/client/transport.js';
import { oracleBinary } from './oracle.js';
import { QTESTD_BINARY } from './paths.js';
import { LaunchError, startServerSockets } from './processes.js';
import type { ExitStatus } from './processes.js';

export { QTESTD_BINARY, REPO_ROOT } from './paths.js';
export { describeExit, LaunchError } from './processes.js';
export type { ExitStatus } from './processes.js';

export type TargetName = 'qtestd' | 'oracle';

export function binaryFor(target: TargetName): string {
  if (target === 'qtestd') return QTESTD_BINARY;
  if (!oracleBinary) throw new Error('oracle requested but QTEST_ORACLE_PREFIX is not usable');
  return oracleBinary;
}

/** The machine every differential session uses (plus -device options). */
export const BASE_ARGS: readonly string[] = [
  '-machine',
  'virt,acpi=off,gic-version=3,iommu=smmuv3',
  '-cpu',
  'max',
  '-smp',
  '1',
  '-m',
  '512',
  '-net',
  'none',
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

/** A raw line client for the qtest socket: every line as received, IRQ lines in order with the replies. */
export class QtestLines {
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
  async waitLines(n: number, timeoutMs = 120000): Promise<boolean> {
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
  async readLine(timeoutMs = 120000): Promise<string> {
    if (!(await this.waitLines(1, timeoutMs))) {
      throw new Error(
        this.ended ? `qtest socket closed (${this.error?.message ?? 'EOF'})` : `no reply within ${timeoutMs} ms`,
      );
    }
    return this.lines[this.readPos++]!;
  }

  /** Send one request and return [IRQ lines..., reply]. */
  async request(line: string, timeoutMs = 120000): Promise<string[]> {
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
  async batch(requests: readonly string[], timeoutMs = 180000): Promise<{ replies: string[][]; done: boolean }> {
    const expected = requests.filter((r) => r !== '').length;
    // write in slices so one huge string is not built
    const SLICE = 256;
    for (let i = 0; i < requests.length; i += SLICE) {
      this.sendRaw(
        requests
          .slice(i, i + SLICE)
          .map((r) => r + '\n')
          .join(''),
      );
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
        return { replies, done: false }; // EOF or timeout: the caller reports the partial result
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

export interface Instance {
  target: TargetName;
  argv: string[];
  proc: ChildProcess;
  qtest: QtestLines;
  qmp: QmpClient | null;
  stderr(): string;
  /** exit status once the process has exited by itself (null while running) */
  exited(): ExitStatus | null;
  /** SIGTERM, wait (up to graceMs, then SIGKILL), clean up. Resolves with the exit status. */
  teardown(graceMs?: number): Promise<ExitStatus>;
}

/** Spawn a target and connect to its qtest (and QMP) sockets. */
export async function launch(opts: LaunchOptions): Promise<Instance> {
  const bin = binaryFor(opts.target);
  const s = await startServerSockets({
    binary: bin,
    args: opts.args,
    connectQmp: opts.qmp !== false,
    startTimeoutMs: opts.startTimeoutMs,
    name: opts.target,
  });
  const qtest = new QtestLines(s.qtest);
  let qmp: QmpClient | null = null;
  if (s.qmp) {
    qmp = new QmpClient(socketTransport(s.qmp));
    try {
      await within20s(qmp.negotiate());
    } catch (e) {
      s.child.proc.kill('SIGKILL');
      await s.teardown();
      const stderr = s.child.stderr();
      throw new LaunchError(
        `${opts.target}: QMP handshake failed: ${(e as Error).message}; stderr: ${stderr.trim()}`,
        stderr,
        null,
        null,
      );
    }
  }
  return {
    target: opts.target,
    argv: s.argv,
    proc: s.child.proc,
    qtest,
    qmp,
    stderr: () => s.child.stderr(),
    exited: () => s.child.exited(),
    teardown: (graceMs?: number) => s.teardown(graceMs),
  };
}

/** The greeting and qmp_capabilities, or an error after 20 s (as the line client waits). */
function within20s<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error('no QMP message within 120000 ms')), 120000);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The device-missing message qtestd (and QEMU) print for an unknown -device. */
export const NOT_A_DEVICE = /not a valid device model name/;
