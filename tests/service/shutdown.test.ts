/**
 * SIGTERM on a real qtestd with sessions open on every transport, some idle, some in the middle
 * of a long pipeline: every reply that arrives is the right one, in order and whole (no line cut
 * short), followed by one `FAIL shutting down` line on every open qtest connection (a session's
 * QMP monitor gets QEMU's SHUTDOWN event, reason host-signal), every connection then closes
 * cleanly (EOF / WebSocket close, not a reset), the process
 * exits 0 (without waiting for the stuck reader: the file's minute-scale timeout is the safety net,
 * no wall-clock bound), removes its UNIX socket and never wrote to stdout.
 */
import { existsSync } from 'node:fs';
import t from 'tap';
import type { Test } from 'tap';
import { hex, pattern, sleep, startQtestd } from './fixtures/harness.js';
import { within } from '../helpers/processes.js';
import type { LineClient } from './fixtures/harness.js';

t.setTimeout(300000);

/**
 * A long program whose every reply is known: writeq of a pattern, then readq of it, and now and
 * then a 64 KiB `read` whose 128 KiB reply fills any socket buffer (so the server must block).
 */
const BIG = 0x10000;
const BIG_REPLY = 'OK 0x' + '00'.repeat(BIG);
function bigProgram(seed: number, pairs: number): { lines: string[]; expect: string[] } {
  const lines: string[] = [];
  const expect: string[] = [];
  for (let k = 0; k < pairs; k++) {
    const addr = 0x40000000n + BigInt((k % 4096) * 8);
    const v = pattern(seed, k);
    lines.push(`writeq ${hex(addr)} ${hex(v)}`, `readq ${hex(addr)}`);
    expect.push('OK', `OK ${hex(v)}`);
    if (k % 16 === 15) {
      lines.push(`read 0x40200000 ${hex(BigInt(BIG))}`);
      expect.push(BIG_REPLY);
    }
  }
  return { lines, expect };
}

const SHUTDOWN_LINE = 'FAIL shutting down';

function checkPrefix(t: Test, what: string, c: LineClient, expect: string[]): void {
  const all = c.received.filter((l) => !l.startsWith('IRQ '));
  t.equal(all[all.length - 1], SHUTDOWN_LINE, `${what}: the last line is '${SHUTDOWN_LINE}'`);
  const got = all.slice(0, -1);
  let firstBad = -1;
  for (let k = 0; k < got.length; k++) {
    if (got[k] !== expect[k]) {
      firstBad = k;
      break;
    }
  }
  t.equal(
    firstBad,
    -1,
    `${what}: ${got.length}/${expect.length} replies, all correct and in order${firstBad >= 0 ? ` (reply ${firstBad}: '${got[firstBad]}' vs '${expect[firstBad]}')` : ''}`,
  );
  t.ok(got.length <= expect.length, `${what}: no extra replies`);
  t.equal(
    c.closedHow?.kind,
    'end',
    `${what}: closed cleanly${c.closedHow?.error ? ` (got ${c.closedHow.error.message})` : ''}`,
  );
  t.equal(c.closedHow?.partial, '', `${what}: no reply cut short`);
}

async function scenario(t: Test, pairs: number, stall: boolean): Promise<void> {
  // A grace period (minutes: a safety net) that a slow reader on a busy machine stays within, so
  // that every reply can arrive; the process exits as soon as every peer closed. The grace
  // running out is the last test's subject.
  const q = await startQtestd({ args: ['--shutdown-grace', '240'] });
  t.teardown(() => q.dispose());
  const idleTcp = await q.tcp();
  t.equal(await idleTcp.request('#!qtestd id=idle'), 'OK');
  const idleUnix = await q.unix();
  t.equal(await idleUnix.request('endianness'), 'OK little');
  const idleWs = await q.ws('id=idlews');
  t.equal(await idleWs.request('endianness'), 'OK little');
  const greeting = await q.tcp(); // connected, nothing sent yet
  const qmp = await q.qmpSocket('idle');
  const qmpGreeting = await qmp.next();
  qmp.write('{"execute": "qmp_capabilities"}\n');
  t.equal((await qmp.next()).trimEnd(), '{"return": {}}', 'QMP monitor of session idle negotiated');

  const busy = [await q.tcp(), await q.unix(), await q.ws()];
  const programs = busy.map((_, i) => bigProgram(i + 1, pairs));
  // The whole program goes out at once while the clients do not read their replies, so the
  // server fills the pipe, blocks, and still holds requests it received and has not run when
  // the signal comes. The clients start reading again shortly after the signal; one never reads
  // again and goes away once the others are done (the service waits for it until then).
  const stuck = stall ? await q.tcp() : undefined;
  if (stuck) {
    stuck.pauseReading();
    stuck.pipeline(programs[0].lines, 240000).catch(() => {});
  }
  if (stall) for (const c of busy) c.pauseReading();
  busy.forEach((c, i) => {
    c.pipeline(programs[i].lines, 240000).catch(() => {});
  });
  await sleep(stall ? 300 : 20);
  const exited = q.signal('SIGTERM');
  if (stall) {
    await sleep(50);
    for (const c of busy) c.resumeReading();
  }
  await Promise.all([idleTcp, idleUnix, idleWs, greeting, qmp, ...busy].map((c) => within(c.closed, 120000)));
  stuck?.destroy();
  const exit = await exited;
  t.equal(exit.code, 0, 'exit code 0');
  t.equal(exit.signal, null, 'not killed by the signal');
  t.comment(`exited ${Math.round(exit.ms)} ms after SIGTERM`);

  busy.forEach((c, i) => checkPrefix(t, ['TCP', 'UNIX', 'WebSocket'][i] + ' pipeline', c, programs[i].expect));
  t.comment(
    `replies before the close: ${busy.map((c, i) => `${c.received.length}/${programs[i].lines.length}`).join(', ')}`,
  );
  // The clients stop reading, so the server blocks on a full pipe and the signal comes mid-pipeline;
  // how much fits before that depends on the kernel's buffers (TCP on loopback autotunes to
  // megabytes, a WebSocket client may buffer everything), the UNIX socket's are small: at least one
  // pipeline, whatever the machine's speed, is cut by the signal.
  if (stall)
    t.ok(
      busy.some((c, i) => c.received.length < programs[i].lines.length),
      'the signal came in the middle of a pipeline',
    );
  for (const [what, c] of [
    ['idle TCP', idleTcp],
    ['idle UNIX', idleUnix],
    ['idle WebSocket', idleWs],
    ['greeting', greeting],
  ] as const) {
    t.equal(c.received[c.received.length - 1], SHUTDOWN_LINE, `${what}: got '${SHUTDOWN_LINE}'`);
    t.equal(c.closedHow?.kind, 'end', `${what}: closed cleanly`);
    t.equal(c.closedHow?.partial, '', `${what}: nothing cut short`);
  }
  t.match(JSON.parse(qmpGreeting), { QMP: Object });
  const events = qmp.received.slice(2).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(events.length, 1, 'QMP: one message after the handshake');
  t.match(
    events[0],
    { event: 'SHUTDOWN', data: { guest: false, reason: 'host-signal' }, timestamp: { seconds: Number } },
    'QMP: the SHUTDOWN event QEMU sends on SIGTERM, then the close',
  );
  t.equal(qmp.closedHow?.kind, 'end', 'QMP: closed cleanly');
  t.notOk(existsSync(q.unixPath), 'the UNIX socket is removed');
  t.equal(q.stdout, '', 'nothing on stdout');
}

t.test('SIGTERM with open sessions in the middle of long pipelines, server blocked on full pipes', (t) =>
  scenario(t, 2000, true),
);
t.test('SIGTERM while the server is busy answering', (t) => scenario(t, 2000, false));
t.test('SIGTERM with short pipelines that may finish first', (t) => scenario(t, 50, false));

t.test('SIGTERM with a client that never reads: the grace period (default) runs out, exit 0', async (t) => {
  const q = await startQtestd();
  t.teardown(() => q.dispose());
  const ok = await q.tcp();
  t.equal(await ok.request('endianness'), 'OK little');
  const stuck = await q.unix();
  stuck.pauseReading();
  // 64 KiB reads of RAM, 128 KiB replies each: the UNIX socket's buffers fill, the server blocks
  const lines = Array.from({ length: 64 }, () => `read 0x40200000 ${hex(BigInt(BIG))}`);
  stuck.pipeline(lines, 240000).catch(() => {});
  await sleep(200);
  const exit = await q.signal('SIGTERM');
  t.equal(exit.code, 0, 'exit code 0');
  t.equal(exit.signal, null, 'not killed by the signal');
  await within(ok.closed, 120000);
  t.same(ok.received, ['OK little', SHUTDOWN_LINE], 'the reading client got its FAIL line');
  stuck.resumeReading();
  const how = await within(stuck.closed, 120000);
  t.ok(how, `the stuck client's connection is gone (${how?.kind})`);
  t.ok(stuck.received.length < lines.length, 'it did not get every reply');
  t.equal(q.stdout, '', 'nothing on stdout');
});
