/**
 * Differential QMP: query-chardev and query-yank on qtestd and the oracle, for the drop-in launch
 * (listening -qtest/-qmp sockets, plus an unused listening UNIX -chardev, a TCP one on port 0 and a
 * null one) and for libqtest's launch (-qtest unix:PATH and -chardev socket,path=… dialled by the
 * target, -mon chardev=char0,mode=control). Labels, filenames (connected and disconnected forms),
 * frontend-open, the /chardevs hash-table order and the yank list order: byte-identical modulo the
 * temporary directory and the TCP port.
 */
import type { Socket } from 'node:net';
import t from 'tap';
import { binaryFor } from '../helpers/launch.js';
import { withOracle } from '../helpers/oracle.js';
import { startDialIn } from '../helpers/processes.js';
import { call, startPeer } from '../protocol/qmp/peer.js';

const QUERIES = ['{"execute": "query-chardev"}', '{"execute": "query-yank"}'];
const port = (text: string): string => text.replace(/:\d{2,5}(,server=on)/g, ':PORT$1');

await withOracle(t, 'drop-in launch with extra chardevs', async (tv) => {
  const out: string[][] = [];
  for (const target of ['qtestd', 'oracle'] as const) {
    const spare = `/tmp/qtestd-chardev-spare-${process.pid}-${target}.sock`;
    const p = await startPeer(target, [
      '-nodefaults',
      '-machine',
      'none',
      '-chardev',
      `socket,id=spare,path=${spare},server=on,wait=off`,
      '-chardev',
      'socket,id=aa,host=127.0.0.1,port=0,server=on,wait=off',
      '-chardev',
      'null,id=nul',
    ]);
    const replies: string[] = [];
    for (const q of QUERIES) replies.push(port((await call(p, q)).split(spare).join('SPARE')));
    await p.s.teardown();
    out.push(replies);
  }
  tv.same(out[0], out[1]);
});

/** libqtest's argv; read the greeting, negotiate, run the queries. */
async function libqtest(target: 'qtestd' | 'oracle'): Promise<string[]> {
  const d = await startDialIn({
    binary: binaryFor(target),
    argv: (qtestPath, qmpPath) => [
      '-qtest',
      `unix:${qtestPath}`,
      '-qtest-log',
      '/dev/null',
      '-chardev',
      `socket,path=${qmpPath},id=char0`,
      '-mon',
      'chardev=char0,mode=control',
      '-display',
      'none',
      '-nodefaults',
      '-machine',
      'none',
      '-accel',
      'qtest',
    ],
  });
  try {
    const [qtest, qmp] = await Promise.all([d.qtest, d.qmp]);
    const lines = lineReader(qmp);
    await lines();
    const send = async (req: string): Promise<string> => {
      qmp.write(req + '\n');
      return (await lines()).split(d.dir).join('DIR');
    };
    await send('{"execute": "qmp_capabilities"}');
    const replies: string[] = [];
    for (const q of QUERIES) replies.push(await send(q));
    qtest.destroy();
    qmp.destroy();
    await d.child.stop();
    return replies;
  } finally {
    d.cleanup();
  }
}

function lineReader(sock: Socket): () => Promise<string> {
  let buf = '';
  const queue: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  sock.setEncoding('latin1');
  sock.on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i + 1);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(line);
      else queue.push(line);
    }
  });
  return () => {
    const l = queue.shift();
    return l !== undefined ? Promise.resolve(l) : new Promise((r) => waiters.push(r));
  };
}

await withOracle(t, "libqtest's launch", async (tv) => {
  tv.same(await libqtest('qtestd'), await libqtest('oracle'));
});
