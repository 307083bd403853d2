/**
 * A real qtestd's session lifecycle and logs: an idle timeout closes the connection with its
 * reason, frees the session (gone from /sessions and the metrics, its RAM no longer counted) and
 * logs why; debug level logs every qtest request and reply and every QMP message with the
 * session id (info level logs none); `npm start` forwards SIGTERM, so that no server is left.
 * Progress is asserted, never durations (timeouts are minute-scale safety nets).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parsePrometheus, REPO_ROOT, sleep, startQtestd } from './fixtures/harness.js';
import { within } from '../helpers/processes.js';

t.setTimeout(5 * 60_000);

t.test('idle timeout: FAIL with the reason, the session is freed at once, and the log says why', async (t) => {
  // 5 s, not 1: the steps below (a session on each transport, then /metrics) must all come before
  // the first idle timer fires, also on a loaded machine; the test waits for the close, never times it
  const q = await startQtestd({ args: ['--idle-timeout', '5'] });
  t.teardown(() => q.dispose());
  const c = await q.tcp();
  t.equal(await c.request('#!qtestd id=sleepy'), 'OK');
  t.equal(await c.request('writeq 0x40000000 0x1122334455667788'), 'OK', 'touches a page of guest RAM');
  const ws = await q.ws('id=sleepyws');
  t.equal(await ws.request('writeq 0x40000000 1'), 'OK');
  const during = parsePrometheus((await q.http('/metrics')).body);
  t.ok(during.samples.get('qtestd_guest_ram_touched_bytes')! > 0, 'its RAM is counted while it lives');

  // no request from now on: the idle timer fires
  const how = await within(c.closed, 120_000);
  t.equal(how?.kind, 'end', 'the connection closes in order');
  t.match(c.received[c.received.length - 1], /^FAIL idle timeout: no request for 5 s; closing$/);
  await within(ws.closed, 120_000);
  t.match(ws.received[ws.received.length - 1], /^FAIL idle timeout/);

  const sessions = JSON.parse((await q.http('/sessions')).body) as Array<{ id: string }>;
  t.same(
    sessions.map((s) => s.id),
    [],
    'gone from /sessions',
  );
  const after = parsePrometheus((await q.http('/metrics')).body);
  t.equal(after.samples.get('qtestd_sessions_active'), 0, 'not active');
  t.equal(after.samples.get('qtestd_guest_ram_touched_bytes'), 0, 'its RAM is not counted any more');
  t.equal(after.samples.get('qtestd_sessions_closed_total{reason="idle-timeout"}'), 2, 'closed for being idle');
  const closes = q.logRecords().filter((r) => r.event === 'session-close');
  t.match(
    closes.find((r) => r.session === 'sleepy'),
    { reason: 'idle timeout: no request for 5 s', ramTouchedBytes: Number },
    'session-close logs why',
  );
  t.match(
    closes.find((r) => r.session === 'sleepyws'),
    { reason: /^idle timeout/ },
  );
  t.notOk(
    q.logRecords().some((r) => r.event === 'qtest-request'),
    'at info level no request is logged',
  );
});

t.test('debug level: every request and reply, and every QMP message, logged with the session id', async (t) => {
  const q = await startQtestd({ args: ['--log-level', 'debug', '--log-format', 'json'] });
  t.teardown(() => q.dispose());
  const c = await q.tcp();
  t.equal(await c.request('#!qtestd id=chatty'), 'OK');
  t.same(await c.pipeline(['writel 0x40000000 0x5', 'readl 0x40000000', 'nonsense']), [
    'OK',
    'OK 0x0000000000000005',
    "FAIL Unknown command 'nonsense'",
  ]);
  const qmp = await q.qmpSocket('chatty');
  await qmp.next();
  qmp.write('{"execute": "qmp_capabilities"}\n');
  await qmp.next();
  let recs = q.logRecords();
  // the log is written asynchronously: wait for the last reply's record (safety net: minutes)
  for (let k = 0; k < 12_000 && !recs.some((r) => r.event === 'qmp-send' && r.text === '{"return": {}}'); k++) {
    await sleep(10);
    recs = q.logRecords();
  }
  const mine = recs.filter((r) => r.session === 'chatty');
  const pairs = mine.filter((r) => r.event === 'qtest-request' || r.event === 'qtest-reply').map((r) => r.text);
  t.same(
    pairs,
    [
      'writel 0x40000000 0x5',
      'OK',
      'readl 0x40000000',
      'OK 0x0000000000000005',
      'nonsense',
      "FAIL Unknown command 'nonsense'",
    ],
    'each request, then its reply',
  );
  t.ok(
    mine.every((r) => r.level === 20 || r.event !== 'qtest-request'),
    'at debug level (20)',
  );
  t.ok(
    mine.some((r) => r.event === 'qmp-receive' && String(r.text).includes('qmp_capabilities')),
    'the QMP command',
  );
  t.ok(
    mine.some((r) => r.event === 'qmp-send' && r.text === '{"return": {}}'),
    'and its reply',
  );
  qmp.end();
  c.end();
});

t.test('npm start forwards SIGTERM: the server stops and no process is left', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-npm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const npm = spawn(
    'npm',
    [
      'start',
      '--silent',
      '--',
      '--tcp',
      '127.0.0.1:0',
      '--http',
      'off',
      '--unix',
      'off',
      '--run-dir',
      join(dir, 'run'),
      '--log-format',
      'json',
      '--workers',
      '1',
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  npm.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((r) => npm.once('exit', (code) => r(code)));
  let listening: { pid: number; tcpPort: number } | undefined;
  for (let k = 0; k < 12_000 && !listening; k++) {
    const line = stderr.split('\n').find((l) => l.includes('"event":"listening"'));
    if (line) listening = JSON.parse(line) as { pid: number; tcpPort: number };
    else await sleep(10);
  }
  t.ok(listening, 'the service started under npm');
  if (!listening) return void npm.kill('SIGKILL');
  t.not(listening.pid, npm.pid, 'the server is a child of npm');
  npm.kill('SIGTERM');
  t.equal(await within(exited, 120_000), 0, 'npm exits 0');
  // the server is gone: its pid no longer exists (poll: it may exit a moment after npm reports)
  let alive = true;
  for (let k = 0; k < 12_000 && alive; k++) {
    try {
      process.kill(listening.pid, 0);
      await sleep(10);
    } catch {
      alive = false; // ESRCH: no such process
    }
  }
  t.notOk(alive, 'the server process is gone');
  const refused = await new Promise<boolean>((r) => {
    const s = connect(listening!.tcpPort, '127.0.0.1');
    s.once('connect', () => (s.destroy(), r(false)));
    s.once('error', () => r(true));
  });
  t.ok(refused, 'nothing listens on its port any more');
  t.match(stderr, /"event":"shutdown","signal":"SIGTERM"/, 'the server saw the SIGTERM');
});
