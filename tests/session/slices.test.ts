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

/** Everything the session answers to `lines` sent as one chunk, and the event-loop turns meanwhile. */
async function run(s: Session, lines: string[]): Promise<{ out: string; turns: number }> {
  const link = new RecordingLink();
  const ep = s.attachQtest(link);
  const want = lines.filter((l) => l !== '').length;
  let turns = 0;
  ep.input(Buffer.from(lines.map((l) => l + '\n').join(''), 'latin1'));
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
  t.ok(s.machine.work.pending);
  ep.end();
  for (let i = 0; i < 2000 && s.machine.work.pending; i++) await new Promise((r) => setImmediate(r));
  const v = Buffer.alloc(4);
  s.machine.system.readBytes(0x40000000n, v);
  t.not(v.readUInt32LE(0), 0x1234, 'the request after the DMA never ran');
});

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
  const once = await run(session(), script);
  const sliced = await run(session({ slices: true }), script);
  t.equal(once.turns, 0, 'at once: the replies are there when input() returns');
  t.ok(sliced.turns > 10, `in slices: the event loop turned ${sliced.turns} times before the last reply`);
  t.ok(sliced.out === once.out, `identical replies (${once.out.length} bytes)`);
  t.match(once.out, /\nOK little\n$/);
});

t.test('bulk reads with the memtx-errors opt-in in slices: the same ERR lines', async (t) => {
  const make = (slices: boolean): Session =>
    new Session(parseArgv([...SMMU_ARGS, '-machine', 'x-qtestd-memtx-errors=on']).machine, {
      log: pino({ level: 'silent' }),
      plugins: DEFAULT_PLUGINS,
      limits: DEFAULT_LIMITS,
      slices,
    });
  const script = ['read 0x3fff0000 0x30000', 'b64read 0x4010000000 0x100000', 'read 0x0 0x100000', 'endianness'];
  const once = await run(make(false), script);
  const sliced = await run(make(true), script);
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
