/**
 * The service's memory budget on a real qtestd (one worker): guest RAM touched, unfinished lines
 * and queued replies count against `--memory-budget`; past it a new session is refused with a
 * clear `FAIL memory budget reached …` (TCP and WebSocket) while the sessions already open carry
 * on; when sessions close the room comes back, and a worker left with no session and memory it
 * cannot give back is replaced, so the system gets the RAM back (checked with VmRSS).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { sleep, startQtestd } from './fixtures/harness.js';
import type { LineClient } from './fixtures/harness.js';

t.setTimeout(10 * 60_000);

const MiB = 1024 * 1024;
const q = await startQtestd({ args: ['--workers', '1', '--memory-budget', String(200 * MiB)] });
t.teardown(() => q.dispose());

function workerPid(): number {
  return Number(readFileSync(`/proc/${q.proc.pid}/task/${q.proc.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
}
function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}
/** Touch `mib` MiB of guest RAM at `at` MiB into RAM. */
async function touch(c: LineClient, at: number, mib: number): Promise<void> {
  const r = await c.pipeline(
    Array.from({ length: mib / 16 }, (_, i) => `memset ${0x40000000 + (at + i * 16) * MiB} ${16 * MiB} 0x5a`),
  );
  for (const x of r) if (x !== 'OK') throw new Error(`memset: ${x}`);
}

t.test('past the budget new sessions are refused; open ones carry on; room comes back', async (t) => {
  const a = await q.tcp();
  t.equal(await a.request('#!qtestd id=big -m 1G'), 'OK');
  await touch(a, 0, 160);
  const b = await q.tcp();
  t.equal(await b.request('#!qtestd id=small'), 'OK', 'below the budget a session starts');
  await touch(a, 160, 64);
  const c = await q.tcp();
  t.match(
    await c.request('#!qtestd id=refused'),
    /^FAIL memory budget reached \(2\d\d MiB of 200 MiB in use by the sessions of this worker; --memory-budget 209715200\); try again later$/,
    'past it: refused with the reason',
  );
  t.equal((await c.closed).kind, 'end', 'and the connection closed (a refused first line closes it)');
  c.destroy();
  const w = await q.ws('id=refused-ws');
  t.match(await w.next(), /^FAIL memory budget reached/, 'a WebSocket session too');
  t.equal(await a.request('read 0x40000000 0x4'), 'OK 0x5a5a5a5a', 'the big session carries on');
  t.equal(await b.request('endianness'), 'OK little', 'the small one too');
  t.equal((await q.http('/healthz')).status, 200);

  const peakPid = workerPid();
  const peak = rssMiB(peakPid);
  t.ok(peak > 200, `the worker holds the RAM (${Math.round(peak)} MiB)`);
  a.destroy();
  await a.closed;
  let d: LineClient | undefined;
  for (let k = 0; k < 600 && !d; k++) {
    const x = await q.tcp();
    if ((await x.request('#!qtestd id=after')) === 'OK') d = x;
    else {
      x.destroy();
      await sleep(100);
    }
  }
  t.ok(d, 'once the big session closed, a new one starts');
  d!.destroy();
  b.destroy();
  await b.closed;

  // no session left: the worker that held the RAM is replaced, and the system has it back
  let now = peakPid;
  for (let k = 0; k < 1200 && now === peakPid; k++) {
    await sleep(100);
    now = workerPid();
  }
  t.not(now, peakPid, 'the worker was replaced');
  let after = Infinity;
  for (let k = 0; k < 100 && !(after < peak - 150); k++) {
    await sleep(100);
    after = rssMiB(workerPid());
  }
  t.ok(after < peak - 150, `RSS went from ${Math.round(peak)} to ${Math.round(after)} MiB`);
  const e = await q.tcp();
  t.equal(await e.request('#!qtestd id=fresh'), 'OK', 'sessions start on the fresh worker');
  t.equal(await e.request('read 0x40000000 0x4'), 'OK 0x00000000');
  e.destroy();
  t.match(
    q.logRecords().filter((r) => r.event === 'worker-exit'),
    [],
    'a recycle is not a worker death',
  );
});
