/** A QMP peer (qtestd or the oracle) for differential tests: start with argv, call, compare. */
import type { Socket } from 'node:net';
import { binaryFor } from '../../helpers/launch.js';
import { startServerSockets, type ServerSockets } from '../../helpers/processes.js';

class Lines {
  private buf = '';
  private waiters: Array<(l: string) => void> = [];
  private queue: string[] = [];
  constructor(sock: Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i + 1);
        this.buf = this.buf.slice(i + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.queue.push(line);
      }
    });
  }
  next(): Promise<string> {
    const l = this.queue.shift();
    return l !== undefined ? Promise.resolve(l) : new Promise((r) => this.waiters.push(r));
  }
}

export interface QmpPeer {
  readonly s: ServerSockets;
  readonly lines: Lines;
  readonly greeting: string;
}

/** Launch with `args`; `negotiate` sends qmp_capabilities (with `oob` when asked). */
export async function startPeer(
  target: 'qtestd' | 'oracle',
  args: readonly string[],
  negotiate: false | 'plain' | 'oob' = 'plain',
): Promise<QmpPeer> {
  const s = await startServerSockets({ binary: binaryFor(target), args, name: target });
  const lines = new Lines(s.qmp!);
  const greeting = await lines.next();
  const p = { s, lines, greeting };
  if (negotiate === 'plain') await call(p, '{"execute": "qmp_capabilities"}');
  if (negotiate === 'oob') await call(p, '{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}');
  return p;
}

/** Timestamps, socket paths and pids normalised away. */
export function normalise(text: string): string {
  return text
    .replace(/"seconds": \d+, "microseconds": \d+/g, 'TIME')
    .replace(/\/tmp\/qtestd-launch-\w+/g, 'TMP')
    .replace(/"thread-id": \d{3,}/g, '"thread-id": PID');
}

/** Send one request; the events before its reply and the reply, normalised. */
export async function call(p: QmpPeer, req: string): Promise<string> {
  p.s.qmp!.write(req + '\n');
  let out = '';
  for (;;) {
    const l = await p.lines.next();
    out += l;
    if (l.startsWith('{"return"') || l.startsWith('{"error"')) break;
  }
  return normalise(out);
}

/** Send raw text; then read `n` lines (normalised). */
export async function sendAndRead(p: QmpPeer, text: string, n: number): Promise<string[]> {
  p.s.qmp!.write(text);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(normalise(await p.lines.next()));
  return out;
}
