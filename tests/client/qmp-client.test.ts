import t from 'tap';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonStreamFramer } from '../../src/client/json-stream.js';
import { QmpClient, QmpConnectionError, QmpError } from '../../src/client/qmp-client.js';
import type { QmpEvent } from '../../src/client/qmp-types.js';

// QEMU 10.2.2 greeting shape (protocol/qmp.md §3), CRLF-terminated as QEMU sends it.
const GREETING =
  '{"QMP": {"version": {"qemu": {"micro": 2, "minor": 2, "major": 10}, "package": ""}, "capabilities": ["oob"]}}';

t.test('json framer: same values at every split point, several values per chunk', async (t) => {
  const values = [
    JSON.parse(GREETING),
    { return: {} },
    {
      event: 'RESET',
      data: { guest: false, reason: 'host-qmp-system-reset' },
      timestamp: { seconds: 1, microseconds: 2 },
    },
    { return: 'braces } { and ] [ "quoted" \\ and \u00e9\u4e2d\ud83d\ude00 inside a string' },
    { return: [1, [2, [3]], { a: { b: {} } }] },
    { error: { class: 'GenericError', desc: 'x' }, id: 7 },
  ];
  const text = values.map((v) => JSON.stringify(v)).join('\r\n') + '\r\n';
  const bytes = Buffer.from(text, 'utf8');
  let bad = 0;
  for (let i = 0; i <= bytes.length; i++) {
    const f = new JsonStreamFramer();
    const got = [...f.push(bytes.subarray(0, i)), ...f.push(bytes.subarray(i))];
    if (
      got.length !== values.length ||
      got.some((g, k) => !g.ok || JSON.stringify(g.value) !== JSON.stringify(values[k]))
    )
      bad++;
  }
  t.equal(bad, 0, `all ${bytes.length + 1} split points (including inside multi-byte UTF-8)`);
  const f = new JsonStreamFramer();
  const all = f.push(bytes);
  t.equal(all.length, values.length, 'one chunk carrying every value');
  const one = new JsonStreamFramer();
  const got = [];
  for (const b of bytes) got.push(...one.push(Uint8Array.of(b)));
  t.equal(got.length, values.length, 'byte at a time');
});

t.test('json framer: a parse error is a value and the stream resynchronises', async (t) => {
  const f = new JsonStreamFramer();
  const got = f.push('{"a": tru}\r\n{"b": 1}\r\n');
  t.equal(got.length, 2);
  t.equal(got[0].ok, false);
  t.same(got[1], { ok: true, value: { b: 1 }, text: '{"b": 1}' });
});

// ---- a fake QMP server --------------------------------------------------------------------

interface FakeOptions {
  echoIds: boolean;
}

/** Replies the way QEMU 10.2.2 does: events before the reply (RESET, SHUTDOWN), CRLF after each. */
function serveQmp(sock: Socket, opts: FakeOptions, log: unknown[]): void {
  const framer = new JsonStreamFramer();
  let negotiated = false;
  // Output is queued and written in two awkward pieces per flush: several objects share a write
  // and an object is split across writes.
  let out = '';
  let scheduled = false;
  const send = (objs: unknown[]) => {
    out += objs.map((o) => JSON.stringify(o) + '\r\n').join('');
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      const text = out;
      out = '';
      const cut = Math.floor(text.length / 2) + 1;
      sock.write(text.slice(0, cut));
      setTimeout(() => sock.write(text.slice(cut)), 1);
    });
  };
  const ts = { seconds: 1700000000, microseconds: 5 };
  // greeting in two pieces
  sock.write(GREETING.slice(0, 10));
  setTimeout(() => sock.write(GREETING.slice(10) + '\r\n'), 5);
  sock.on('data', (b) => {
    for (const f of framer.push(b)) {
      if (!f.ok) continue;
      const cmd = f.value as { execute: string; arguments?: Record<string, unknown>; id?: unknown };
      log.push(cmd);
      const idPart = opts.echoIds && cmd.id !== undefined ? { id: cmd.id } : {};
      const ret = (v: unknown, ...events: unknown[]) => send([...events, { return: v, ...idPart }]);
      if (!negotiated && cmd.execute !== 'qmp_capabilities') {
        send([
          {
            error: { class: 'CommandNotFound', desc: "Expecting capabilities negotiation with 'qmp_capabilities'" },
            ...idPart,
          },
        ]);
        continue;
      }
      switch (cmd.execute) {
        case 'qmp_capabilities':
          negotiated = true;
          ret({});
          break;
        case 'query-status':
          ret({ status: 'running', running: true });
          break;
        case 'system_reset':
          ret({}, { timestamp: ts, event: 'RESET', data: { guest: false, reason: 'host-qmp-system-reset' } });
          break;
        case 'stop':
          ret({}, { timestamp: ts, event: 'STOP' });
          break;
        case 'device_del':
          ret({});
          setTimeout(
            () =>
              send([
                {
                  timestamp: ts,
                  event: 'DEVICE_DELETED',
                  data: { device: cmd.arguments?.id, path: `/machine/peripheral/${String(cmd.arguments?.id)}` },
                },
              ]),
            20,
          );
          break;
        case 'human-monitor-command':
          ret(`ran ${String(cmd.arguments?.['command-line'])}\r\n`);
          break;
        case 'x-qtestd-echo':
          ret(cmd.arguments ?? null);
          break;
        case 'quit':
          send([
            { timestamp: ts, event: 'SHUTDOWN', data: { guest: false, reason: 'host-qmp-quit' } },
            { return: {}, ...idPart },
          ]);
          setTimeout(() => sock.destroy(), 20);
          break;
        default:
          send([
            { error: { class: 'CommandNotFound', desc: `The command ${cmd.execute} has not been found` }, ...idPart },
          ]);
      }
    }
  });
  sock.on('error', () => undefined);
}

async function startFake(t: { teardown(fn: () => unknown): void }, opts: FakeOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-qmp-'));
  const path = join(dir, 'qmp.sock');
  const log: unknown[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    serveQmp(s, opts, log);
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });
  return { path, log };
}

for (const echoIds of [true, false]) {
  t.test(`greeting, negotiation, typed commands and errors (server ${echoIds ? 'echoes' : 'drops'} ids)`, async (t) => {
    const { path, log } = await startFake(t, { echoIds });
    const c = await QmpClient.connectUnix(path);
    t.teardown(() => c.close());
    const g = await c.greeting();
    t.same(g.QMP.version.qemu, { micro: 2, minor: 2, major: 10 });
    t.same(g.QMP.capabilities, ['oob']);
    await c.negotiate();
    t.same(log[0], { execute: 'qmp_capabilities', id: 1 });
    // pipelined, typed
    const [status, hmp, echo] = await Promise.all([
      c.execute('query-status'),
      c.execute('human-monitor-command', { 'command-line': 'info mtree' }),
      c.execute('x-qtestd-echo', { a: 1 }),
    ]);
    t.equal(status.running, true);
    t.equal(status.status, 'running');
    t.equal(hmp, 'ran info mtree\r\n');
    t.same(echo, { a: 1 });
    const err = await c.execute('query-pci').catch((e: unknown) => e);
    t.ok(err instanceof QmpError);
    t.equal((err as QmpError).errorClass, 'CommandNotFound');
    t.equal((err as QmpError).desc, 'The command query-pci has not been found');
    t.same(log.slice(1, 3), [
      { execute: 'query-status', id: 2 },
      { execute: 'human-monitor-command', arguments: { 'command-line': 'info mtree' }, id: 3 },
    ]);
  });
}

t.test('events: emitted, iterated, and waitEvent sees events that came before the reply', async (t) => {
  const { path } = await startFake(t, { echoIds: true });
  const c = await QmpClient.connectUnix(path);
  await c.negotiate();
  const seen: string[] = [];
  c.on('event', (e) => seen.push(e.event));
  const iter = c.events();
  await c.execute('system_reset');
  const reset = await c.waitEvent('RESET', 1000);
  t.same(reset.data, { guest: false, reason: 'host-qmp-system-reset' });
  await c.execute('device_del', { id: 'dev0' });
  const del = await c.waitEvent('DEVICE_DELETED', 1000, (d) => d?.device === 'dev0');
  t.equal(del.data?.path, '/machine/peripheral/dev0');
  await c.execute('stop');
  await t.rejects(c.waitEvent('RESUME', 50), QmpConnectionError, 'times out');
  t.same(
    c.drainEvents().map((e) => e.event),
    ['STOP'],
  );
  const fromIter: QmpEvent[] = [];
  for await (const e of iter) {
    fromIter.push(e);
    if (fromIter.length === 3) break;
  }
  t.same(
    fromIter.map((e) => e.event),
    ['RESET', 'DEVICE_DELETED', 'STOP'],
  );
  t.same(seen, ['RESET', 'DEVICE_DELETED', 'STOP']);
  // quit: SHUTDOWN before the reply, then the server hangs up
  const tail = c.events();
  await c.execute('quit');
  t.equal((await c.waitEvent('SHUTDOWN', 1000)).data?.reason, 'host-qmp-quit');
  const rest: string[] = [];
  for await (const e of tail) rest.push(e.event);
  t.same(rest, ['SHUTDOWN'], 'iterator ends when the connection closes');
  t.ok(c.closed);
  await t.rejects(c.execute('query-status'), QmpConnectionError);
});

t.test('connection loss rejects pending commands, waiters and the greeting', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-qmp-'));
  const path = join(dir, 'qmp.sock');
  const server = createServer((s) => {
    s.write(GREETING + '\r\n');
    s.on('data', () => setTimeout(() => s.destroy(), 10));
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });
  const c = await QmpClient.connectUnix(path);
  await c.greeting();
  const waiting = c.waitEvent('NEVER', 10_000);
  const cmd = c.execute('query-status');
  await t.rejects(cmd, QmpConnectionError);
  await t.rejects(waiting, QmpConnectionError);

  const silent = createServer((s) => setTimeout(() => s.destroy(), 10));
  const path2 = join(dir, 'silent.sock');
  await new Promise<void>((r) => silent.listen(path2, r));
  t.teardown(() => new Promise<void>((r) => silent.close(() => r())));
  const c2 = await QmpClient.connectUnix(path2);
  await t.rejects(c2.negotiate(), QmpConnectionError);
});

t.test('QMP over WebSocket (one JSON object per message) and over TCP', async (t) => {
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  t.teardown(() => new Promise<void>((r) => wss.close(() => r())));
  const got: string[] = [];
  wss.on('connection', (ws) => {
    ws.send(GREETING);
    ws.on('message', (d) => {
      const text = d.toString();
      got.push(text);
      const cmd = JSON.parse(text) as { execute: string; id: number };
      if (cmd.execute === 'system_reset')
        ws.send('{"event": "RESET", "data": {"guest": false, "reason": "host-qmp-system-reset"}}');
      ws.send(JSON.stringify({ return: {}, id: cmd.id }));
    });
  });
  const port = (wss.address() as { port: number }).port;
  const c = await QmpClient.connectWebSocket(`ws://127.0.0.1:${port}/qmp`);
  t.teardown(() => c.close());
  await c.negotiate(['oob']);
  await c.execute('system_reset');
  t.equal((await c.waitEvent('RESET', 1000)).data?.reason, 'host-qmp-system-reset');
  t.same(got, [
    '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":1}',
    '{"execute":"system_reset","id":2}',
  ]);

  const tcp = createServer((s) => serveQmp(s, { echoIds: true }, []));
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => tcp.close(() => r())));
  const c2 = await QmpClient.connectTcp('127.0.0.1', (tcp.address() as { port: number }).port);
  await c2.negotiate();
  t.equal((await c2.execute('query-status')).status, 'running');
  c2.close();
});
