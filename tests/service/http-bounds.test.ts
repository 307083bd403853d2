/**
 * The HTTP side's connections are bounded (src/service/http-bounds.ts): hundreds of clients that
 * open a connection and never finish their request headers neither keep /healthz, /readyz and
 * /metrics from answering (past the connection limit the oldest such connection is closed for a
 * newcomer) nor hold their descriptors for ever (the headers deadline answers 408 and closes;
 * trickled bytes do not reset it). Progress assertions only; the safety net is minutes.
 */
import t from 'tap';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { startQtestd } from './fixtures/harness.js';
import { maxHttpConnections } from '../../src/service/http-bounds.js';
import { openFileLimit } from '../../src/service/budgets.js';

t.setTimeout(5 * 60_000);

const q = await startQtestd({ args: ['--workers', '1'] });
t.teardown(() => q.dispose());

interface Slow {
  socket: Socket;
  /** What the server sent, and how the connection ended. */
  got: string;
  closed: Promise<void>;
}

/** A client that sends the start of a request and never its end (one more header byte now and then). */
function slowClient(port: number): Promise<Slow> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const slow: Slow = { socket, got: '', closed: new Promise((r) => socket.once('close', () => r())) };
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (slow.got += d));
    socket.on('error', () => {}); // a reset when it is closed for a newcomer: 'close' follows
    socket.once('connect', () => {
      socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      const timer = setInterval(() => socket.writable && socket.write('x'), 500);
      void slow.closed.then(() => clearInterval(timer));
      resolve(slow);
    });
  });
}

t.test('slow HTTP clients past the connection limit: health endpoints answer, the slow ones are closed', async (t) => {
  // the limit the service computes (the test runs under the same open-file limit)
  const max = maxHttpConnections(openFileLimit());
  const n = max + 64;
  const slow: Slow[] = [];
  for (let i = 0; i < n; i++) slow.push(await slowClient(q.httpPort));
  for (let i = 0; i < 10; i++) {
    t.equal((await q.http('/healthz')).status, 200, `/healthz answers with ${n} slow connections open (${i})`);
    t.equal((await q.http('/readyz')).status, 200, '/readyz too');
  }
  t.equal((await q.http('/metrics')).status, 200, '/metrics too');
  await Promise.all(slow.map((s) => s.closed));
  const timedOut = slow.filter((s) => s.got.startsWith('HTTP/1.1 408 ')).length;
  const evicted = slow.filter((s) => s.got === '').length;
  t.equal(
    timedOut + evicted,
    n,
    `every slow connection was closed by the server (${timedOut} with 408, ${evicted} for newcomers)`,
  );
  t.ok(evicted >= n - max, `at least ${n - max} closed to keep within the limit of ${max}`);
  t.ok(timedOut > 0, 'the others at the headers deadline, although they kept sending');
  t.equal((await q.http('/healthz')).status, 200, 'the service is fine afterwards');
});
