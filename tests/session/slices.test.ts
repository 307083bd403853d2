/**
 * Long device work in slices (Session `slices`, src/session/sliced-link.ts): a faulting 4 MiB
 * iommu-testdev DMA and a CMDQ of 2^17 commands give byte-for-byte the replies they give when run
 * at once, while the event loop keeps turning (progress is counted, never timed); a request cut
 * short by the work budget in a later slice answers FAIL and leaves the device idle with its error
 * code; QMP waits for the request; a peer that leaves drops what it sent. Bulk reads (read,
 * b64read over ECAM, RAM, unassigned space, with and without the memtx-errors opt-in, cut short by
 * the budget) give the bytes they give at once.
 */
import t from 'tap';
import type { Test } from 'tap';
import { pino } from 'pino';
import { Session } from '../../src/session/session.js';
import type { SessionDeps } from '../../src/session/session.js';
import { parseArgv } from '../../src/config/argv.js';
import { DEFAULT_PLUGINS } from '../../src/machine/default-plugins.js';
import { DEFAULT_LIMITS } from '../../src/base/limits.js';
import { attachQmp } from '../../src/session/qmp-attach.js';
import { faultingSmmuLines, iommuDmaLines, REG, SMMU, SMMU_ARGS } from '../helpers/hardening/machine-driver.js';
import { RecordingLink } from '../helpers/session.js';
import { hexU64 as hex } from '../helpers/bytes.js';

function session(extra: Partial<SessionDeps> = {}, limits = {}): Session {
  return new Session(parseArgv([...SMMU_ARGS]).machine, {
    log: pino({ level: 'silent' }),
    plugins: DEFAULT_PLUGINS,
    limits: { ...DEFAULT_LIMITS, ...limits },
    ...extra,
  });
}

function cmdq(entries: number): string[] {
  const q = 0x50000000n;
  const smmu = (off: number) => hex(SMMU + BigInt(off));
  const log2 = Math.log2(entries);
  return [
    `memset ${hex(q)} ${hex(16 * entries)} 0x46`,
    `writeq ${smmu(REG.CMDQ_BASE)} ${hex(q | BigInt(log2))}`,
    `writel ${smmu(REG.CMDQ_PROD)} ${hex(entries - 1)}`,
    `readl ${smmu(REG.CMDQ_CONS)}`,
    `readl ${smmu(REG.GERROR)}`,
  ];
}

/**
 * Everything the session answers to `lines` sent as one chunk (or in chunks of `chunk` bytes), and
 * the event-loop turns meanwhile.
 */
async function run(s: Session, lines: string[], chunk = Infinity): Promise<{ out: string; turns: number }> {
  const link = new RecordingLink();
  const ep = s.attachQtest(link);
  const want = lines.filter((l) => l !== '').length;
  let turns = 0;
  const bytes = Buffer.from(lines.map((l) => l + '\n').join(''), 'latin1');
  for (let o = 0; o < bytes.length; o += chunk) ep.input(bytes.subarray(o, o + chunk));
  while (link.out.split('\n').filter((l) => l !== '' && !l.startsWith('IRQ')).length < want) {
    await new Promise((r) => setImmediate(r));
    turns++;
  }
  return { out: link.out, turns };
}

t.test('a faulting 4 MiB DMA in slices: the same bytes, and the event loop keeps turning', async (t) => {
  const script = [...faultingSmmuLines(), ...iommuDmaLines(4 << 20), 'endianness'];
  const once = await run(session(), script);
  const sliced = await run(session({ slices: true }), script);
  t.equal(once.turns, 0, 'at once: the replies are there when input() returns');
  t.ok(sliced.turns > 10, `in slices: the event loop turned ${sliced.turns} times before the last reply`);
  t.equal(sliced.out, once.out, 'identical replies');
  t.match(once.out, /OK 0x00000000dead0002\nOK little\n$/, 'DMA_TX_FAIL, then the next request');
});

t.test('2^17 CMD_SYNCs in slices: the same bytes', async (t) => {
  const script = [...faultingSmmuLines(), ...cmdq(1 << 17), 'endianness'];
  const once = await run(session(), script);
  const sliced = await run(session({ slices: true }), script);
  t.ok(sliced.turns > 2, `the event loop turned ${sliced.turns} times`);
  t.equal(sliced.out, once.out);
  t.match(once.out, /OK 0x000000000001ffff\nOK 0x0000000000000000\nOK little\n$/, 'all consumed, no error');
});

t.test('the budget runs out in a later slice: FAIL, DMA_TX_FAIL, disarmed; the session goes on', async (t) => {
  const s = session({ slices: true }, { requestWorkUnits: 8 << 20 });
  const { out, turns } = await run(s, [...faultingSmmuLines(), ...iommuDmaLines(4 << 20), 'endianness']);
  t.ok(turns > 0, 'it ran in slices');
  t.match(
    out,
    /FAIL work budget exceeded: the request more than 8388608 units of work[^\n]*\nOK 0x00000000dead0002\nOK little\n$/,
    'the trigger answers FAIL; DMA_RESULT = DMA_TX_FAIL',
  );
  t.equal(s.stats().workBudgetExceeded, 1);
});

t.test('QMP waits for a request running in slices, then answers', async (t) => {
  const s = session({ slices: true });
  const qmpOut: string[] = [];
  const qmpLink = new RecordingLink();
  qmpLink.write = (text: string) => (qmpOut.push(text), true);
  const qmp = attachQmp(s, qmpLink, () => {});
  qmp.input(Buffer.from('{"execute": "qmp_capabilities"}\n'));
  const link = new RecordingLink();
  const ep = s.attachQtest(link);
  ep.input(Buffer.from([...faultingSmmuLines(), ...iommuDmaLines(4 << 20)].map((l) => l + '\n').join('')));
  for (let i = 0; i < 100000 && !s.machine.work.pending; i++) await new Promise((r) => setImmediate(r));
  t.ok(s.machine.work.pending, 'the DMA is running in slices');
  const before = qmpOut.length;
  qmp.input(Buffer.from('{"execute": "query-status"}\n'));
  t.equal(qmpOut.length, before, 'the QMP command waits');
  while (qmpOut.length === before) await new Promise((r) => setImmediate(r));
  t.notOk(s.machine.work.pending, 'answered once the request ended');
  t.match(link.out, /OK 0x00000000dead0002\n$/, 'the qtest request had completed first');
});

t.test('a peer that leaves while its request runs in slices: the rest is dropped', async (t) => {
  const s = session({ slices: true });
  const link = new RecordingLink();
  const ep = s.attachQtest(link);
  ep.input(
    Buffer.from(
      [...faultingSmmuLines(), ...iommuDmaLines(4 << 20), 'writel 0x40000000 0x1234'].map((l) => l + '\n').join(''),
    ),
  );
  // the lines before the DMA may take more than one turn (SLICE_MS): wait for the DMA to start
  for (let i = 0; i < 100000 && !s.machine.work.pending; i++) await new Promise((r) => setImmediate(r));
  t.ok(s.machine.work.pending);
  ep.end();
  t.notOk(s.machine.work.pending, 'the job is dropped with the peer, not left pending');
  for (let i = 0; i < 2000 && s.machine.work.pending; i++) await new Promise((r) => setImmediate(r));
  const v = Buffer.alloc(4);
  s.machine.system.readBytes(0x40000000n, v);
  t.not(v.readUInt32LE(0), 0x1234, 'the request after the DMA never ran');
});

/** A session with the memtx-errors opt-in (bad accesses answer ERR lines). */
function memtxSession(slices: boolean): Session {
  return new Session(parseArgv([...SMMU_ARGS, '-machine', 'x-qtestd-memtx-errors=on']).machine, {
    log: pino({ level: 'silent' }),
    plugins: DEFAULT_PLUGINS,
    limits: DEFAULT_LIMITS,
    slices,
  });
}

/** `script` at once and in slices: at once it never yields, in slices it does, and the bytes are the same. */
async function sameInSlices(t: Test, script: string[]): Promise<void> {
  const once = await run(session(), script);
  const sliced = await run(session({ slices: true }), script);
  t.equal(once.turns, 0, 'at once: the replies are there when input() returns');
  t.ok(sliced.turns > 10, `in slices: the event loop turned ${sliced.turns} times before the last reply`);
  t.ok(sliced.out === once.out, `identical replies (${once.out.length} bytes)`);
  t.match(once.out, /\nOK little\n$/);
}

t.test('bulk reads in slices (ECAM, RAM, unassigned, past the end of RAM): the same bytes', async (t) => {
  const script = [
    'writeq 0x40000100 0x0123456789abcdef',
    'b64read 0x4010000000 0x300000',
    'read 0x4010000003 0x123457',
    'read 0x400000f0 0x200001',
    'b64read 0x400000f1 0x1fffff',
    'read 0x3fff0000 0x30000',
    'read 0x0fff0000 0x20000',
    'b64read 0x0fff0000 0x20000',
    'endianness',
  ];
  await sameInSlices(t, script);
});

t.test('bulk reads with the memtx-errors opt-in in slices: the same ERR lines', async (t) => {
  const script = ['read 0x3fff0000 0x30000', 'b64read 0x4010000000 0x100000', 'read 0x0 0x100000', 'endianness'];
  const once = await run(memtxSession(false), script);
  const sliced = await run(memtxSession(true), script);
  t.ok(sliced.turns > 0);
  t.ok(sliced.out === once.out, 'identical replies');
});

t.test('a bulk read cut short by the budget in a later slice: the bytes of running at once', async (t) => {
  const script = ['read 0x4010000000 0x400000', 'b64read 0x40000000 0x4000000', 'endianness'];
  const limits = { requestWorkUnits: 8 << 20 };
  const once = await run(session({}, limits), script);
  const sliced = await run(session({ slices: true }, limits), script);
  t.ok(sliced.turns > 0, 'it ran in slices');
  t.ok(sliced.out === once.out, 'identical replies');
  t.match(once.out, /^FAIL work budget exceeded[^\n]*\nOK [^\n]*FAIL work budget exceeded[^\n]*\nOK little\n$/);
});

/** `size` bytes of a fixed pattern, hex (with 0x) and base64. */
function payload(size: number): { hex: string; b64: string } {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + (i >> 10)) & 0xff;
  return { hex: '0x' + b.toString('hex'), b64: b.toString('base64') };
}

t.test('bulk writes and memset in slices (RAM, ECAM, unassigned, past the end of RAM): the same bytes', async (t) => {
  const p = payload(0x300000);
  const script = [
    `write 0x40000003 0x300000 ${p.hex}`,
    'b64read 0x40000000 0x300008',
    `b64write 0x40100001 0x2ffff0 ${p.b64}`,
    'read 0x40100000 0x300000',
    `write 0x3fff0000 0x30000 ${p.hex.slice(0, 2 + 2 * 0x30000)}`,
    `b64write 0x4010000000 0x200000 ${p.b64.slice(0, (0x200000 / 3) * 4)}`,
    `write 0x0fff0000 0x20000 ${p.hex.slice(0, 2 + 2 * 0x20000)}`,
    `write 0x5ffff000 0x3000 ${p.hex.slice(0, 2 + 2 * 0x3000)}`,
    'memset 0x40001001 0x1200000 0x5a',
    'memset 0x40000000 0x20000000 0x0',
    'memset 0x3ff00000 0x300000 0x11',
    'b64read 0x40000ff0 0x40',
    'readq 0x40000000',
    'endianness',
  ];
  await sameInSlices(t, script);
});

t.test('bulk writes in 64 KiB chunks (decoded as they arrive) in slices: the bytes of one chunk at once', async (t) => {
  const p = payload(0x100000);
  const script = [
    `write 0x40000003 0x100000 ${p.hex}`,
    `b64write 0x3fff8001 0x20000 ${p.b64.slice(0, (0x20000 / 3) * 4 + 8)}`,
    `write 0x4010000000 0x30000 ${p.hex.slice(0, 2 + 2 * 0x30000)}`,
    'b64read 0x40000000 0x100008',
    'read 0x4010000000 0x100',
    'endianness',
  ];
  const once = await run(session(), script);
  const sliced = await run(session({ slices: true }), script, 65536);
  t.ok(sliced.turns > 0, 'it ran in slices');
  t.ok(sliced.out === once.out, 'identical replies');
});

t.test('bulk writes and memset with the memtx-errors opt-in in slices: the same ERR lines', async (t) => {
  const p = payload(0x100000);
  const script = [
    `write 0x3fff0000 0x30000 ${p.hex.slice(0, 2 + 2 * 0x30000)}`,
    `b64write 0x0 0x100000 ${p.b64}`,
    'memset 0x3ff00000 0x300000 0x11',
    'memset 0x0 0x200000 0x11',
    'endianness',
  ];
  const once = await run(memtxSession(false), script);
  const sliced = await run(memtxSession(true), script);
  t.ok(sliced.turns > 0);
  t.ok(sliced.out === once.out, 'identical replies');
  // unassigned space fails; flash at 0 takes writes
  t.match(once.out, /^ERR memory access failed 0x2\nOK\nERR memory access failed 0x2\nOK\nOK little\n$/);
});

t.test('a bulk write cut short by the budget in a later slice: FAIL, and the session goes on', async (t) => {
  const p = payload(0x400000);
  const script = [`b64write 0x40000000 0x400000 ${p.b64}`, 'memset 0x40000000 0x1000000 0x1', 'endianness'];
  const limits = { requestWorkUnits: 2 << 20 };
  const once = await run(session({}, limits), script);
  const sliced = await run(session({ slices: true }, limits), script);
  t.ok(sliced.turns > 0, 'it ran in slices');
  t.ok(sliced.out === once.out, 'identical replies');
  t.match(once.out, /^FAIL work budget exceeded[^\n]*\nFAIL work budget exceeded[^\n]*\nOK little\n$/);
});

t.test('another session keeps answering while a 16 MiB write runs in slices', async (t) => {
  const heavy = session({ slices: true });
  const light = session({ slices: true });
  const heavyLink = new RecordingLink();
  const lightLink = new RecordingLink();
  const he = heavy.attachQtest(heavyLink);
  const le = light.attachQtest(lightLink);
  const size = 16 << 20;
  const line = Buffer.from(
    `write 0x40000000 0x${size.toString(16)} 0x${'a5'.repeat(size)}\nreadq 0x40fffff8\n`,
    'latin1',
  );
  // as a socket would deliver it: 64 KiB chunks
  for (let o = 0; o < line.length; o += 65536) he.input(line.subarray(o, o + 65536));
  let answered = 0;
  while (!heavyLink.out.includes('\n')) {
    le.input(Buffer.from('readl 0x40000000\n'));
    await new Promise((r) => setImmediate(r));
    answered = lightLink.out.split('\n').length - 1;
  }
  // a slice is about SLICE_UNITS (1 MiB) of work: the other session answers between slices
  t.ok(answered > 8, `the other session got ${answered} replies before the write's`);
  while (heavyLink.out.split('\n').length < 3) await new Promise((r) => setImmediate(r));
  t.equal(heavyLink.out, 'OK\nOK 0xa5a5a5a5a5a5a5a5\n');
});
