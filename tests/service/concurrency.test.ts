/**
 * 200 concurrent sessions on one real qtestd process, over TCP, UNIX sockets and WebSockets
 * mixed. Every session writes its own pattern at the same guest addresses, in interleaved
 * rounds, and reads back only its own values (isolation). With an `edu` device available each
 * session also moves its pattern through edu's DMA engine. Meanwhile misbehaving connections
 * (garbage, an over-long line, NUL bytes, a disconnect in the middle of a line) come and go,
 * and nobody else notices.
 */
import t from 'tap';
import {
  eduCopy,
  eduSetup,
  hex,
  LineClient,
  parsePrometheus,
  pattern,
  probeEdu,
  RAM_BASE,
  sleep,
  startQtestd,
} from './fixtures/harness.js';
import type { QtestdProcess } from './fixtures/harness.js';

const SESSIONS = 200;
const ROUNDS = 4;
const SLOTS = 16;
const BASE = RAM_BASE + 0x100000n; // same guest addresses in every session
const DMA_SRC = RAM_BASE + 0x200000n;
const DMA_DST = RAM_BASE + 0x300000n;

// a safety net only (minutes): several services start at once, each with its worker processes
t.setTimeout(5 * 60_000);

const q: QtestdProcess = await startQtestd({ args: ['--max-line', String(1 << 20)], startTimeoutMs: 120_000 });
t.teardown(() => q.dispose());
const edu = await probeEdu(q);
if (!edu.ok)
  t.fail(`edu DMA: '#!qtestd -device edu,dma_mask=…' answered '${edu.reason}' (edu missing from the device registry)`);

async function open(i: number): Promise<LineClient> {
  const useEdu = edu.ok && i % 4 === 0;
  const greet = useEdu
    ? '#!qtestd id=c' + i + ' -device edu,dma_mask=0xffffffffffffffff'
    : i % 2
      ? `#!qtestd id=c${i}`
      : undefined;
  switch (i % 3) {
    case 0: {
      const c = await q.tcp();
      if (greet) await expectOk(c, greet, i);
      return c;
    }
    case 1: {
      const c = await q.unix();
      if (greet) await expectOk(c, greet, i);
      return c;
    }
    default: {
      const params = new URLSearchParams();
      if (greet) params.set('id', `c${i}`);
      if (useEdu) params.set('device', 'edu,dma_mask=0xffffffffffffffff');
      return q.ws(params.toString());
    }
  }
}

async function expectOk(c: LineClient, greet: string, i: number): Promise<void> {
  const r = await c.request(greet);
  if (r !== 'OK') throw new Error(`session ${i}: '${greet}' answered '${r}'`);
}

/** One session's whole program; returns a list of mismatches (empty = good). */
let dmaDone = 0;
let vandalsStartedAt = Infinity;
let lastRoundsDoneAt = 0;
let vandalsDone: () => void;
/** The sessions check their final state only after every misbehaving connection is done. */
const vandalsFinished = new Promise<void>((r) => (vandalsDone = r));
let arrive: () => void;
let release: () => void;
const allArrived = new Promise<void>((r) => (arrive = r));
const released = new Promise<void>((r) => (release = r));
let arrived = 0;

async function program(i: number): Promise<string[]> {
  const bad: string[] = [];
  const c = await open(i);
  const useEdu = edu.ok && i % 4 === 0;
  await sleep((i * 7) % 50); // stagger so that rounds interleave across sessions
  for (let r = 0; r < ROUNDS; r++) {
    // write this round's values, interleaving reads of the previous round's values
    const lines: string[] = [];
    const expect: string[] = [];
    for (let s = 0; s < SLOTS; s++) {
      const addr = BASE + BigInt(s * 8);
      if (r > 0) {
        lines.push(`readq ${hex(addr)}`);
        expect.push(`OK ${hex(pattern(i, s + (r - 1) * SLOTS))}`);
      }
      lines.push(`writeq ${hex(addr)} ${hex(pattern(i, s + r * SLOTS))}`);
      expect.push('OK');
    }
    // a byte-granular window too: b64write then read back
    const bytes = Buffer.alloc(24);
    for (let k = 0; k < 3; k++) bytes.writeBigUInt64LE(pattern(i, 1000 + r * 3 + k), k * 8);
    lines.push(`b64write ${hex(BASE + 0x1000n)} 0x18 ${bytes.toString('base64')}`, `read ${hex(BASE + 0x1000n)} 0x18`);
    expect.push('OK', `OK 0x${bytes.toString('hex')}`);
    const got = await c.pipeline(lines);
    got.forEach((g, k) => {
      if (g !== expect[k]) bad.push(`session ${i} round ${r}: '${lines[k]}' → '${g}', expected '${expect[k]}'`);
    });
    if (r === 0) {
      // all sessions exist at the same time: wait here until the test has looked at /sessions
      if (++arrived === SESSIONS) arrive();
      await released;
    }
    await sleep(5 + ((i + r) % 11));
  }
  if (useEdu) {
    const data = Buffer.alloc(64);
    for (let k = 0; k < 8; k++) data.writeBigUInt64LE(pattern(i, 5000 + k), k * 8);
    const lines = [
      ...eduSetup(),
      `b64write ${hex(DMA_SRC)} 0x40 ${data.toString('base64')}`,
      ...eduCopy(DMA_SRC, 0n, 64, false),
      ...eduCopy(0n, DMA_DST, 64, true),
      `b64read ${hex(DMA_DST)} 0x40`,
    ];
    const got = await c.pipeline(lines);
    if (got[got.length - 1] !== `OK ${data.toString('base64')}`)
      bad.push(`session ${i} edu DMA: ${JSON.stringify(got)}`);
    else dmaDone++;
  }
  lastRoundsDoneAt = Math.max(lastRoundsDoneAt, performance.now());
  await vandalsFinished;
  // final state is this session's last round, nobody else's
  const finals = await c.pipeline(Array.from({ length: SLOTS }, (_, s) => `readq ${hex(BASE + BigInt(s * 8))}`));
  finals.forEach((g, s) => {
    const want = `OK ${hex(pattern(i, s + (ROUNDS - 1) * SLOTS))}`;
    if (g !== want) bad.push(`session ${i} final slot ${s}: '${g}', expected '${want}'`);
  });
  c.end();
  return bad;
}

/** Connections that misbehave; each must be answered or dropped without harming anyone. */
async function vandal(k: number): Promise<void> {
  switch (k % 5) {
    case 0: {
      const c = await q.tcp();
      const r = await c.pipeline(['garbage here', 'readq', 'writeq 0x40000000', 'frobnicate 1 2 3 4 5 6 7']);
      for (const l of r) if (!/^(FAIL|ERR)/.test(l)) throw new Error(`garbage answered '${l}'`);
      c.destroy();
      return;
    }
    case 1: {
      const c = await q.unix();
      c.write('readq 0x40000000 \0\0\0\n');
      await c.next();
      c.write(Buffer.from([0, 0, 0, 0x0a, 0xff, 0xfe, 0x0a]));
      await c.next();
      c.destroy();
      return;
    }
    case 2: {
      const c = await q.tcp();
      await c.request('#!qtestd');
      c.write('x'.repeat((1 << 20) + 100) + '\n');
      const l = await c.next();
      if (!l.startsWith('FAIL')) throw new Error(`huge line answered '${l}'`);
      const after = await c.request('readq 0x40000000');
      if (after !== 'OK 0x0000000000000000') throw new Error(`after the huge line: '${after}'`);
      c.destroy();
      return;
    }
    case 3: {
      const c = await q.tcp();
      await c.request('writeq 0x40100000 0xdead');
      c.write('writeq 0x40100008 0xbe'); // no newline: disconnect mid-line
      await sleep(5);
      c.destroy();
      return;
    }
    default: {
      const c = await q.ws();
      c.write('readq 0x40100000\0');
      await c.next();
      c.destroy(); // abrupt WebSocket termination
    }
  }
}

t.test(`${SESSIONS} concurrent sessions over TCP, UNIX and WebSocket stay isolated`, async (t) => {
  const t0 = performance.now();
  // the misbehaving connections start once all sessions exist (so that /sessions can be
  // checked exactly) and run while the sessions go through their remaining rounds
  const vandals = (async () => {
    await released;
    vandalsStartedAt = performance.now();
    try {
      await Promise.all(Array.from({ length: 25 }, (_, k) => sleep(k * 2).then(() => vandal(k))));
    } finally {
      vandalsDone();
    }
  })();
  const all = Promise.all(Array.from({ length: SESSIONS }, (_, i) => program(i)));
  await Promise.race([allArrived, all]);
  const listed = JSON.parse((await q.http('/sessions')).body) as Array<{
    id: string;
    transport: string;
    qmp: string;
    ramTouchedBytes: number;
  }>;
  t.equal(listed.length, SESSIONS, `/sessions lists all ${SESSIONS} sessions at once`);
  t.same(new Set(listed.map((s) => s.transport)), new Set(['tcp', 'unix', 'websocket']), 'all three transports in use');
  t.equal(new Set(listed.map((s) => s.id)).size, SESSIONS, 'session ids are unique');
  t.ok(
    listed.some((s) => s.id === 'c1' && s.qmp.endsWith('/c1.qmp')),
    'a named session keeps its id and QMP path',
  );
  t.ok(
    listed.every((s) => s.ramTouchedBytes > 0),
    'every session touched its own RAM',
  );
  release();
  const results = await all;
  await vandals;
  t.ok(vandalsStartedAt < lastRoundsDoneAt, 'the misbehaving connections ran while the sessions were busy');
  const bad = results.flat();
  t.same(bad.slice(0, 20), [], 'every session read back exactly its own values');
  t.equal(bad.length, 0, `${bad.length} mismatches`);
  t.comment(
    `${SESSIONS} sessions × ${ROUNDS} rounds (${edu.ok ? 'with' : 'without'} edu DMA) in ${Math.round(performance.now() - t0)} ms`,
  );

  // every session went away with its connection
  // poll (progress, not speed): the 2-minute bound is only a safety net
  for (let k = 0; k < 6000 && JSON.parse((await q.http('/sessions')).body).length > 0; k++) await sleep(20);
  t.same(JSON.parse((await q.http('/sessions')).body), [], '/sessions is empty again');
  const m = parsePrometheus((await q.http('/metrics')).body);
  t.equal(m.samples.get('qtestd_sessions_active'), 0);
  t.ok(m.samples.get('qtestd_sessions_total')! >= SESSIONS, 'sessions_total counts them all');
  t.ok(m.samples.get('qtestd_qtest_requests_total{reply="ok"}')! >= SESSIONS * ROUNDS * SLOTS, 'ok replies counted');
  t.ok(m.samples.get('qtestd_qtest_requests_total{reply="fail"}')! > 0, 'FAIL replies of the vandals counted');
  t.equal(m.samples.get('qtestd_errors_total'), 0, 'no internal errors');
  t.equal(q.stdout, '', 'nothing on stdout');
  t.notOk(q.exitInfo, 'still running');
});

t.test(
  'edu DMA in the concurrent sessions',
  { skip: edu.ok ? false : `no edu device yet (${edu.reason})` },
  async (t) => {
    t.equal(dmaDone, Math.ceil(SESSIONS / 4), 'every fourth session moved its pattern RAM → edu → RAM');
  },
);
