import t from 'tap';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dialDirect, directReader } from '../../src/transport/direct-socket.js';
import { bindSocket } from '../../src/transport/socket-link.js';
import { readScript } from '../helpers/read-script.js';
import { makeSession, RecordingLink } from '../helpers/session.js';

// The dialled sockets of src/transport/direct-socket.ts read through node's `onread` into one
// reused Buffer (chunks are borrowed). Over real UNIX sockets: every byte arrives in order, and a
// qtest session over a dialled socket answers pipelined bulk requests exactly whether its peer
// reads at once or stalls (reading paused and resumed). In-process: a qtest endpoint
// fed borrowed chunks (one Buffer overwritten after every call, lines split anywhere, output
// refused for a while) answers as one fed owned chunks.

const dir = mkdtempSync(join(tmpdir(), 'qtestd-direct-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** A listening UNIX server; resolves with its path and the first accepted connection. */
async function listen(t: { teardown(fn: () => void): void }): Promise<{ path: string; accepted: Promise<Socket> }> {
  const path = join(dir, `s${Math.random().toString(36).slice(2)}.sock`);
  let server!: Server;
  const accepted = new Promise<Socket>((res) => {
    server = createServer((sock) => res(sock));
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => server.close());
  return { path, accepted };
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 11)) & 0xff;
  return b;
}

t.test('dialled: every byte in order (chunks copied by the sink: they are borrowed), end arrives', async (t) => {
  const { path, accepted } = await listen(t);
  const sock = dialDirect({ path });
  t.teardown(() => sock.destroy());
  const reader = directReader(sock)!;
  t.ok(reader, 'a dialled socket has a direct reader');
  const chunks: Buffer[] = [];
  reader.sink = (c) => chunks.push(Buffer.from(c));
  const ended = new Promise<void>((r) => sock.once('end', () => r()));
  const peer = await accepted;
  // Many small writes and some large ones (more than one slab), with turns between them.
  const sent: Buffer[] = [];
  for (let k = 0; k < 60; k++) {
    const piece = pattern(k % 7 === 0 ? 300 * 1024 + k : 1 + k * 17, k);
    sent.push(piece);
    peer.write(piece);
    if (k % 5 === 0) await new Promise((r) => setImmediate(r));
  }
  peer.end();
  await ended;
  const all = Buffer.concat(sent);
  t.ok(chunks.length > 1, 'read in several chunks');
  t.ok(Buffer.concat(chunks).equals(all), 'every byte in order');
});

const BASE = 0x40100000;
const SIZE = 200 * 1024;
const data = pattern(SIZE, 5);

/** Requests (read / b64read / readl of different places) and the reply each must get. */
const script = (): Array<[string, string]> => readScript(data, BASE, [1, 4, 4095, 64 * 1024, 150 * 1024]);

for (const slow of [false, true]) {
  t.test(`qtest over a dialled socket: pipelined replies exact, peer ${slow ? 'stalls' : 'keeps up'}`, async (t) => {
    const { path, accepted } = await listen(t);
    const s = makeSession();
    const sock = dialDirect({ path });
    t.teardown(() => sock.destroy());
    sock.once('connect', () => bindSocket(sock, (link) => s.attachQtest(link), { encoding: 'latin1' }));
    const c = await accepted;
    c.setEncoding('latin1');
    const lines: string[] = [];
    let rest = '';
    let want = 1;
    let wake = (): void => {};
    c.on('data', (d: string) => {
      const parts = (rest + d).split('\n');
      rest = parts.pop()!;
      lines.push(...parts);
      if (lines.length >= want) wake();
    });
    const until = (n: number): Promise<void> =>
      new Promise((r) => {
        want = n;
        wake = r;
        if (lines.length >= n) r();
      });
    // the request line of the fill arrives in many chunks (a long line over the direct reader)
    c.write(`b64write 0x${BASE.toString(16)} 0x${SIZE.toString(16)} ${data.toString('base64')}\n`);
    await until(1);
    t.equal(lines[0], 'OK');
    const sc = script();
    if (slow) c.pause();
    // requests split at odd places: lines span chunks
    const text = sc.map(([req]) => req + '\n').join('');
    for (let i = 0; i < text.length; i += 13) c.write(text.slice(i, i + 13));
    if (slow) {
      await new Promise((r) => setTimeout(r, 300));
      c.resume();
    }
    await until(1 + sc.length);
    let bad = 0;
    for (let i = 0; i < sc.length; i++) if (lines[1 + i] !== sc[i][1]) bad++;
    t.equal(bad, 0, 'every reply as expected');
  });
}

t.test('a qtest endpoint fed borrowed chunks answers as one fed owned chunks', async (t) => {
  const lines: string[] = [`b64write 0x40000000 0x3000 ${pattern(0x3000, 9).toString('base64')}`];
  for (let k = 0; k < 40; k++) {
    lines.push(
      `readl 0x${(0x40000000 + 4 * k).toString(16)}`,
      `read 0x${(0x40000000 + 64 * k).toString(16)} 0x${(k * 97 + 1).toString(16)}`,
    );
    if (k % 9 === 0)
      lines.push('', `writeq 0x${(0x40000100 + 8 * k).toString(16)} 0x${(k * 0x1234567).toString(16)}`, 'bogus  x');
  }
  const text = Buffer.from(lines.join('\n') + '\npartial-at-the-end', 'latin1');
  const run = (borrowed: boolean, step: number, refuse: boolean): string => {
    const link = new RecordingLink();
    let refused = 0;
    // refuse output for a while now and then: input is held (queued) meanwhile
    if (refuse) link.accept = () => ++refused % 7 !== 0;
    const ep = makeSession().attachQtest(link);
    t.ok(ep.acceptsBorrowed, 'the qtest endpoint accepts borrowed chunks');
    const memory = Buffer.alloc(step);
    for (let i = 0; i < text.length; i += step) {
      const n = Math.min(step, text.length - i);
      if (borrowed) {
        text.copy(memory, 0, i, i + n);
        ep.input(memory.subarray(0, n), true);
        memory.fill(0x21); // the transport reads into it again
      } else ep.input(Buffer.from(text.subarray(i, i + n)));
      if (refuse && i % (step * 3) === 0) ep.drained();
    }
    for (let k = 0; k < 50; k++) ep.drained();
    return link.out;
  };
  for (const step of [1, 5, 13, 64, 4096]) {
    for (const refuse of [false, true]) {
      const want = run(false, step, refuse);
      t.ok(want.split('\n').length > 80, 'many replies');
      t.equal(run(true, step, refuse), want, `chunks of ${step}${refuse ? ', output refused at times' : ''}`);
    }
  }
});
