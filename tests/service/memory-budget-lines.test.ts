/**
 * An unfinished qtest line is memory the service holds for its connection: it counts against the
 * worker's share of `--memory-budget` with guest RAM, and a line that grows past the budget
 * closes its own connection with the reason (`FAIL memory budget exceeded by an unfinished line
 * …; closing`), not another session. (No timed assertions: the safety net is minutes.)
 */
import t from 'tap';
import { connect } from 'node:net';
import { startQtestd } from './fixtures/harness.js';

t.setTimeout(10 * 60_000);
const MiB = 1024 * 1024;

t.test('an unfinished line past the budget closes its connection only', async (t) => {
  const q = await startQtestd({ args: ['--workers', '1', '--memory-budget', String(24 * MiB)] });
  t.teardown(() => q.dispose());
  const a = await q.tcp();
  t.equal(await a.request('memset 0x40000000 0x1000000 0x5a'), 'OK', '16 MiB of guest RAM in use');

  const s = connect({ port: q.tcpPort, host: '127.0.0.1' });
  let got = '';
  s.setEncoding('latin1').on('data', (d: string) => (got += d));
  s.on('error', () => {}); // the server may close while we still write
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  await new Promise<void>((r) => s.on('connect', () => r()));
  s.write('readl 0x40000000\n'); // the session starts
  // 16 MiB of a b64write's payload and no newline: the line stays unfinished
  const piece = Buffer.alloc(MiB, 'QUJD');
  s.write('b64write 0x40000000 0x1000000 ');
  for (let i = 0; i < 16 && !s.destroyed; i++)
    if (!s.write(piece)) await new Promise((r) => s.once('drain', r).once('close', r));
  await closed;
  const lines = got.split('\n').filter((l) => l !== '');
  t.equal(lines[0], 'OK 0x0000000000000000', 'the first request was answered (a session of its own)');
  t.match(
    lines[1],
    /^FAIL memory budget exceeded by an unfinished line of \d+ (MiB|KiB) \(\d+ MiB of 24 MiB in use by the sessions of this worker; --memory-budget 25165824 over 1 worker\); closing$/,
    'the growing line is refused with the reason',
  );
  t.equal(await a.request('readl 0x40fffffc'), 'OK 0x000000005a5a5a5a', 'the other session goes on');
  a.destroy();
});
