/**
 * Service limits on real qtestd processes, each answered with an error line: too many sessions
 * (`FAIL too many sessions …`, /readyz 503), a line longer than --max-line, an idle connection
 * (--idle-timeout), and guest RAM beyond --session-ram.
 */
import t from 'tap';
import type { Test } from 'tap';
import { WebSocket } from 'ws';
import { parsePrometheus, sleep, startQtestd } from './fixtures/harness.js';
import type { LineClient } from './fixtures/harness.js';

// a safety net only (minutes): several services start at once, each with its worker processes
t.setTimeout(5 * 60_000);

const [full, lines, idle, ram] = await Promise.all([
  startQtestd({ args: ['--max-sessions', '3'], startTimeoutMs: 120_000 }),
  startQtestd({ args: ['--max-line', '4096'], startTimeoutMs: 120_000 }),
  startQtestd({ args: ['--idle-timeout', '1.5'], startTimeoutMs: 120_000 }),
  startQtestd({ args: ['--session-ram', String(1 << 20)], startTimeoutMs: 120_000 }),
]);
t.teardown(() => Promise.all([full, lines, idle, ram].map((q) => q.dispose())));

function wsRefusal(url: string): Promise<{ messages: string[]; code: number }> {
  const ws = new WebSocket(url);
  const messages: string[] = [];
  ws.on('message', (m: Buffer) => messages.push(m.toString()));
  ws.on('error', () => {});
  return new Promise((r) => ws.on('close', (code: number) => r({ messages, code })));
}

t.test('--max-sessions: FAIL too many sessions on every transport, /readyz 503', async (t) => {
  const q = full;
  const open = [await q.tcp(), await q.unix(), await q.ws('id=w')];
  t.equal(await open[0].request('#!qtestd id=a'), 'OK');
  // a connection counts against the limit once its first line is in (a plain command here)
  t.equal(await open[1].request('readl 0x40000000'), 'OK 0x0000000000000000');
  for (let k = 0; k < 12000 && (await q.http('/readyz')).status === 200; k++) await sleep(10); // safety net: 2 min
  const ready = await q.http('/readyz');
  t.equal(ready.status, 503, '/readyz says not ready when full');
  t.match(ready.body, /too many sessions/);
  t.equal((await q.http('/healthz')).status, 200, '/healthz still fine');

  for (const c of [await q.tcp(), await q.unix()]) {
    const closed = c.closed;
    t.equal(await c.request('#!qtestd'), 'FAIL too many sessions (limit 3)', 'told once its first line is in');
    t.equal((await closed).kind, 'end', 'then the connection is closed');
  }
  const w = await wsRefusal(`ws://127.0.0.1:${q.httpPort}/qtest`);
  t.same(w.messages, ['FAIL too many sessions (limit 3)']);
  t.equal(w.code, 1008);

  const m = parsePrometheus((await q.http('/metrics')).body);
  t.equal(m.samples.get('qtestd_sessions_refused_total'), 3);

  // the open sessions are unaffected, and freeing one slot lets the next connection in
  t.equal(await open[1].request('readl 0x40000000'), 'OK 0x0000000000000000');
  t.equal(await open[2].request('endianness'), 'OK little');
  open[2].end();
  await open[2].closed;
  for (let k = 0; k < 12000 && (await q.http('/readyz')).status !== 200; k++) await sleep(10); // safety net: 2 min
  t.equal((await q.http('/readyz')).status, 200, 'ready again');
  const again = await q.tcp();
  t.equal(await again.request('#!qtestd'), 'OK');
  for (const c of [open[0], open[1], again]) c.destroy();
});

t.test('--max-line: over-long first line, over-long command, over-long WebSocket message', async (t) => {
  const q = lines;
  const first = await q.tcp();
  first.write('#!qtestd ' + 'x'.repeat(5000));
  t.equal(await first.next(), 'FAIL first line longer than 4096 bytes');
  t.equal((await first.closed).kind, 'end');

  const c = await q.unix();
  t.equal(await c.request('#!qtestd'), 'OK');
  t.equal(await c.request('writeq 0x40000000 0x5'), 'OK');
  const long = `write 0x40000000 0x1000 0x${'ab'.repeat(4096)}`;
  t.match(await c.request(long), /^FAIL line longer than 4096 bytes/);
  t.equal(
    await c.request('readq 0x40000000'),
    'OK 0x0000000000000005',
    'the long line changed nothing and the session goes on',
  );
  // the same line arriving in small pieces is caught too
  const next = c.next();
  for (let k = 0; k < long.length; k += 1000) {
    c.write(long.slice(k, k + 1000));
    await sleep(1);
  }
  c.write('\n');
  t.match(await next, /^FAIL line longer than 4096 bytes/);
  t.equal(await c.request('readq 0x40000000'), 'OK 0x0000000000000005');
  c.destroy();

  // WebSocket: a message beyond the limit ends the connection with 1009 (message too big)
  const w = await q.ws();
  t.equal(await w.request('endianness'), 'OK little');
  w.write(long);
  const closed = await w.closed;
  t.equal(closed.kind, 'end');
  t.equal(w.closeCode, 1009, 'closed with 1009 (message too big)');
});

async function expectIdleClose(c: LineClient, t: Test, what: string): Promise<void> {
  const line = await c.next(120000);
  t.match(line, /^FAIL idle timeout/, `${what}: told why`);
  const how = await c.closed;
  t.equal(how.kind, 'end', `${what}: closed cleanly`);
}

t.test('--idle-timeout: idle connections are told and closed; busy ones are not', async (t) => {
  const q = idle;
  const silent = await q.tcp(); // never says anything, not even a first line
  const greeted = await q.unix();
  t.equal(await greeted.request('#!qtestd id=idle1'), 'OK');
  const ws = await q.ws('id=idle2');
  const busy = await q.tcp();
  t.equal(await busy.request('#!qtestd id=busy'), 'OK');
  // The busy session sends a request every 150 ms (a tenth of the idle timeout) until every idle
  // connection has been closed: it must outlive them all.
  let idleClosed = false;
  const keepBusy = (async () => {
    let k = 0;
    for (; !idleClosed; k++) {
      if ((await busy.request('clock_step 1')).startsWith('OK') === false) return false;
      await sleep(150);
    }
    return k > 0;
  })();
  await Promise.all([
    expectIdleClose(silent, t, 'silent TCP'),
    expectIdleClose(greeted, t, 'greeted UNIX'),
    expectIdleClose(ws, t, 'WebSocket'),
  ]);
  idleClosed = true;
  t.ok(await keepBusy, 'a busy session outlives the idle ones');
  t.equal(await busy.request('endianness'), 'OK little');
  busy.destroy();
  const list = JSON.parse((await q.http('/sessions')).body) as Array<{ id: string }>;
  t.notOk(
    list.some((s) => s.id === 'idle1' || s.id === 'idle2'),
    'idle sessions are gone',
  );
});

t.test('--session-ram: memset beyond the budget FAILs, the session goes on, budgets are per session', async (t) => {
  const q = ram;
  const a = await q.tcp();
  const b = await q.ws();
  t.equal(await a.request('#!qtestd id=ra'), 'OK');
  t.match(
    await a.request('memset 0x40000000 0x200000 0x5a'),
    /^FAIL guest RAM budget of 1048576 bytes exceeded/,
    'memset of 2 MiB with a 1 MiB budget',
  );
  t.equal(await a.request('memset 0x40000000 0x80000 0x5a'), 'OK', 'half the budget is fine');
  t.equal(await a.request('readb 0x4007ffff'), 'OK 0x000000000000005a');
  t.match(
    await a.request('memset 0x40800000 0x100000 0x11'),
    /^FAIL guest RAM budget/,
    'another 1 MiB elsewhere would exceed it',
  );
  t.equal(await b.request('memset 0x40000000 0xc0000 0x33'), 'OK', 'another session has its own budget');
  t.equal(await a.request('readb 0x40000000'), 'OK 0x000000000000005a', 'and does not touch this one');
  t.equal(await b.request('readb 0x40000000'), 'OK 0x0000000000000033');
  a.destroy();
  b.destroy();
});

t.test('stdout stays empty', async (t) => {
  for (const q of [full, lines, idle, ram]) t.equal(q.stdout, '');
});
