/**
 * Sessions sharing one worker take turns (src/session/sliced-link.ts): with `--workers 1`, three
 * sessions keep heavy sliced work going — memsets over ECAM (every 4 bytes a config-space
 * dispatch), a read over ECAM, and a flood of 100,000 pipelined small requests — while a probe
 * session sends `readl` after `readl`. The probe gets K replies before any heavy request is
 * answered: round-robin between sessions, not a queue of jobs. (How far the flood gets meanwhile
 * depends on how fast this test process reads it, so it is load here, not asserted on.) Then
 * every heavy request still gets its exact reply. Order is asserted, never durations.
 */
import t from 'tap';
import { ECAM_BASE, hex, startQtestd } from './fixtures/harness.js';
import type { LineClient, QtestdProcess } from './fixtures/harness.js';

/**
 * Probe replies wanted while the heavy work runs. Without turns the probe's first reply already
 * waits for every heavy job; a few replies show the turns, and under load (this process also
 * reads the flood's replies, so a probe round trip can take long) the heavy jobs must not end
 * within K round trips: 3 leaves the memset seconds of margin per round trip (10 did not, once).
 */
const K = 3;
const FLOOD = 100_000;

// a safety net only (minutes): the heavy requests take seconds on a loaded machine
t.setTimeout(5 * 60_000);

const q: QtestdProcess = await startQtestd({ args: ['--workers', '1'], startTimeoutMs: 120_000 });
t.teardown(() => q.dispose());

t.test('a small request waits for turns, not for other sessions’ jobs', async (t) => {
  const open = async (): Promise<LineClient> => {
    const c = await q.tcp();
    // the session exists before the heavy work starts
    t.equal(await c.request('endianness'), 'OK little');
    return c;
  };
  const probe = await open();
  const memset = await open();
  const read = await open();
  const flood = await open();

  const size = 0x400000;
  const heavy = [
    memset.pipeline([`memset ${hex(ECAM_BASE)} 0x300000 0x0`, 'endianness']),
    // a memset first: a read alone may be light enough to end within K probe round trips
    read.pipeline([`memset ${hex(ECAM_BASE)} 0x100000 0x0`, `read ${hex(ECAM_BASE)} ${hex(BigInt(size))}`]),
  ];
  const floodDone = flood.pipeline(Array.from({ length: FLOOD }, () => 'readl 0x40000000'));
  // replies past the `endianness` each session answered when it opened
  const firstHeavy = (): number => memset.replyCount + read.replyCount - 2;

  for (let k = 0; k < K; k++) t.equal(await probe.request('readl 0x40000000'), 'OK 0x0000000000000000');
  t.equal(
    firstHeavy(),
    0,
    `the probe got ${K} replies before any heavy request was answered (memset ${memset.replyCount - 1}, read ${read.replyCount - 1})`,
  );

  const [m, r] = await Promise.all(heavy);
  t.same(m, ['OK', 'OK little'], 'the memset over ECAM completed');
  t.equal(r![0], 'OK');
  t.equal(r![1]!.length, 5 + 2 * size, 'the read over ECAM gave its whole reply');
  t.match(r![1]!, /^OK 0x[0-9a-f]+$/);
  const f = await floodDone;
  t.equal(f.length, FLOOD);
  t.ok(
    f.every((l) => l === 'OK 0x0000000000000000'),
    'every flood request answered',
  );
  for (const c of [probe, memset, read, flood]) c.destroy();
});
