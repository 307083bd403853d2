/**
 * The service's front door on a real qtestd process: the `#!qtestd` first line (exactly one OK,
 * or FAIL <reason> and the connection closes, on every transport), the default machine for a plain
 * first line, WebSocket qtest with options in the URL, per-session QMP on `<runDir>/<id>.qmp`
 * and `ws://…/qmp?session=ID`, and the HTTP endpoints (/healthz, /readyz, /metrics, /sessions).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { WebSocket } from 'ws';
import { ECAM_BASE, hex, LineClient, parsePrometheus, sleep, startQtestd } from './fixtures/harness.js';

// a safety net only (minutes): several services start at once, each with its worker processes
t.setTimeout(5 * 60_000);

const q = await startQtestd({ startTimeoutMs: 120_000 });
t.teardown(() => q.dispose());

const HOST_BRIDGE_ID = 'OK 0x0000000000081b36'; // readl of ECAM 00:00.0: vendor 1b36, device 0008

t.test('#!qtestd: exactly one OK, then every line is qtest', async (t) => {
  const c = await q.tcp();
  t.same(await c.pipeline(['#!qtestd', 'endianness', `readl ${hex(ECAM_BASE)}`]), ['OK', 'OK little', HOST_BRIDGE_ID]);
  // a second magic line is just a (bad) qtest command now, not a new session
  const r = await c.request('#!qtestd id=again');
  t.match(r, /^(FAIL|ERR)/, 'a later #!qtestd line is not a greeting');
  c.end();
  await c.closed;
});

/** qtestd_sessions_total now. */
async function sessionsTotal(): Promise<number> {
  return parsePrometheus((await q.http('/metrics')).body).samples.get('qtestd_sessions_total') ?? NaN;
}

/**
 * Send a first line and a script after it in one write; expect exactly one `FAIL …` line matching
 * `reason`, then an orderly close: what followed the refused line ran nowhere.
 */
async function refusedFirstLine(t: Test, c: LineClient, line: string, reason: RegExp): Promise<void> {
  c.write(`${line}\nwritel 0x40000000 0x1\nendianness\n`);
  const how = await c.closed;
  t.equal(c.received.length, 1, `${line}: one line, then the connection closes`);
  t.match(c.received[0], reason, `${line}: ${c.received[0]}`);
  t.equal(how.kind, 'end', `${line}: closed in order (not reset)`);
}

t.test('a refused #!qtestd line gets FAIL <reason> and the connection closes (TCP and UNIX)', async (t) => {
  const before = await sessionsTotal();
  for (const [line, reason] of [
    ['#!qtestd -qmp tcp:127.0.0.1:1', /^FAIL option '-qmp' is not allowed here/],
    ['#!qtestd -device no-such-device', /^FAIL .*no-such-device/],
    ['#!qtestd id=bad/id', /^FAIL invalid session id/],
    ['#!qtestd -m', /^FAIL /],
    ['#!qtestd -m 256 ; ls', /^FAIL unexpected ';' in the options \(quote it\)$/],
  ] as const) {
    await refusedFirstLine(t, await q.tcp(), line, reason);
    await refusedFirstLine(t, await q.unix(), line, reason);
  }
  t.equal(await sessionsTotal(), before, 'no session was made for any of them');
  const c = await q.unix();
  t.equal(await c.request('#!qtestd id=fixed -m 256'), 'OK', 'a new connection with a good line starts the session');
  t.equal(await c.request('writel 0x40000000 0x12345678'), 'OK');
  t.equal(await c.request('readl 0x40000000'), 'OK 0x0000000012345678');
  c.end();
  await c.closed;
});

t.test('the first line may arrive in pieces, byte by byte or megabytes long', async (t) => {
  const c = await q.tcp();
  const first = '#!qtestd id=pieces -m 256\nendianness\n';
  for (const ch of first) {
    c.write(ch);
    await sleep(1);
  }
  t.same([await c.next(), await c.next()], ['OK', 'OK little']);
  c.destroy();

  // 24 MiB of blanks before the end of the first line: answered (the greeter joins the pieces once)
  const d = await q.unix();
  const t0 = performance.now();
  d.write('#!qtestd id=wide');
  const blanks = ' '.repeat(64 * 1024);
  for (let k = 0; k < 384; k++) d.write(blanks);
  d.write('\n');
  t.equal(await d.next(120000), 'OK');
  const ms = performance.now() - t0;
  t.comment(`a 24 MiB first line answered in ${Math.round(ms)} ms`);
  t.equal(await d.request('endianness'), 'OK little');
  d.destroy();
});

t.test('a session id in use is refused (the script after it runs nowhere) until its connection closes', async (t) => {
  const a = await q.tcp();
  t.equal(await a.request('#!qtestd id=dup'), 'OK');
  const before = await sessionsTotal();
  await refusedFirstLine(t, await q.tcp(), '#!qtestd id=dup', /^FAIL session id 'dup' is in use$/);
  await refusedFirstLine(t, await q.unix(), '#!qtestd id=dup', /^FAIL session id 'dup' is in use$/);
  t.equal(await sessionsTotal(), before, 'no anonymous session ran the rest of the script');
  t.equal(await a.request('readl 0x40000000'), 'OK 0x0000000000000000', "the refused scripts did not touch dup's RAM");
  a.end();
  await a.closed;
  let c: LineClient | undefined;
  for (let k = 0; k < 50; k++) {
    // the id is released when the worker has seen the close: retry on a new connection
    c = await q.tcp();
    c.write('#!qtestd id=dup\n');
    const r = await c.next().catch(() => 'closed');
    if (r === 'OK') break;
    c.destroy();
    c = undefined;
    await sleep(20);
  }
  t.ok(c, 'the id is free again');
  t.same(await c!.pipeline(['readl 0x40000000']), ['OK 0x0000000000000000'], 'with a fresh machine');
  c!.destroy();
});

t.test('a first line that is not #!qtestd starts the default machine and is a command', async (t) => {
  const c = await q.tcp();
  t.same(await c.pipeline([`readl ${hex(ECAM_BASE)}`, 'endianness', 'clock_step 1000']), [
    HOST_BRIDGE_ID,
    'OK little',
    'OK 1000',
  ]);
  c.destroy();
});

t.test('WebSocket qtest: options in the query, one line per message', async (t) => {
  const c = await q.ws('id=wsjob&machine=virt,acpi=off,gic-version=3&m=256');
  t.same(
    await c.pipeline(['endianness', 'writeq 0x40000000 0x0102030405060708', 'readq 0x40000000', 'read 0x40000000 0x4']),
    ['OK little', 'OK', 'OK 0x0102030405060708', 'OK 0x08070605'],
  );
  const listed = JSON.parse((await q.http('/sessions')).body) as Array<{ id: string; transport: string }>;
  t.ok(
    listed.some((s) => s.id === 'wsjob' && s.transport === 'websocket'),
    '/sessions shows the WebSocket session',
  );
  c.end();
  await c.closed;

  // a bad query: one FAIL message, then a policy-violation close
  const ws = new WebSocket(`ws://127.0.0.1:${q.httpPort}/qtest?device=no-such-device`);
  const msgs: string[] = [];
  ws.on('message', (m: Buffer) => msgs.push(m.toString()));
  const code = await new Promise<number>((r) => ws.on('close', (c: number) => r(c)));
  t.equal(msgs.length, 1);
  t.match(msgs[0], /^FAIL .*no-such-device/);
  t.equal(code, 1008);

  await t.rejects(
    q
      .ws('x')
      .then((c) => c.destroy())
      .then(() => LineClient.websocket(new WebSocket(`ws://127.0.0.1:${q.httpPort}/nowhere`))),
    /HTTP 404|Unexpected server response: 404|socket hang up/,
    'unknown path',
  );
});

/** Run one QMP command and return its reply, setting aside asynchronous events. */
async function qmp(c: LineClient, command: string): Promise<Record<string, unknown>> {
  c.write(c.transport === 'websocket' ? `{"execute": "${command}"}` : `{"execute": "${command}"}\n`);
  for (;;) {
    const msg = JSON.parse(await c.next()) as Record<string, unknown>;
    if (!('event' in msg)) return msg;
  }
}

async function qmpHandshake(c: LineClient): Promise<Record<string, unknown>> {
  const greeting = JSON.parse(await c.next()) as Record<string, unknown>;
  const caps = await qmp(c, 'qmp_capabilities');
  if (!('return' in caps)) throw new Error(`qmp_capabilities: ${JSON.stringify(caps)}`);
  return greeting;
}

async function queryStatus(c: LineClient): Promise<string | undefined> {
  const r = (await qmp(c, 'query-status')) as { return?: { status?: string } };
  return r.return?.status;
}

t.test('per-session QMP: UNIX socket and WebSocket, each reaching only its session', async (t) => {
  const a = await q.tcp();
  const token = 'protocol-test-token-qb';
  const b = await q.ws(`id=qb&qmp-token=${token}`);
  t.equal(await a.request('#!qtestd id=qa'), 'OK');
  const path = join(q.runDir, 'qa.qmp');
  t.ok(existsSync(path), `${path} exists while the session is open`);
  const qa = await q.qmpSocket('qa');
  const greeting = await qmpHandshake(qa);
  t.match(
    greeting,
    { QMP: { version: { qemu: { major: Number } }, capabilities: Array } },
    'QMP greeting on the session socket',
  );
  await t.rejects(q.wsQmp('qb'), /403/, 'QMP WebSocket without the token: 403');
  const qb = await q.wsQmp('qb', token);
  t.match(await qmpHandshake(qb), { QMP: Object }, 'QMP greeting over WebSocket');

  // Once the real QMP layer is in: stopping one session shows only in that session.
  const status = await queryStatus(qa);
  if (status === undefined) {
    t.comment('SKIPPING QMP isolation checks: query-status has no status yet (QMP layer not landed)');
  } else {
    t.equal(status, 'running');
    t.match(await qmp(qa, 'stop'), { return: {} });
    let s = await queryStatus(qa);
    for (let k = 0; k < 20 && s !== 'paused'; k++) s = await queryStatus(qa);
    t.equal(s, 'paused', 'session qa is paused');
    t.equal(await queryStatus(qb), 'running', 'session qb is not');
    t.match(await qmp(qa, 'cont'), { return: {} });
  }
  t.equal(await a.request('readl 0x40000000'), 'OK 0x0000000000000000', 'qtest still answers alongside QMP');

  await t.rejects(q.wsQmp('no-such-session'), /404/, 'QMP WebSocket for an unknown session: 404');

  a.end();
  await a.closed;
  await qa.closed;
  for (let k = 0; k < 12000 && existsSync(path); k++) await sleep(10); // safety net: 2 min
  t.notOk(existsSync(path), 'the QMP socket goes away with its session');
  b.end();
  await b.closed;
  await qb.closed;
});

t.test(
  'a long QMP reply (query-qmp-schema, written in pieces) is one message on both transports, counted once',
  async (t) => {
    const token = 'protocol-test-token-qs';
    const c = await q.ws(`id=qs&qmp-token=${token}`);
    t.equal(await c.request('readl 0x40000000'), 'OK 0x0000000000000000');
    const before = parsePrometheus((await q.http('/metrics')).body);
    const unix = await q.qmpSocket('qs');
    await qmpHandshake(unix);
    const ws = await q.wsQmp('qs', token);
    await qmpHandshake(ws);
    const viaUnix = await qmp(unix, 'query-qmp-schema');
    ws.write('{"execute": "query-qmp-schema"}');
    const text = await ws.next();
    t.notOk(/[\r\n]/.test(text), 'the WebSocket message has no line terminator');
    const viaWs = JSON.parse(text) as Record<string, unknown>;
    const entries = viaUnix.return as unknown[];
    t.ok(Array.isArray(entries) && entries.length > 1000, `${entries.length} schema entries`);
    t.same(viaWs, viaUnix, 'the same reply over WebSocket (one text message)');
    t.match(await qmp(ws, 'query-status'), { return: { status: 'running' } }, 'the next reply is its own message');
    const after = parsePrometheus((await q.http('/metrics')).body);
    const delta = (name: string): number => (after.samples.get(name) ?? 0) - (before.samples.get(name) ?? 0);
    t.equal(
      delta('qtestd_qmp_commands_total{reply="return"}'),
      5,
      'two qmp_capabilities, two schemas, one query-status',
    );
    unix.end();
    ws.end();
    c.end();
    await c.closed;
  },
);

t.test('HTTP: /healthz, /readyz, /metrics (Prometheus text), /sessions (JSON)', async (t) => {
  const h = await q.http('/healthz');
  t.equal(h.status, 200);
  t.equal(h.body, 'ok\n');
  const r = await q.http('/readyz');
  t.equal(r.status, 200);

  const c = await q.tcp();
  t.equal(await c.request('#!qtestd id=m1'), 'OK');
  await c.pipeline(['writeq 0x40000000 1', 'readq 0x40000000', 'nonsense']);
  const m = await q.http('/metrics');
  t.equal(m.status, 200);
  t.match(m.type, /^text\/plain; version=0\.0\.4/);
  const p = parsePrometheus(m.body);
  for (const [name, type] of [
    ['qtestd_sessions_total', 'counter'],
    ['qtestd_sessions_refused_total', 'counter'],
    ['qtestd_sessions_active', 'gauge'],
    ['qtestd_qtest_requests_total', 'counter'],
    ['qtestd_qmp_commands_total', 'counter'],
    ['qtestd_errors_total', 'counter'],
    ['qtestd_guest_ram_touched_bytes', 'gauge'],
  ] as const) {
    t.equal(p.types.get(name), type, `${name} is a ${type}`);
    t.ok(p.help.get(name), `${name} has HELP`);
  }
  for (const name of p.types.keys())
    if (p.types.get(name) === 'counter') t.match(name, /_total$/, `counter ${name} ends in _total`);
  t.ok(p.samples.get('qtestd_sessions_active')! >= 1);
  t.ok(p.samples.get('qtestd_qtest_requests_total{reply="ok"}')! >= 2);
  t.ok(p.samples.get('qtestd_qtest_requests_total{reply="fail"}')! >= 1);
  t.ok(p.samples.get('qtestd_guest_ram_touched_bytes')! > 0, 'touched RAM is visible');

  const s = await q.http('/sessions');
  t.equal(s.status, 200);
  t.match(s.type, /^application\/json/);
  const list = JSON.parse(s.body) as Array<Record<string, unknown>>;
  const m1 = list.find((x) => x.id === 'm1');
  t.match(m1, {
    id: 'm1',
    transport: 'tcp',
    peer: /^127\.0\.0\.1:\d+$/,
    qmp: join(q.runDir, 'm1.qmp'),
    ramTouchedBytes: Number,
  });
  t.ok(!Number.isNaN(Date.parse(String(m1?.createdAt))), 'createdAt is a date');
  c.destroy();

  const nf = await q.http('/nope');
  t.equal(nf.status, 404);
});

t.test('/metrics: QMP commands counted one by one, request latency histogram, process metrics', async (t) => {
  const c = await q.tcp();
  t.equal(await c.request('#!qtestd id=mq'), 'OK');
  const before = parsePrometheus((await q.http('/metrics')).body);
  const qm = await q.qmpSocket('mq');
  await qmpHandshake(qm);
  // three commands in one write (one chunk), then one in two pieces, then one that fails
  qm.write('{"execute": "query-status"}{"execute": "query-name"}\n{"execute": "query-version"}\n');
  for (let k = 0; k < 3; k++) t.match(JSON.parse(await qm.next()), { return: Object });
  qm.write('{"execute": "query-');
  await sleep(20);
  qm.write('status"}\n');
  t.match(JSON.parse(await qm.next()), { return: Object });
  t.match(await qmp(qm, 'no-such-command'), { error: { class: 'CommandNotFound' } });
  await c.pipeline(['readl 0x40000000', 'readl 0x40000000', 'nonsense']);
  const after = parsePrometheus((await q.http('/metrics')).body);
  const delta = (name: string): number => (after.samples.get(name) ?? 0) - (before.samples.get(name) ?? 0);
  // qmp_capabilities, 4 queries: 5 returns; 1 error
  t.equal(delta('qtestd_qmp_commands_total{reply="return"}'), 5, 'each QMP command that returned counted once');
  t.equal(delta('qtestd_qmp_commands_total{reply="error"}'), 1, 'the failed command counted once');
  t.equal(after.types.get('qtestd_qtest_request_duration_seconds'), 'histogram');
  t.ok(delta('qtestd_qtest_request_duration_seconds_count') >= 3, 'each qtest request observed');
  t.equal(
    after.samples.get('qtestd_qtest_request_duration_seconds_bucket{le="+Inf"}'),
    after.samples.get('qtestd_qtest_request_duration_seconds_count'),
    'the +Inf bucket holds every observation',
  );
  t.ok((after.samples.get('process_resident_memory_bytes{role="accept"}') ?? 0) > 0, "the accepting process's RSS");
  t.ok((after.samples.get('process_resident_memory_bytes{role="worker"}') ?? 0) > 0, "the workers' RSS");
  t.ok(after.types.has('nodejs_eventloop_lag_seconds'), 'Node metrics');
  qm.end();
  c.end();
  await c.closed;
});

t.test('stdout stays empty; stderr carries the banner and JSON logs', async (t) => {
  t.equal(q.stdout, '');
  t.match(q.stderr, /qtestd: a fresh emulated machine per connection/);
  const recs = q.logRecords();
  t.ok(
    recs.some((r) => r.event === 'session-open'),
    'session-open logged',
  );
  t.ok(
    recs.some((r) => r.event === 'session-close'),
    'session-close logged',
  );
});
