import t from 'tap';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bindSocket } from '../../src/transport/socket-link.js';
import { readScript } from '../helpers/read-script.js';
import { makeSession } from '../helpers/session.js';

// The qtest reply writer reuses its slab once the socket took everything handed to it, and
// takes a fresh one while the socket still holds bytes. Over a real UNIX socket: many bulk
// replies of mixed sizes, pipelined, read by a client that stops reading for a while (the socket
// backs up, writes go asynchronous) and one that reads at once: every reply arrives exactly.

const dir = mkdtempSync(join(tmpdir(), 'qtestd-reuse-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const BASE = 0x40100000;
const SIZE = 300 * 1024;
const data = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i++) data[i] = (i * 131 + (i >> 9)) & 0xff;

/** Requests (read / b64read / readl of different places) and the reply each must get. */
const script = (): Array<[string, string]> =>
  readScript(data, BASE, [1, 3, 4095, 32 * 1024 - 3, 48 * 1024, 64 * 1024, 64 * 1024 + 1, 100 * 1024, 200 * 1024]);

async function session(t: { teardown(fn: () => void): void }): Promise<Socket> {
  const s = makeSession();
  const path = join(dir, `q${Math.random().toString(36).slice(2)}.sock`);
  const server = createServer((sock) => bindSocket(sock, (link) => s.attachQtest(link), { encoding: 'latin1' }));
  await new Promise<void>((r) => server.listen(path, r));
  const c = await new Promise<Socket>((res, rej) => {
    const sock = connect({ path }, () => res(sock));
    sock.once('error', rej);
  });
  t.teardown(() => {
    c.destroy();
    server.close();
  });
  // Fill guest RAM with `data` in one b64write and wait for its OK.
  c.write(`b64write 0x${BASE.toString(16)} 0x${SIZE.toString(16)} ${data.toString('base64')}\n`);
  await new Promise<void>((r) => c.once('data', () => r()));
  return c;
}

function collect(c: Socket, count: number): Promise<string[]> {
  return new Promise((resolve) => {
    const lines: string[] = [];
    let rest = '';
    c.setEncoding('latin1');
    c.on('data', (d: string) => {
      const parts = (rest + d).split('\n');
      rest = parts.pop()!;
      lines.push(...parts);
      if (lines.length >= count) resolve(lines);
    });
  });
}

for (const slow of [false, true]) {
  t.test(`bulk replies arrive exactly, ${slow ? 'reader pauses' : 'reader keeps up'}`, async (t) => {
    const c = await session(t);
    const s = script();
    if (slow) c.pause();
    const got = collect(c, s.length);
    c.write(s.map(([req]) => req + '\n').join(''));
    if (slow) {
      await new Promise((r) => setTimeout(r, 300));
      c.resume();
    }
    const lines = await got;
    t.equal(lines.length, s.length);
    let bad = 0;
    for (let i = 0; i < s.length; i++) if (lines[i] !== s[i][1]) bad++;
    t.equal(bad, 0, 'every reply as expected');
  });
}
