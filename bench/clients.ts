/**
 * Serial-RTT clients outside node, so node's own client costs are not what is measured:
 *   - C (bench/clients/rtt.c, compiled here with cc): the floor-revealing client, as libqtest is C;
 *   - Python (bench/clients/qtest_client.py): one sendall + one readline per command, the way
 *     QEMU's python/qemu/machine/qtest.py (QEMUQtestProtocol) talks.
 * Both get the accepted qtest socket of a launch as their fd 3; the benchmark's own socket object
 * is paused meanwhile (it only holds the descriptor).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { findCc, REPO_ROOT } from '../tests/helpers/qtestd-fixture.js';

export interface Clients {
  /** mean µs per serial `command` over n requests, or undefined without that client */
  c?: (qtest: Socket, n: number, command: string) => Promise<number>;
  python?: (qtest: Socket, n: number, command: string) => Promise<number>;
  /** bench/clients/echo.c compiled: a launch's process floor (fork/exec, dial, reply) */
  echo?: string;
  /** bench/clients/launch.c compiled: launches as libqtest does, times it (bench/launch.ts) */
  launch?: string;
  /** the compiled C client's directory, removed by dispose() */
  dispose(): void;
  notes: string[];
}

function fd3(cmd: string, args: string[], qtest: Socket): Promise<number> {
  qtest.pause();
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit', qtest] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('error', rej);
    child.once('exit', (code) => {
      const v = Number(out.trim());
      if (code === 0 && Number.isFinite(v)) res(v);
      else rej(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${out}`));
    });
  });
}

export function makeClients(): Clients {
  const notes: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-bench-clients-'));
  const clients: Clients = { notes, dispose: () => rmSync(dir, { recursive: true, force: true }) };
  const cc = findCc();
  if (cc) {
    const exe = join(dir, 'rtt');
    const r = spawnSync(cc, ['-O2', '-Wall', '-o', exe, join(REPO_ROOT, 'bench', 'clients', 'rtt.c')], {
      encoding: 'utf8',
    });
    if (r.status === 0) clients.c = (q, n, command) => fd3(exe, [String(n), command], q);
    else notes.push(`C client not built: ${r.stderr}`);
    const echo = join(dir, 'echo');
    const e = spawnSync(cc, ['-O2', '-Wall', '-o', echo, join(REPO_ROOT, 'bench', 'clients', 'echo.c')], {
      encoding: 'utf8',
    });
    if (e.status === 0) clients.echo = echo;
    else notes.push(`C echo not built: ${e.stderr}`);
    const harness = join(dir, 'launch');
    const h = spawnSync(cc, ['-O2', '-Wall', '-o', harness, join(REPO_ROOT, 'bench', 'clients', 'launch.c')], {
      encoding: 'utf8',
    });
    if (h.status === 0) clients.launch = harness;
    else notes.push(`C launch harness not built (launch figures from the node harness): ${h.stderr}`);
  } else notes.push('no C compiler: no C client figures');
  const py = spawnSync('python3', ['--version'], { encoding: 'utf8' });
  if (py.status === 0) {
    const script = join(REPO_ROOT, 'bench', 'clients', 'qtest_client.py');
    clients.python = (q, n, command) => fd3('python3', [script, String(n), command], q);
  } else notes.push('no python3: no Python client figures');
  return clients;
}
