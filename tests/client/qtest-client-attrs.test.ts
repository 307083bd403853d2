import t from 'tap';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { QtestClient, QtestError } from '../../src/client/qtest-client.js';
import { bindSocket } from '../../src/transport/socket-link.js';
import { bindWebSocket } from '../../src/service/websocket-link.js';
import { makeSession } from '../helpers/session.js';

// A real session behind a UNIX socket and a WebSocket: the attribute forms of the client, and
// bulk replies large enough to leave the server in many pieces (fragments on the WebSocket).

const dir = mkdtempSync(join(tmpdir(), 'qtestd-attrs-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function unixClient(t: { teardown(fn: () => void): void }): Promise<QtestClient> {
  const session = makeSession();
  const path = join(dir, `q${Math.random().toString(36).slice(2)}.sock`);
  const server = createServer((s) => bindSocket(s, (link) => session.attachQtest(link), { encoding: 'latin1' }));
  await new Promise<void>((r) => server.listen(path, r));
  const c = await QtestClient.connectUnix(path);
  t.teardown(() => {
    c.close();
    server.close();
  });
  return c;
}

t.test('attribute forms over a socket', async (t) => {
  const c = await unixClient(t);
  await c.writel(0x40000000n, 0x11223344n, 'space=non-secure');
  t.equal(await c.readl(0x40000000n, 'space=realm'), 0x11223344n);
  t.equal(await c.readl(0x40000000n), 0x11223344n);
  await c.write(0x40000100n, new Uint8Array([1, 2, 3]), 'space=non-secure');
  t.same([...(await c.read(0x40000100n, 3, 'space=non-secure'))], [1, 2, 3]);
  await c.b64write(0x40000200n, new Uint8Array([9, 8]), 'space=non-secure');
  t.same([...(await c.b64read(0x40000200n, 2, 'space=non-secure'))], [9, 8]);
  await c.memset(0x40000300n, 4, 0x7e, 'space=non-secure');
  t.equal(await c.readl(0x40000300n), 0x7e7e7e7en);
  // No Secure view without -machine secure=on.
  t.equal((await c.readl(0x0e000000n, 'secure').catch((e: QtestError) => e)) instanceof QtestError, true);
  const err = await c.readq(0x0e000000n, 'space=secure').catch((e: QtestError) => e);
  t.equal((err as QtestError).line, 'ERR address space unavailable for attrs');
  t.equal((err as QtestError).request, 'readq 0xe000000 space=secure');
  await t.rejects(c.readl(0n, 'bogus' as 'secure'), RangeError);
  t.equal(await c.readl(0x40000000n), 0x11223344n, 'the session goes on');
});

t.test('large replies leave in pieces and arrive whole (socket)', async (t) => {
  const c = await unixClient(t);
  const data = new Uint8Array(3 * 1024 * 1024 + 7);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
  await c.write(0x40100000n, data);
  t.same(Buffer.from(await c.read(0x40100000n, data.length)), Buffer.from(data), 'hex');
  await c.b64write(0x41100000n, data);
  t.same(Buffer.from(await c.b64read(0x41100000n, data.length)), Buffer.from(data), 'base64');
  // Pipelined small requests after large ones keep their order.
  const r = await Promise.all([c.readb(0x40100000n), c.read(0x40100001n, 2), c.readb(0x40100003n)]);
  t.same([r[0], [...r[1]], r[2]], [BigInt(data[0]), [data[1], data[2]], BigInt(data[3])]);
});

t.test('large replies over a WebSocket are one message each', async (t) => {
  const session = makeSession();
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('connection', (ws) => bindWebSocket(ws, (link) => session.attachQtest(link), 'qtest'));
  await new Promise<void>((r) => wss.once('listening', r));
  const port = (wss.address() as AddressInfo).port;
  const c = await QtestClient.connectWebSocket(`ws://127.0.0.1:${port}/`);
  t.teardown(() => {
    c.close();
    wss.close();
  });
  const data = new Uint8Array(300 * 1024 + 1);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  await c.b64write(0x40100000n, data);
  t.same(Buffer.from(await c.read(0x40100000n, data.length)), Buffer.from(data));
  t.same(Buffer.from(await c.b64read(0x40100000n, data.length)), Buffer.from(data));
  t.equal(await c.readb(0x40100005n), BigInt(data[5]));
});
