/**
 * The end of a client's input is not the end of the client. A half-close (the client shuts its
 * sending side and goes on reading, as `nc -N` or a script's `shutdown(SHUT_WR)` does) gets every
 * line it sent answered, as QEMU 10.2.2 answers them, and then an orderly close — also when a
 * line's device work runs in slices or the session is still starting. A client that is gone
 * altogether (it closed, so replies cannot reach it) has the rest of its requests dropped: the
 * service never runs requests for nobody. (No timed assertions: the safety net is minutes.)
 */
import t from 'tap';
import { connect } from 'node:net';
import { parsePrometheus, startQtestd } from './fixtures/harness.js';

t.setTimeout(10 * 60_000);

const q = await startQtestd({ args: ['--workers', '1'] });
t.teardown(() => q.dispose());

/** Send `lines`, half-close, read until the server ends the connection. */
function halfClose(lines: string[]): Promise<{ replies: string[]; ended: boolean }> {
  return new Promise((resolve) => {
    const s = connect({ port: q.tcpPort, host: '127.0.0.1', allowHalfOpen: true });
    let buf = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (buf += d));
    s.on('end', () => {
      s.destroy();
      resolve({ replies: buf.split('\n').filter((l) => l !== ''), ended: true });
    });
    s.on('error', () => resolve({ replies: buf.split('\n').filter((l) => l !== ''), ended: false }));
    s.on('connect', () => s.end(lines.map((l) => `${l}\n`).join('')));
  });
}

t.test('a half-close gets every reply, then the close', async (t) => {
  const cases: Array<{ name: string; lines: string[]; replies: string[] }> = [
    {
      name: 'plain requests',
      lines: ['writel 0x40000000 0x1234', 'readl 0x40000000', 'endianness'],
      replies: ['OK', 'OK 0x0000000000001234', 'OK little'],
    },
    {
      name: 'behind a memset run in slices',
      lines: ['memset 0x40000000 0x4000000 0x5', 'readl 0x40000000', 'readl 0x43fffffc', 'endianness'],
      replies: ['OK', 'OK 0x0000000005050505', 'OK 0x0000000005050505', 'OK little'],
    },
    {
      name: 'a session still starting (#!qtestd) and a long write',
      lines: ['#!qtestd -m 256', `b64write 0x40000000 0x300000 ${'QUJD'.repeat(0x100000)}`, 'readb 0x402fffff'],
      replies: ['OK', 'OK', 'OK 0x0000000000000043'],
    },
    {
      name: 'an unfinished last line is not answered',
      lines: ['readl 0x40000000', 'readl 0x4'],
      replies: ['OK 0x0000000000000000', 'OK 0x0000000000000000'],
    },
  ];
  for (const c of cases) {
    const r = await halfClose(c.lines);
    t.same(r.replies, c.replies, c.name);
    t.ok(r.ended, `${c.name}: the server closes its side after the last reply`);
  }
  const s = connect({ port: q.tcpPort, host: '127.0.0.1', allowHalfOpen: true });
  const got = await new Promise<string>((resolve) => {
    let buf = '';
    s.setEncoding('latin1').on('data', (d: string) => (buf += d));
    s.on('end', () => resolve(buf));
    s.on('connect', () => s.end('endianness\nreadl 0x40000000')); // no newline at the end
  });
  s.destroy();
  t.equal(got, 'OK little\n', 'a line without its newline at the end of input is never run');
});

t.test('a client gone altogether has its pending requests dropped', async (t) => {
  const count = async (): Promise<number> => {
    const m = parsePrometheus((await q.http('/metrics')).body);
    let n = 0;
    for (const [key, v] of m.samples) if (key.startsWith('qtestd_qtest_requests_total')) n += v;
    return n;
  };
  const before = await count();
  const heavy = 40;
  const s = connect({ port: q.tcpPort, host: '127.0.0.1' });
  await new Promise<void>((r) => s.on('connect', () => r()));
  // each memset runs in slices; the client closes (not a half-close: it reads nothing more)
  s.write('memset 0x40000000 0x2000000 0x7\n'.repeat(heavy));
  s.destroy();
  // wait until the service is done with that connection: its request count stops moving
  let last = -1;
  let now = await count();
  for (let i = 0; i < 600 && now !== last; i++) {
    await new Promise((r) => setTimeout(r, 500));
    last = now;
    now = await count();
  }
  t.ok(now - before < heavy, `ran ${now - before} of the ${heavy} requests sent, not all of them`);
  const c = await q.tcp();
  t.equal(await c.request('endianness'), 'OK little', 'the service goes on');
  c.destroy();
});
