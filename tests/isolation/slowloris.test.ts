/**
 * Slowloris on a real qtestd: clients that trickle a first line one byte at a time hold no
 * `--max-sessions` slot (a connection counts once its first line is in) and are closed with a
 * clear `FAIL …` once `--greeting-timeout` passes — bytes do not reset it; a line trickled inside
 * a session is closed at `--line-timeout` the same way. A client that sends complete requests is
 * never affected. (Progress assertions only: the trickle goes on
 * until the server closes the connection; the safety net is minutes.)
 */
import t from 'tap';
import { sleep, startQtestd } from '../service/fixtures/harness.js';
import type { LineClient } from '../service/fixtures/harness.js';

t.setTimeout(5 * 60_000);

const q = await startQtestd({
  args: ['--max-sessions', '5', '--greeting-timeout', '1', '--line-timeout', '1', '--idle-timeout', '600'],
});
t.teardown(() => q.dispose());

/** Send `text` one byte per 50 ms until the connection closes; resolves with the bytes sent. */
async function trickle(c: LineClient, text: string): Promise<number> {
  let sent = 0;
  while (!c.isClosed) {
    c.write(text[sent % text.length]!);
    sent++;
    await sleep(50);
  }
  return sent;
}

t.test('trickled first lines: no session slot, closed with FAIL although bytes keep coming', async (t) => {
  const clients = await Promise.all(Array.from({ length: 5 }, () => q.tcp()));
  const trickles = clients.map((c) => trickle(c, '#!qtestd id=slow-' + 'x'.repeat(1000)));
  // a connection counts against --max-sessions once its first line is in: five trickling
  // connections leave all five slots to clients that send complete lines
  const sessions: LineClient[] = [];
  for (let i = 0; i < 5; i++) {
    const c = i % 2 ? await q.unix() : await q.tcp();
    t.equal(await c.request(`#!qtestd id=full-${i}`), 'OK', `session ${i} starts while the tricklers trickle`);
    sessions.push(c);
  }
  t.equal(await sessions[4]!.request('endianness'), 'OK little');
  const sixth = await q.tcp();
  t.equal(await sixth.request('#!qtestd id=sixth'), 'FAIL too many sessions (limit 5)', 'the limit still holds');
  for (const c of sessions) c.destroy();
  const sent = await Promise.all(trickles);
  for (const [i, c] of clients.entries()) {
    // a byte every 50 ms would never let a deadline that bytes reset expire
    t.ok(sent[i]! > 1, `client ${i} kept sending (${sent[i]} bytes) until it was closed`);
    t.match(c.received, ['FAIL no session started within 1 s of connecting; closing'], `client ${i} was told why`);
    t.equal(c.closedHow?.kind, 'end', `client ${i}: an orderly close`);
  }
  // the slots are free again (the complete sessions above were closed)
  let ok: LineClient | undefined;
  for (let k = 0; k < 200 && !ok; k++) {
    const c = await q.tcp();
    const r = await c.request('#!qtestd id=after');
    if (r === 'OK') ok = c;
    else {
      c.destroy();
      await sleep(50);
    }
  }
  t.ok(ok, 'a new session starts once the trickling connections are gone');
  t.equal(await ok!.request('endianness'), 'OK little');
  ok!.destroy();
});

t.test('a line trickled inside a session: closed with FAIL; requests keep the session alive', async (t) => {
  const slow = await q.unix();
  t.equal(await slow.request('#!qtestd id=slowline'), 'OK');
  t.equal(await slow.request('writel 0x40000000 0x1'), 'OK');
  const busy = await q.tcp();
  t.equal(await busy.request('#!qtestd id=busy'), 'OK');
  let requests = 0;
  const keepBusy = (async () => {
    while (!slow.isClosed) {
      if ((await busy.request('readl 0x40000000')) !== 'OK 0x0000000000000000') return false;
      requests++;
      await sleep(20);
    }
    return true;
  })();
  const sent = await trickle(slow, 'readl 0x40000000 ' + ' '.repeat(1000));
  t.ok(sent > 1, `the slow client kept sending (${sent} bytes) until it was closed`);
  t.match(slow.received.at(-1), /^FAIL line not finished within 1 s of its first byte; closing$/, 'told why');
  t.ok(await keepBusy, 'the other session answered every request meanwhile');
  t.ok(requests > 10, `and completed many (${requests})`);
  t.equal(await busy.request('endianness'), 'OK little', 'and lives on');
  busy.destroy();
});
