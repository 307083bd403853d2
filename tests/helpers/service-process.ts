/**
 * The qtestd service as a real process: `bin/qtestd` on ephemeral ports (`--tcp 127.0.0.1:0
 * --http 127.0.0.1:0 --unix <tmp> --run-dir <tmp>`), the ports learnt from the `listening` log
 * line it writes on stderr, stdout captured (it must stay empty), and clients for its sessions:
 * raw line clients (TCP, UNIX, WebSocket) and typed src/client ones.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { QtestClient } from '../../src/client/qtest-client.js';
import { connectLines, LineClient } from './line-client.js';
import { QTESTD_SERVICE_BINARY } from './paths.js';
import { sleep } from './processes.js';

/**
 * The machine sessions start from in the service tests: no SMMU and no device, so that the suite
 * does not depend on the SMMU and device models.
 */
export const TEST_MACHINE_ARGS = '-machine virt,acpi=off,gic-version=3 -cpu max -m 512 -net none';

export interface ServiceOptions {
  /** extra flags after the listening/run-dir ones */
  args?: string[];
  machineArgs?: string;
  /** ms to wait for the `listening` line (default 10000) */
  startTimeoutMs?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class QtestdProcess {
  tcpPort = 0;
  httpPort = 0;
  stdout = '';
  stderr = '';
  readonly exited: Promise<ExitInfo>;
  exitInfo?: ExitInfo;

  constructor(
    readonly proc: ChildProcess,
    readonly dir: string,
    readonly unixPath: string,
    readonly runDir: string,
  ) {
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((res) =>
      proc.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        res(this.exitInfo);
      }),
    );
  }

  /** JSON log records written on stderr so far. */
  logRecords(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const line of this.stderr.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        continue; // a line cut short at exit: not a record yet
      }
    }
    return out;
  }

  tcp(): Promise<LineClient> {
    return connectLines(this.tcpPort);
  }

  unix(): Promise<LineClient> {
    return connectLines(this.unixPath);
  }

  /** A typed qtest client (src/client) on a new TCP session. */
  qtestClient(): Promise<QtestClient> {
    return QtestClient.connectTcp('127.0.0.1', this.tcpPort);
  }

  /** WebSocket qtest session; `query` as in `?machine=…&device=…&id=…`. */
  ws(query = ''): Promise<LineClient> {
    return LineClient.websocket(new WebSocket(`ws://127.0.0.1:${this.httpPort}/qtest${query ? `?${query}` : ''}`));
  }

  /** QMP of `session` over WebSocket; `token` is its QMP token (src/service/qmp-token.ts). */
  wsQmp(session: string, token?: string): Promise<LineClient> {
    const t = token === undefined ? '' : `&token=${encodeURIComponent(token)}`;
    return LineClient.websocket(
      new WebSocket(`ws://127.0.0.1:${this.httpPort}/qmp?session=${encodeURIComponent(session)}${t}`),
    );
  }

  qmpSocket(session: string): Promise<LineClient> {
    return connectLines(join(this.runDir, `${session}.qmp`));
  }

  http(path: string): Promise<{ status: number; type: string; body: string }> {
    return httpGet(this.httpPort, path);
  }

  /** Send a signal and wait for the exit (ms measured from the signal). */
  async signal(sig: NodeJS.Signals = 'SIGTERM'): Promise<ExitInfo & { ms: number }> {
    const t0 = performance.now();
    if (!this.exitInfo) this.proc.kill(sig);
    const info = await this.exited;
    return { ...info, ms: performance.now() - t0 };
  }

  /** Stop (if still running) and remove the temporary directory. */
  async dispose(): Promise<void> {
    if (!this.exitInfo) {
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function startQtestd(opts: ServiceOptions = {}): Promise<QtestdProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-svc-'));
  const unixPath = join(dir, 'qtest.sock');
  const runDir = join(dir, 'run');
  const args = [
    '--tcp',
    '127.0.0.1:0',
    '--http',
    '127.0.0.1:0',
    '--unix',
    unixPath,
    '--run-dir',
    runDir,
    '--machine-args',
    opts.machineArgs ?? TEST_MACHINE_ARGS,
    ...(opts.args ?? []),
  ];
  const proc = spawn(QTESTD_SERVICE_BINARY, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, QTESTD_LOG_LEVEL: 'info' },
  });
  const q = new QtestdProcess(proc, dir, unixPath, runDir);
  const deadline = Date.now() + (opts.startTimeoutMs ?? 120000);
  for (;;) {
    const rec = q.logRecords().find((r) => r.event === 'listening');
    if (rec) {
      q.tcpPort = Number(rec.tcpPort ?? 0);
      q.httpPort = Number(rec.httpPort ?? 0);
      return q;
    }
    if (q.exitInfo || Date.now() > deadline) {
      await q.dispose();
      throw new Error(`qtestd did not start (exit ${JSON.stringify(q.exitInfo)}):\n${q.stderr}`);
    }
    await sleep(20);
  }
}

export function httpGet(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((res, rej) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (body += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, type: String(r.headers['content-type'] ?? ''), body }));
      r.on('error', rej);
    });
    req.on('error', rej);
    req.end();
  });
}
