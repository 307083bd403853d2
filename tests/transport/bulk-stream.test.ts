import t from 'tap';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bindSocket } from '../../src/transport/socket-link.js';
import { makeSession } from '../helpers/session.js';

// A bulk read's reply is produced as the peer takes it (the launcher: no slices): over a real
// UNIX socket, a reader that stops reading while multi-MiB `read`/`b64read` replies are due makes
// the server stop producing (the bytes queued in the process stay near 1 MiB instead of
// the whole reply), and once it reads again every reply arrives exactly and in order, the
// requests pipelined behind the big ones included. A peer that leaves mid-reply leaves the
// session working.

const dir = mkdtempSync(join(tmpdir(), 'qtestd-stream-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const BASE = 0x40100000;
const SIZE = 3 << 20;
const data = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i++) data[i] = (i * 167 + (i >> 11)) & 0xff;

interface Served {
  client: Socket;
  /** The most bytes the server's socket held queued after any write. */
  maxQueued: () => number;
  connectAgain: () => Promise<Socket>;
}

async function serve(t: { teardown(fn: () => void): void }): Promise<Served> {
  const s = makeSession();
  const path = join(dir, `q${Math.random().toString(36).slice(2)}.sock`);
  let maxQueued = 0;
  const server = createServer((sock) => {
    const write = sock.write.bind(sock) as (chunk: Buffer) => boolean;
    sock.write = ((chunk: Buffer) => {
      const ok = write(chunk);
      maxQueued = Math.max(maxQueued, sock.writableLength);
      return ok;
    }) as typeof sock.write;
    bindSocket(sock, (link) => s.attachQtest(link), { encoding: 'latin1' });
  });
  await new Promise<void>((r) => server.listen(path, r));
  const dial = (): Promise<Socket> =>
    new Promise<Socket>((res, rej) => {
      const sock = connect({ path }, () => res(sock));
      sock.once('error', rej);
    });
  const client = await dial();
  t.teardown(() => {
    client.destroy();
    server.close();
  });
  // Fill guest RAM in one b64write and wait for its OK.
  client.write(`b64write 0x${BASE.toString(16)} 0x${SIZE.toString(16)} ${data.toString('base64')}\n`);
  await new Promise<void>((r) => client.once('data', () => r()));
  maxQueued = 0;
  return { client, maxQueued: () => maxQueued, connectAgain: dial };
}

/** Reply lines as Buffers (latin1 strings of multi-MiB would be slow to compare). */
function collect(c: Socket, count: number): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const lines: Buffer[] = [];
    let parts: Buffer[] = [];
    c.on('data', (d: Buffer) => {
      let from = 0;
      for (;;) {
        const nl = d.indexOf(0x0a, from);
        if (nl < 0) break;
        parts.push(d.subarray(from, nl));
        lines.push(Buffer.concat(parts));
        parts = [];
        from = nl + 1;
      }
      if (from < d.length) parts.push(d.subarray(from));
      if (lines.length >= count) resolve(lines);
    });
  });
}

/** Wait until the server made no progress for a few turns of the event loop (no timing). */
async function settle(queued: () => number): Promise<void> {
  let last = -1;
  let still = 0;
  while (still < 50) {
    await new Promise((r) => setImmediate(r));
    const now = queued();
    still = now === last ? still + 1 : 0;
    last = now;
  }
}

t.test('a paused reader holds the server to about 1 MiB; the replies then arrive exactly', async (t) => {
  const { client, maxQueued } = await serve(t);
  const a = (off: number, size: number): string => `0x${(BASE + off).toString(16)} 0x${size.toString(16)}`;
  const reqs: Array<[string, Buffer]> = [
    [`read ${a(0, SIZE)}`, Buffer.from(`OK 0x${data.toString('hex')}`)],
    [
      `readl ${`0x${(BASE + 16).toString(16)}`}`,
      Buffer.from(`OK 0x${data.readUInt32LE(16).toString(16).padStart(16, '0')}`),
    ],
    [`b64read ${a(5, SIZE - 5)}`, Buffer.from(`OK ${data.subarray(5).toString('base64')}`)],
    [`read ${a(7, 100_001)}`, Buffer.from(`OK 0x${data.subarray(7, 100_008).toString('hex')}`)],
  ];
  client.pause();
  const got = collect(client, reqs.length);
  client.write(reqs.map(([r]) => r + '\n').join(''));
  await settle(maxQueued);
  t.ok(maxQueued() <= 1.5 * 2 ** 20, `bytes queued in the server while the reader pauses: ${maxQueued()}`);
  client.resume();
  const lines = await got;
  t.equal(lines.length, reqs.length);
  for (let i = 0; i < reqs.length; i++)
    t.ok(lines[i].equals(reqs[i][1]), `reply ${i} (${reqs[i][0].split(' ')[0]}) exact`);
});

t.test('the peer leaving in the middle of a reply leaves the session working', async (t) => {
  const { client, connectAgain } = await serve(t);
  client.pause();
  client.write(`read 0x${BASE.toString(16)} 0x${SIZE.toString(16)}\nwritel 0x${BASE.toString(16)} 0x12345678\n`);
  await new Promise((r) => setImmediate(r));
  client.destroy();
  const again = await connectAgain();
  t.teardown(() => again.destroy());
  const got = collect(again, 1);
  again.write(`readl 0x${BASE.toString(16)}\n`);
  const [line] = await got;
  // QEMU runs what a closed connection sent: the writel ran
  t.equal(line.toString('latin1'), 'OK 0x0000000012345678');
});
