/**
 * A QMP client that pipelines commands and does not read (src/protocol/qmp/endpoint.ts, "Flow"):
 * 40 `query-qmp-schema` (~230 KB of reply each, ~9 MB in all) sent in one write. The monitor
 * stops after the reply its link refuses and takes the next command once the client reads, so the
 * process holds about one reply, not forty: in the service the buffered-bytes gauge of the memory
 * budget (/metrics) stays small, over the session's UNIX QMP socket and over WebSocket; in the
 * drop-in launcher (a UNIX and a TCP monitor) the queries, each followed by `stop` + `cont`, stop
 * running while the client does not read (a second monitor counts the STOP events). Once the
 * client reads: every reply, each byte-identical to the first, and the events in their places.
 */
import t, { type Test } from 'tap';
import { connect, createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { sleep, startQtestd } from './fixtures/harness.js';
import type { QtestdProcess } from './fixtures/harness.js';
import { BASE_ARGS, QTESTD_BINARY } from '../helpers/launch.js';
import { startServerSockets } from '../helpers/processes.js';

t.setTimeout(8 * 60_000);

const MiB = 1024 * 1024;
const N = 40;
/** What the process may hold for the client: the link's high-water mark (1 MiB for WebSocket) and one reply. */
const BOUND = 2 * MiB;
const SCHEMA = '{"execute": "query-qmp-schema"}\n';

/** A raw QMP connection whose reading can be stopped: the text received, and a resume. */
interface RawQmp {
  write(text: string): void;
  /** Start reading (the connection starts paused, after its greeting). */
  resume(): void;
  text(): string;
  close(): void;
}

async function rawSocket(sock: Socket): Promise<RawQmp> {
  let text = '';
  sock.setEncoding('utf8');
  const onData = (d: string): void => {
    text += d;
  };
  sock.on('data', onData);
  for (let i = 0; i < 2000 && !text.includes('\r\n'); i++) await sleep(10);
  sock.pause();
  sock.on('error', () => {}); // the teardown may reset it
  return {
    write: (s) => sock.write(s),
    resume: () => sock.resume(),
    text: () => text,
    close: () => sock.destroy(),
  };
}

async function rawWebSocket(url: string): Promise<RawQmp> {
  const ws = new WebSocket(url);
  let text = '';
  ws.on('message', (m: Buffer) => (text += m.toString('utf8') + '\r\n'));
  ws.on('error', () => {});
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  for (let i = 0; i < 2000 && !text.includes('\r\n'); i++) await sleep(10);
  ws.pause();
  return {
    write: (s) => ws.send(s),
    resume: () => ws.resume(),
    text: () => text,
    close: () => ws.terminate(),
  };
}

/**
 * Read everything: the greeting, the capabilities reply, N schema replies, each followed by the
 * lines `after` (events with their timestamps blanked).
 */
async function readAll(t: Test, qmp: RawQmp, n: number, after: readonly string[] = []): Promise<void> {
  qmp.resume();
  const lines = (): string[] => qmp.text().split('\r\n').slice(0, -1);
  const want = 2 + n * (1 + after.length);
  for (let k = 0; k < 12000 && lines().length < want; k++) await sleep(20);
  const got = lines().map((l) => l.replace(/"timestamp": \{[^}]*\}/, '"timestamp": T'));
  t.equal(got.length, want, `every message arrives once the client reads (${qmp.text().length} bytes)`);
  t.equal(got[1], '{"return": {}}');
  const schema = got.filter((_, i) => i >= 2 && (i - 2) % (1 + after.length) === 0);
  t.ok(schema[0].startsWith('{"return": [') && schema[0].length > 100_000, 'a schema reply');
  t.equal(schema.filter((l) => l === schema[0]).length, n, `all ${n} replies byte-identical to the first`);
  const rest = got.filter((_, i) => i >= 2 && (i - 2) % (1 + after.length) !== 0);
  t.same(rest, Array.from({ length: n }, () => after).flat(), 'the other messages in their places');
}

/** The buffered-bytes gauge of the service; NaN while the worker has not answered /metrics in time. */
async function bufferedBytes(q: QtestdProcess): Promise<number> {
  const m = /^qtestd_memory_in_use_bytes\{kind="buffered"\} (\S+)$/m.exec((await q.http('/metrics')).body);
  return Number(m?.[1]);
}

async function serviceCase(t: Test, how: 'unix' | 'websocket'): Promise<void> {
  const q = await startQtestd({ args: ['--workers', '1'] });
  t.teardown(() => q.dispose());
  const token = '0123456789abcdef-flow';
  const owner = how === 'unix' ? await q.tcp() : await q.unix();
  t.equal(await owner.request(`#!qtestd id=flow qmp-token=${token}`), 'OK');
  const qmp =
    how === 'unix'
      ? await rawSocket(connect(join(q.runDir, 'flow.qmp')))
      : await rawWebSocket(`ws://127.0.0.1:${q.httpPort}/qmp?session=flow&token=${token}`);
  t.teardown(() => qmp.close());
  qmp.write(`{"execute": "qmp_capabilities"}\n${SCHEMA.repeat(N)}`);
  // by progress (the worker answers the owner's requests), with a safety bound: 10 samples that
  // show replies held for the client
  let samples = 0;
  let max = 0;
  for (let i = 0; i < 3000 && samples < 10; i++) {
    t.equal(await owner.request('readl 0x40000000'), 'OK 0x0000000000000000');
    const b = await bufferedBytes(q);
    if (Number.isFinite(b)) max = Math.max(max, b);
    if (b > 0) samples++;
    else await sleep(20);
  }
  t.equal(samples, 10, 'replies wait for the client, counted in the memory budget');
  t.ok(max < BOUND, `the worker holds at most ${max} bytes for the client (all ${N} replies: ~${N * 230} KB)`);
  await readAll(t, qmp, N);
  owner.destroy();
}

t.test('service, the session QMP socket (UNIX): the worker holds about one reply', (t) => serviceCase(t, 'unix'));
t.test('service, QMP over WebSocket: the worker holds about one reply', (t) => serviceCase(t, 'websocket'));

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const STOP_CONT = '{"execute": "stop"}\n{"execute": "cont"}\n';

for (const how of ['unix', 'tcp'] as const)
  t.test(`launcher, a ${how} monitor: the monitor stops between commands until the client reads`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'qtestd-qmpflow-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const port = how === 'tcp' ? await freePort() : 0;
    const flooded =
      how === 'unix'
        ? `unix:${join(dir, 'flood.sock')},server=on,wait=off`
        : `tcp:127.0.0.1:${port},server=on,wait=off`;
    const s = await startServerSockets({
      binary: QTESTD_BINARY,
      args: [...BASE_ARGS, '-qmp', flooded],
      env: { ...process.env, QTESTD_NO_DAEMON: '1' }, // the launched process itself (no daemon left behind)
      name: 'qtestd',
    });
    t.teardown(() => s.teardown());
    // the observer: the launch's own monitor, which sees every STOP the flooded monitor causes
    const observer = await rawSocket(s.qmp!);
    observer.resume();
    const ask = async (cmd: string): Promise<string> => {
      const before = observer.text().length;
      observer.write(cmd + '\n');
      for (let i = 0; i < 3000; i++) {
        const line = observer
          .text()
          .slice(before)
          .split('\r\n')
          .find((l) => l.startsWith('{"return"') || l.startsWith('{"error"'));
        if (line) return line;
        await sleep(10);
      }
      return '(no reply)';
    };
    const stops = (): number => observer.text().split('"event": "STOP"').length - 1;
    t.equal(await ask('{"execute": "qmp_capabilities"}'), '{"return": {}}');

    let sock: Socket | undefined;
    for (let i = 0; i < 500 && !sock; i++) {
      const c = how === 'unix' ? connect(join(dir, 'flood.sock')) : connect(port, '127.0.0.1');
      sock = await new Promise<Socket | undefined>(
        (r) => (c.once('connect', () => r(c)), c.once('error', () => r(undefined))),
      );
      if (!sock) await sleep(20);
    }
    const qmp = await rawSocket(sock!);
    t.teardown(() => qmp.close());
    // each query followed by stop + cont: the observer counts the queries the monitor ran
    qmp.write(`{"execute": "qmp_capabilities"}\n${(SCHEMA + STOP_CONT).repeat(N)}`);
    // by progress (the observer's commands are answered meanwhile), with a safety bound
    let ran = 0;
    for (let i = 0; i < 3000 && ran === 0; i++) {
      await ask('{"execute": "query-status"}');
      ran = stops();
    }
    const counts: number[] = [];
    for (let i = 0; i < 20; i++) {
      await ask('{"execute": "query-status"}');
      counts.push(stops());
      await sleep(20);
    }
    const most = Math.max(...counts);
    t.ok(
      counts.every((c) => c === most),
      `while the client does not read, the monitor stays stopped (queries run: ${counts.join(' ')})`,
    );
    // over UNIX the kernel holds less than a reply; over loopback TCP it may take several MB
    if (how === 'unix') t.ok(most <= 3, `${most} of ${N} queries ran: about one reply is waiting in the process`);
    else t.ok(most < N, `${most} of ${N} queries ran (what the kernel took, and one more)`);
    const group = [
      '{"timestamp": T, "event": "STOP"}',
      '{"return": {}}',
      '{"timestamp": T, "event": "RESUME"}',
      '{"return": {}}',
    ];
    await readAll(t, qmp, N, group);
    t.equal(stops(), N, 'read, every command ran');
    t.match(await ask('{"execute": "query-status"}'), /"status": "running"/);
  });
