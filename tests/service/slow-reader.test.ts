/**
 * A slow reader of a bulk read in the service (src/session/sliced-link.ts): a client asks for a
 * 16 MiB `read` (a 32 MiB reply) and does not read. The sliced read goes on only about 1 MiB past
 * the socket's refusal and then waits for 'drain', so the worker holds ~1 MiB of the reply, not
 * all of it: the buffered-bytes gauge of the memory budget (/metrics) stays small while another
 * session is served. Once the client reads, the whole reply arrives, byte for byte. QMP replies
 * queued for a client that does not read are counted in the same gauge.
 */
import t from 'tap';
import { connect } from 'node:net';
import { join } from 'node:path';
import { sleep, startQtestd } from './fixtures/harness.js';
import type { QtestdProcess } from './fixtures/harness.js';

t.setTimeout(5 * 60_000);

const MiB = 1024 * 1024;
const RAM = 0x40000000;
const SIZE = 16 * MiB;

/** The buffered-bytes gauge; NaN while the worker has not answered /metrics in time. */
async function bufferedBytes(q: QtestdProcess): Promise<number> {
  const text = (await q.http('/metrics')).body;
  const m = /^qtestd_memory_in_use_bytes\{kind="buffered"\} (\S+)$/m.exec(text);
  return Number(m?.[1]);
}

for (const cmd of ['read', 'b64read'] as const)
  t.test(`a client that does not read its 16 MiB ${cmd}: ~1 MiB of the reply is held, not all of it`, async (t) => {
    const q = await startQtestd({ args: ['--workers', '1'] });
    t.teardown(() => q.dispose());
    const replyBytes =
      'OK\n'.length * 3 + (cmd === 'read' ? 'OK 0x'.length + 2 * SIZE : 'OK '.length + Math.ceil(SIZE / 3) * 4) + 1;
    const slow = connect(q.tcpPort, '127.0.0.1');
    await new Promise((r) => slow.once('connect', r));
    slow.pause();
    // a pattern in the first and last page, so the reply is not all zeros
    slow.write(
      `#!qtestd id=slow\nwritel ${RAM} 0x12345678\nwritel ${RAM + SIZE - 4} 0x9abcdef0\n${cmd} ${RAM} ${SIZE}\n`,
    );
    const other = await q.tcp();
    t.equal(await other.request('#!qtestd id=other'), 'OK');

    // wait (by progress, with a safety bound) until the worker holds some of the reply, then sample
    let samples = 0;
    let max = 0;
    for (let i = 0; i < 3000 && samples < 10; i++) {
      t.equal(await other.request(`readl ${RAM}`), 'OK 0x0000000000000000');
      const b = await bufferedBytes(q);
      if (Number.isFinite(b)) max = Math.max(max, b);
      if (b > 0) samples++;
      else await sleep(20);
    }
    t.equal(samples, 10, 'the unread reply is counted in the memory budget');
    t.ok(max < 4 * MiB, `the worker holds at most ${max} bytes of the ${cmd} reply (all of it: ${replyBytes} bytes)`);

    const chunks: Buffer[] = [];
    let got = 0;
    slow.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
    });
    slow.resume();
    for (let k = 0; k < 6000 && got < replyBytes; k++) await sleep(50);
    const all = Buffer.concat(chunks);
    t.equal(all.length, replyBytes, 'once the client reads, the whole reply arrives');
    const data = Buffer.alloc(SIZE);
    data.writeUInt32LE(0x12345678, 0);
    data.writeUInt32LE(0x9abcdef0, SIZE - 4);
    const want = cmd === 'read' ? `OK 0x${data.toString('hex')}\n` : `OK ${data.toString('base64')}\n`;
    t.ok(all.subarray(9).equals(Buffer.from(want, 'latin1')), 'byte for byte');
    slow.destroy();
    other.destroy();
  });

t.test('QMP replies waiting for a client that does not read count in the memory budget', async (t) => {
  const q = await startQtestd({ args: ['--workers', '1'] });
  t.teardown(() => q.dispose());
  const owner = await q.tcp();
  t.equal(await owner.request('#!qtestd id=qs'), 'OK');
  const qmp = connect(join(q.runDir, 'qs.qmp'));
  await new Promise((r) => qmp.once('connect', r));
  qmp.pause();
  const N = 40; // 40 replies of ~230 KB
  qmp.write(`{"execute": "qmp_capabilities"}\n${'{"execute": "query-qmp-schema"}\n'.repeat(N)}`);
  // (the monitor holds about one of them: tests/service/qmp-flow.test.ts)
  let counted = NaN;
  for (let i = 0; i < 3000 && !(counted > 0); i++) {
    t.equal(await owner.request(`readl ${RAM}`), 'OK 0x0000000000000000');
    counted = await bufferedBytes(q);
    if (!(counted > 0)) await sleep(20);
  }
  t.ok(counted > 0, `the unread QMP replies are counted: ${counted} bytes`);
  let text = '';
  qmp.setEncoding('utf8').on('data', (d: string) => (text += d));
  qmp.resume();
  const returns = (): number => text.split('\n').filter((l) => l.startsWith('{"return"')).length;
  for (let k = 0; k < 6000 && returns() < N + 1; k++) await sleep(50);
  t.equal(returns(), N + 1, 'once the client reads, every reply arrives');
  let after = counted;
  for (let k = 0; k < 600 && !(after < counted); k++) {
    after = await bufferedBytes(q);
    if (!(after < counted)) await sleep(50);
  }
  t.ok(after < counted, `read, they no longer count (${after} bytes)`);
  qmp.destroy();
  owner.destroy();
});
