/**
 * Browser-facing safety of a real qtestd: Host and Origin checks (DNS rebinding, cross-site
 * WebSockets), QMP tokens (knowing a session id is not enough to reach its QMP), the bound on QMP
 * attaches per session, and `--listen-all` (no non-loopback listening without it).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { WebSocket } from 'ws';
import { QmpClient } from '../../src/client/qmp-client.js';
import { QtestClient } from '../../src/client/qtest-client.js';
import { LineClient, QTESTD_SERVICE_BINARY, startQtestd } from './fixtures/harness.js';

t.setTimeout(5 * 60_000);

const q = await startQtestd({ args: ['--allow-host', 'qtestd.example', '--allow-origin', 'https://ui.example'] });
t.teardown(() => q.dispose());

function get(path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = httpRequest({ host: '127.0.0.1', port: q.httpPort, path, headers, agent: false }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (body += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, body }));
    });
    req.on('error', rej);
    req.end();
  });
}

/** Open a WebSocket; resolves with the client, or rejects with `HTTP <status> <body>`. */
function ws(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ c: LineClient; raw: WebSocket; token?: string }> {
  const raw = new WebSocket(`ws://127.0.0.1:${q.httpPort}${path}`, { headers });
  let token: string | undefined;
  raw.once('upgrade', (r) => (token = r.headers['x-qtestd-qmp-token'] as string | undefined));
  return new Promise((res, rej) => {
    raw.once('unexpected-response', (_req, resp) => {
      let body = '';
      resp.setEncoding('utf8');
      resp.on('data', (d: string) => (body += d));
      resp.on('end', () => rej(new Error(`HTTP ${resp.statusCode} ${body.trim()}`)));
    });
    LineClient.websocket(raw).then((c) => res({ c, raw, token }), rej);
  });
}

t.test('Host: DNS rebinding cannot read /sessions; probes with the pod IP still work', async (t) => {
  const a = await q.tcp();
  t.equal(await a.request('#!qtestd id=secret-session'), 'OK');
  const evil = await get('/sessions', { host: 'evil.example:3738' });
  t.equal(evil.status, 403, 'Host: evil.example gets 403');
  t.match(evil.body, /^forbidden: Host 'evil\.example:3738' is not allowed/, 'with the reason');
  t.notMatch(evil.body, /secret-session/, 'and no session list');
  for (const host of ['127.0.0.1:3738', 'localhost', 'LOCALHOST.:1', 'app.localhost', '[::1]:3738', 'qtestd.example'])
    t.equal((await get('/sessions', { host })).status, 200, `Host: ${host} is allowed`);
  t.equal((await get('/sessions', { host: '10.1.2.3:3738' })).status, 403, 'a non-loopback IP is not');
  t.equal((await get('/sessions', { host: 'a b' })).status, 403, 'a malformed Host is not');
  for (const path of ['/healthz', '/readyz', '/metrics'])
    t.equal((await get(path, { host: '10.1.2.3:3738' })).status, 200, `${path} is exempt from the Host check`);
  t.equal((await get('/nope', { host: 'evil.example' })).status, 403, 'unknown paths are checked too');
  a.destroy();
});

t.test('Origin: cross-site pages are refused, loopback and configured origins are not', async (t) => {
  await t.rejects(
    ws('/qtest?id=o1', { origin: 'https://evil.example' }),
    /^HTTP 403 forbidden: Origin 'https:\/\/evil\.example' is not allowed/,
    'a cross-site WebSocket gets 403',
  );
  await t.rejects(ws('/qtest', { origin: 'null' }), /HTTP 403/, 'Origin: null is refused');
  t.equal((await get('/sessions', { origin: 'http://evil.example' })).status, 403, 'cross-site fetch of /sessions');
  t.equal(
    (await get('/healthz', { origin: 'http://evil.example' })).status,
    403,
    'the Origin check has no exempt path',
  );
  for (const origin of ['http://localhost:5173', 'http://127.0.0.1:8080', 'https://[::1]', 'https://ui.example']) {
    const { c } = await ws('/qtest', { origin });
    t.equal(await c.request('endianness'), 'OK little', `Origin: ${origin} opens a session`);
    c.destroy();
  }
  await t.rejects(ws('/qtest', { host: 'evil.example' }), /HTTP 403/, 'the Host check applies to WebSockets too');
});

t.test('QMP tokens: knowing the id is not enough', async (t) => {
  // WebSocket creator: the token comes in the handshake
  const { c, token } = await ws('/qtest?id=job1');
  t.match(token, /^[A-Za-z0-9_-]{22}$/, 'the creator is told a fresh token in the handshake');
  t.equal(await c.request('endianness'), 'OK little');
  await t.rejects(ws('/qmp?session=job1'), /^HTTP 403 QMP of session 'job1' needs its token/, 'no token: 403');
  await t.rejects(ws('/qmp?session=job1&token=AAAAAAAAAAAAAAAAAAAAAA'), /HTTP 403/, 'a wrong token: 403');
  const right = await ws(`/qmp?session=job1&token=${token!}`);
  t.match(JSON.parse((await right.c.next())!), { QMP: Object }, 'the right token: the QMP greeting');
  right.c.destroy();

  // TCP creator: it chooses the token on its #!qtestd line (the reply stays `OK`)
  const tcp = await q.tcp();
  t.equal(await tcp.request('#!qtestd id=job2 qmp-token=0123456789abcdef-chosen'), 'OK');
  await t.rejects(ws('/qmp?session=job2'), /HTTP 403/);
  const chosen = await ws('/qmp?session=job2&token=0123456789abcdef-chosen');
  t.match(JSON.parse((await chosen.c.next())!), { QMP: Object }, 'the chosen token opens QMP');
  chosen.c.destroy();
  const short = await q.tcp();
  t.equal(
    await short.request('#!qtestd qmp-token=short'),
    'FAIL qmp-token must be 16 to 128 characters of A-Z a-z 0-9 _ -',
    'a weak token is refused',
  );
  short.destroy();

  // a TCP session that chose none: only its QMP UNIX socket (the file system guards it)
  const none = await q.tcp();
  t.equal(await none.request('#!qtestd id=job3'), 'OK');
  await t.rejects(ws('/qmp?session=job3'), /HTTP 403/);
  const sock = await q.qmpSocket('job3');
  t.match(JSON.parse((await sock.next())!), { QMP: Object }, 'the UNIX socket needs no token');
  sock.destroy();

  // ids are reused: the next session with the same id has a token of its own
  tcp.destroy();
  await tcp.closed;
  let again: LineClient | undefined;
  for (let k = 0; k < 1000 && !again; k++) {
    const c2 = await q.tcp();
    if ((await c2.request('#!qtestd id=job2 qmp-token=another-token-0123456789')) === 'OK') again = c2;
    else c2.destroy();
  }
  t.ok(again, 'id job2 is free again');
  await t.rejects(
    ws('/qmp?session=job2&token=0123456789abcdef-chosen'),
    /HTTP 403/,
    'the old token does not open the new session',
  );
  again!.destroy();
  c.destroy();
  none.destroy();
});

t.test('the typed client carries the token', async (t) => {
  const qt = await QtestClient.connectWebSocket(`ws://127.0.0.1:${q.httpPort}/qtest?id=typed-ws`);
  t.ok(qt.qmpToken, 'told in the handshake');
  const qmp = await QmpClient.connectWebSocket(`ws://127.0.0.1:${q.httpPort}/qmp?session=typed-ws`, {
    token: qt.qmpToken,
  });
  await qmp.negotiate();
  t.match(await qmp.execute('query-status'), { status: 'running' });
  qmp.close();
  qt.close();
  const tcp = await QtestClient.connectTcp('127.0.0.1', q.tcpPort, { session: 'id=typed-tcp' });
  t.ok(tcp.qmpToken, 'chosen by the client on its #!qtestd line');
  const qmp2 = await QmpClient.connectWebSocket(`ws://127.0.0.1:${q.httpPort}/qmp?session=typed-tcp`, {
    token: tcp.qmpToken,
  });
  await qmp2.negotiate();
  t.equal(await tcp.readl(0x40000000n), 0n);
  qmp2.close();
  tcp.close();
});

t.test('QMP attaches per session are bounded', async (t) => {
  const { c, token } = await ws('/qtest?id=many');
  const open: LineClient[] = [];
  let refused: Error | undefined;
  for (let k = 0; k < 20 && !refused; k++) {
    try {
      const a = await ws(`/qmp?session=many&token=${token!}`);
      await a.c.next(); // the greeting: the attach is counted
      open.push(a.c);
    } catch (e) {
      refused = e as Error;
    }
  }
  t.match(refused?.message, /^HTTP 429 session 'many' has \d+ QMP connections already$/, 'refused past the bound');
  t.ok(open.length >= 1 && open.length < 20, `after ${open.length} attaches`);
  t.equal(await c.request('endianness'), 'OK little', 'the session lives on');
  for (const a of open) a.destroy();
  c.destroy();
});

t.test('non-loopback listening needs --listen-all', async (t) => {
  const run = (args: string[]): Promise<{ code: number | null; stderr: string }> =>
    new Promise((res) => {
      const p = spawn(QTESTD_SERVICE_BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      p.on('exit', (code) => res({ code, stderr }));
    });
  const r = await run(['--tcp', '0.0.0.0:0', '--http', 'off', '--unix', 'off', '--run-dir', `${q.dir}/r2`]);
  t.equal(r.code, 1, 'refused at start');
  t.match(r.stderr, /^qtestd: --tcp 0\.0\.0\.0 is not a loopback address: .*pass --listen-all/m, 'saying why');
  const h = await run(['--tcp', 'off', '--http', '[::]:0', '--unix', 'off', '--run-dir', `${q.dir}/r3`]);
  t.match(h.stderr, /--http :: is not a loopback address/, 'the HTTP side too');
  const all = await startQtestd({ args: ['--tcp', '0.0.0.0:0', '--listen-all'] });
  const c = await all.tcp();
  t.equal(await c.request('endianness'), 'OK little', 'with --listen-all it serves');
  c.destroy();
  await all.dispose();
});
