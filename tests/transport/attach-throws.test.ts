/**
 * A socket whose endpoint cannot be attached (src/transport/socket-link.ts: makeEndpoint throws)
 * is closed at once, with the reason logged and the link's onClose called — not left open and
 * unread.
 */
import t from 'tap';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { bindSocket } from '../../src/transport/socket-link.js';

t.test('an endpoint that throws in attach: the connection closes and the reason is logged', async (t) => {
  const records: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) records.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const log = pino({ level: 'info' }, sink);
  let closes = 0;
  const server = createServer((socket) => {
    bindSocket(
      socket,
      () => {
        throw new Error('no machine for you');
      },
      { encoding: 'latin1', log, onClose: () => closes++ },
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  client.on('error', () => {}); // a reset is a close too
  client.write('readl 0x40000000\n');
  await once(client, 'close');
  t.pass('the connection was closed');
  t.equal(closes, 1, 'onClose was called once');
  const rec = records.find((r) => r.msg === 'could not attach an endpoint to a connection; closing it');
  t.ok(rec, 'the reason is logged');
  t.match(rec, { level: 50, err: { message: 'no machine for you' } });
});
