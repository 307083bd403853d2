/**
 * The service's HTTP routing (src/service/http.ts, find-my-way): known paths under GET and HEAD,
 * 405 with Allow for a known path under another method, 404 with its hint for an unknown path,
 * query strings and trailing slashes, origin-form targets only, the Host check before the answer
 * on known and unknown paths alike, and the same for WebSocket upgrades. A real HTTP server on a
 * loopback port with a stand-in backend (no workers), driven by raw requests.
 */
import t from 'tap';
import { connect } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { silentLogger } from '../../src/base/log.js';
import { HttpFrontEnd } from '../../src/service/http.js';

t.setTimeout(5 * 60_000);

const upgrades: Array<{ kind: string; url: string | undefined }> = [];
let notReady: string | undefined;
const front = new HttpFrontEnd({
  log: silentLogger(),
  web: { allowedHosts: [], allowedOrigins: [] },
  refuse: () => notReady,
  metrics: () => Promise.resolve('# metrics\n'),
  sessions: () => Promise.resolve([{ id: 's1' }]),
  upgrade(req: IncomingMessage, socket: Socket, _head: Buffer, kind: 'qtest' | 'qmp') {
    upgrades.push({ kind, url: req.url });
    socket.end('HTTP/1.1 418 Stand-in\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  },
});
await new Promise<void>((res) => front.server.listen(0, '127.0.0.1', res));
t.teardown(() => front.server.close());
const port = (front.server.address() as { port: number }).port;

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Send one raw request (`connection: close`) and parse the whole reply. */
function raw(method: string, target: string, headers: Record<string, string> = { host: '127.0.0.1' }): Promise<Reply> {
  return new Promise((res, rej) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (text += d));
    s.on('error', rej);
    s.on('end', () => {
      const [head, ...rest] = text.split('\r\n\r\n');
      const [statusLine, ...lines] = head.split('\r\n');
      const hs: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        hs[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      let body = rest.join('\r\n\r\n');
      if (hs['transfer-encoding'] === 'chunked') body = unchunk(body);
      res({ status: Number(statusLine.split(' ')[1]), headers: hs, body });
    });
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
    s.end(`${method} ${target} HTTP/1.1\r\n${extra.join('')}connection: close\r\n\r\n`);
  });
}

function unchunk(body: string): string {
  let out = '';
  for (let rest = body; ;) {
    const eol = rest.indexOf('\r\n');
    const n = parseInt(rest.slice(0, eol), 16);
    if (!n) return out;
    out += rest.slice(eol + 2, eol + 2 + n);
    rest = rest.slice(eol + 2 + n + 2);
  }
}

const upgradeHeaders = {
  host: '127.0.0.1',
  upgrade: 'websocket',
  connection: 'Upgrade',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-version': '13',
};

/** Send an upgrade request and read the reply up to the server's close. */
function upgrade(method: string, target: string, headers: Record<string, string> = upgradeHeaders): Promise<string> {
  return new Promise((res, rej) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (text += d));
    s.on('error', rej);
    s.on('end', () => res(text));
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
    s.write(`${method} ${target} HTTP/1.1\r\n${extra.join('')}\r\n`);
  });
}

const NOT_FOUND = 'not found: try /healthz, /readyz, /metrics, /sessions, ws /qtest, ws /qmp?session=ID\n';

t.test('known paths under GET', async (t) => {
  t.match(await raw('GET', '/healthz'), { status: 200, body: 'ok\n', headers: { 'content-type': 'text/plain' } });
  t.match(await raw('GET', '/readyz'), { status: 200, body: 'ready\n' });
  notReady = 'draining';
  t.match(await raw('GET', '/readyz'), { status: 503, body: 'not ready: draining\n' });
  notReady = undefined;
  t.match(await raw('GET', '/metrics'), {
    status: 200,
    body: '# metrics\n',
    headers: { 'content-type': 'text/plain; version=0.0.4' },
  });
  t.match(await raw('GET', '/sessions'), {
    status: 200,
    body: '[{"id":"s1"}]\n',
    headers: { 'content-type': 'application/json' },
  });
  const page = await raw('GET', '/');
  t.equal(page.status, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.body, /<title>qtestd inspector<\/title>/);
  t.equal((await raw('GET', '/inspector')).body, page.body, '/inspector is the same page');
  const layout = await raw('GET', '/inspector/layout.json');
  t.match(JSON.parse(layout.body), { registers: Object });
});

t.test('HEAD: the same status and headers, no body', async (t) => {
  const h = await raw('HEAD', '/healthz');
  t.equal(h.status, 200);
  t.equal(h.body, '');
  const page = await raw('HEAD', '/inspector/layout.json');
  t.equal(page.status, 200);
  t.equal(page.body, '');
  t.equal(page.headers['content-type'], 'application/json');
  t.ok(Number(page.headers['content-length']) > 0, 'content-length of the body it would send');
});

t.test('query strings and trailing slashes reach the same route', async (t) => {
  t.match(await raw('GET', '/healthz?probe=1&x'), { status: 200, body: 'ok\n' });
  t.match(await raw('GET', '/healthz/'), { status: 200, body: 'ok\n' });
  t.match(await raw('GET', '/healthz/?a=b'), { status: 200, body: 'ok\n' });
  t.match(await raw('GET', '/sessions/'), { status: 200, body: '[{"id":"s1"}]\n' });
  t.match(await raw('GET', '/inspector/'), { status: 200 });
  t.match(await raw('GET', '/%68ealthz'), { status: 200, body: 'ok\n' }, 'a percent-encoded path is decoded');
});

t.test('unknown paths: 404 with the hint', async (t) => {
  for (const target of [
    '/nope',
    '/healthzz',
    '/healthz/x',
    '/qtest',
    '/qmp?session=a',
    '//healthz',
    '/%zz',
    '/HEALTHZ',
  ])
    t.match(await raw('GET', target), { status: 404, body: NOT_FOUND }, target);
  // not origin-form: named by no route
  t.match(await raw('OPTIONS', '*'), { status: 404, body: NOT_FOUND }, 'OPTIONS *');
});

t.test('a known path under another method: 405 with Allow', async (t) => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const r = await raw(method, '/healthz');
    t.match(r, { status: 405, body: 'method not allowed\n', headers: { allow: 'GET, HEAD' } }, method);
  }
  t.match(await raw('POST', '/inspector/page.js'), { status: 405, headers: { allow: 'GET, HEAD' } });
  t.match(await raw('POST', '/metrics/?x=1'), { status: 405 }, 'with a trailing slash and a query');
  t.match(await raw('POST', '/nope'), { status: 404, body: NOT_FOUND }, 'an unknown path stays 404 under any method');
});

t.test('the Host check runs first, on known and unknown paths', async (t) => {
  const evil = { host: 'evil.example' };
  t.match(await raw('GET', '/sessions', evil), { status: 403, body: /^forbidden: / });
  t.match(await raw('GET', '/sessions/', evil), { status: 403 }, 'with a trailing slash too');
  t.match(await raw('GET', '/nope', evil), { status: 403 });
  t.match(await raw('POST', '/sessions', evil), { status: 403 }, 'before the 405');
  t.match(await raw('GET', '/healthz', evil), { status: 200 }, 'probes are exempt');
  t.match(await raw('GET', '/healthz/?x', evil), { status: 200 }, 'also with a trailing slash and a query');
  t.match(await raw('GET', '/metrics', evil), { status: 200 });
});

t.test('upgrades: /qtest and /qmp with their query, 404 and 405 otherwise', async (t) => {
  upgrades.length = 0;
  t.match(await upgrade('GET', '/qtest?id=a'), /^HTTP\/1\.1 418 /);
  t.match(await upgrade('GET', '/qmp?session=a&token=b'), /^HTTP\/1\.1 418 /);
  t.match(await upgrade('GET', '/qtest/'), /^HTTP\/1\.1 418 /);
  t.same(upgrades, [
    { kind: 'qtest', url: '/qtest?id=a' },
    { kind: 'qmp', url: '/qmp?session=a&token=b' },
    { kind: 'qtest', url: '/qtest/' },
  ]);
  t.match(
    await upgrade('GET', '/healthz'),
    /^HTTP\/1\.1 404 Not Found\r\n[^]*\r\n\r\nuse \/qtest or \/qmp\?session=ID\n$/,
  );
  t.match(await upgrade('GET', '/nope'), /^HTTP\/1\.1 404 /);
  t.match(
    await upgrade('POST', '/qtest'),
    /^HTTP\/1\.1 405 Method Not Allowed\r\nallow: GET\r\n[^]*\r\n\r\nmethod not allowed\n$/,
  );
  t.match(await upgrade('GET', '/qtest', { ...upgradeHeaders, host: 'evil.example' }), /^HTTP\/1\.1 403 /);
  t.match(await upgrade('GET', '/nope', { ...upgradeHeaders, origin: 'https://evil.example' }), /^HTTP\/1\.1 403 /);
  t.equal(upgrades.length, 3, 'no refused upgrade reached the backend');
});
