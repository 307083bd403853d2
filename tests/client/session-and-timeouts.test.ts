/**
 * The client against a real qtestd: the `#!qtestd` first line over TCP and UNIX (the session gets
 * its id and devices; a refusal rejects the connect), and per-request timeouts for qtest and QMP
 * against a server that never answers (the late reply of a timed-out request keeps the order).
 */
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import t from 'tap';
import { QmpClient, QmpConnectionError, QtestClient, QtestError } from '../../src/client/index.js';
import { startQtestd } from '../helpers/service-process.js';

t.setTimeout(300000);

t.test('the #!qtestd first line over TCP and UNIX', async (t) => {
  const q = await startQtestd();
  t.teardown(() => q.dispose());
  const tcp = await QtestClient.connectTcp('127.0.0.1', q.tcpPort, { session: 'id=viaTcp -device edu' });
  const unix = await QtestClient.connectUnix(q.unixPath, { session: ['id=viaUnix', '-device', 'pci-testdev'] });
  const sessions = JSON.parse((await q.http('/sessions')).body) as Array<{ id: string }>;
  t.same(sessions.map((s) => s.id).sort(), ['viaTcp', 'viaUnix'], 'both sessions carry their ids');
  // edu answers its ID register behind ECAM device 1 (vendor 1234, device 11e8)
  t.equal(await tcp.readl(0x4010008000n), 0x11e81234n, 'the TCP session has edu at 00:01.0');
  t.equal(await unix.readl(0x4010008000n), 0x00051b36n, 'the UNIX session has pci-testdev at 00:01.0');
  await t.rejects(
    QtestClient.connectTcp('127.0.0.1', q.tcpPort, { session: 'id=viaTcp' }),
    QtestError,
    'a duplicate id rejects the connect',
  );
  tcp.close();
  unix.close();
});

/** A server that reads everything and answers only when told to. */
async function silentServer(): Promise<{ port: number; sockets: Socket[]; close(): void }> {
  const sockets: Socket[] = [];
  const srv = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      srv.close();
    },
  };
}

t.test('qtest requestTimeoutMs: rejected in time, late replies keep the order', async (t) => {
  const srv = await silentServer();
  t.teardown(() => srv.close());
  const c = await QtestClient.connectTcp('127.0.0.1', srv.port, { requestTimeoutMs: 200 });
  let timeouts = 0;
  c.on('timeout', () => timeouts++);
  await t.rejects(c.raw('endianness'), /no reply within 200 ms/, 'no reply: rejected');
  t.equal(timeouts, 1, "a 'timeout' event");
  const second = c.raw('clock_step 5');
  srv.sockets[0].write('OK little\nOK 5\n'); // the late reply to the first request, then the second's
  t.equal(await second, 'OK 5', 'the second request gets its own reply');
  c.close();
});

t.test('QMP requestTimeoutMs', async (t) => {
  const srv = await silentServer();
  t.teardown(() => srv.close());
  const c = await QmpClient.connectTcp('127.0.0.1', srv.port, { requestTimeoutMs: 200 });
  await t.rejects(c.executeRaw('query-status'), QmpConnectionError);
  c.close();
});
