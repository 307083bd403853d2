/**
 * The service's memory budget on a real qtestd: guest RAM touched, unfinished lines and queued
 * replies count against each worker's share of `--memory-budget`. Past it, a request that needs
 * more gets `FAIL memory budget exceeded: …` before touching memory, a new session is refused
 * with `FAIL memory budget reached …` (TCP and WebSocket), and the sessions already open carry on
 * with small requests; closing sessions gives the room back (new writes succeed again), and a
 * worker left with no session and memory it cannot give back is replaced, so the system gets the
 * RAM back (checked with VmRSS). A client that never reads its replies is held back (its queued
 * replies stay bounded) without a refusal.
 */
import t from 'tap';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { sleep, startQtestd } from './fixtures/harness.js';
import type { LineClient, QtestdProcess } from './fixtures/harness.js';

t.setTimeout(10 * 60_000);

const MiB = 1024 * 1024;
const RAM = 0x40000000;

function workerPids(q: QtestdProcess): number[] {
  return readFileSync(`/proc/${q.proc.pid}/task/${q.proc.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
}
function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}
/** The service's memory samples from /metrics. */
async function memoryMetrics(
  q: QtestdProcess,
): Promise<{ ram: number; buffered: number; budget: number; refusals: number }> {
  // only our samples: prom-client prints a NaN event-loop lag as `Nan`, which the strict parser refuses
  const text = (await q.http('/metrics')).body;
  const samples = new Map<string, number>();
  for (const m of text.matchAll(/^(qtestd_memory_\S+) (\S+)$/gm)) samples.set(m[1]!, Number(m[2]));
  return {
    ram: samples.get('qtestd_memory_in_use_bytes{kind="guest-ram"}')!,
    buffered: samples.get('qtestd_memory_in_use_bytes{kind="buffered"}')!,
    budget: samples.get('qtestd_memory_budget_bytes')!,
    refusals: samples.get('qtestd_memory_budget_refusals_total')!,
  };
}
/** Touch `mib` MiB of guest RAM at `at` MiB into RAM; the replies. */
function touch(c: LineClient, at: number, mib: number): Promise<string[]> {
  return c.pipeline(Array.from({ length: mib / 16 }, (_, i) => `memset ${RAM + (at + i * 16) * MiB} ${16 * MiB} 0x5a`));
}

t.test('one worker: requests past the share fail cleanly, sessions carry on, room comes back', async (t) => {
  const q = await startQtestd({ args: ['--workers', '1', '--memory-budget', String(200 * MiB)] });
  t.teardown(() => q.dispose());
  const share =
    /^\((\d+) MiB of 200 MiB in use by the sessions of this worker; --memory-budget 209715200 over 1 worker\)$/;
  const a = await q.tcp();
  t.equal(await a.request('#!qtestd id=big -m 1G'), 'OK');
  t.same(await touch(a, 0, 160), Array(10).fill('OK'));
  const b = await q.tcp();
  t.equal(await b.request('#!qtestd id=small'), 'OK', 'below the budget a session starts');
  t.equal(await b.request(`writel ${RAM} 0x11223344`), 'OK');

  const before = await memoryMetrics(q);
  t.equal(await a.request(`read ${RAM + 512 * MiB} 0x10000`), `OK 0x${'00'.repeat(0x10000)}`);
  t.equal((await memoryMetrics(q)).ram, before.ram, 'reading never-written RAM allocates nothing');

  const more = await touch(a, 160, 64);
  const failed = more.filter((r) => r !== 'OK');
  t.ok(
    failed.length > 0,
    `past the share memsets fail (${more.filter((r) => r === 'OK').length} of 4 went through; each whole or not at all)`,
  );
  for (const r of failed) {
    const m =
      /^FAIL memory budget exceeded: 4096 new pages of mach-virt\.ram \(16 MiB\) would pass this worker's share (.*)$/.exec(
        r,
      );
    t.ok(m && share.test(m[1]!), r);
  }
  const full = await memoryMetrics(q);
  t.ok(full.ram <= 200 * MiB && full.ram > 190 * MiB, `guest RAM charged: ${full.ram / MiB} MiB`);
  t.equal(full.budget, 200 * MiB);

  // fill what is left in pieces of 64 KiB until one does not fit: less than 64 KiB of room remains
  const piece = Buffer.alloc(0x10000, 0x77).toString('base64');
  let last = 'OK';
  for (let k = 0; k < 256 && last === 'OK'; k++)
    last = await a.request(`b64write ${RAM + 700 * MiB + k * 0x10000} 0x10000 ${piece}`);
  t.match(last, /^FAIL memory budget exceeded: 16 new pages of mach-virt\.ram \(64 KiB\)/);
  // a write that does not fit fails before touching memory
  const fresh = RAM + 600 * MiB + 0x800;
  t.match(
    await a.request(`b64write ${fresh} 0x10000 ${Buffer.alloc(0x10000, 0xee).toString('base64')}`),
    /^FAIL memory budget exceeded: 17 new pages of mach-virt\.ram \(68 KiB\) would pass this worker's share \(/,
  );
  t.equal(
    await a.request(`b64read ${fresh} 0x10000`),
    `OK ${Buffer.alloc(0x10000).toString('base64')}`,
    'nothing was written',
  );
  t.match(
    await a.request(`read ${RAM} 0x1000000`),
    /^FAIL memory budget exceeded: read of 16777216 bytes \(32 MiB\) would pass this worker's share \(/,
    'a read whose reply would not fit is refused before it runs',
  );
  // Less than 64 KiB of room is left, plus what a's last lines and replies held while they ran
  // (an input line is charged while its request reads it): 1 MiB of new pages cannot fit.
  t.match(
    await b.request(`memset ${RAM + 0x200800} 0x100000 0x11`),
    /^FAIL memory budget exceeded: 257 new pages of mach-virt\.ram/,
    "the share is the worker's: other sessions get no room either",
  );

  const c = await q.tcp();
  t.match(
    await c.request('#!qtestd id=refused'),
    /^FAIL memory budget reached \(\d+ MiB of 200 MiB in use by the sessions of this worker; --memory-budget 209715200 over 1 worker\); try again later$/,
    'a new session is refused with the reason',
  );
  t.equal((await c.closed).kind, 'end', 'and the connection closed (a refused first line closes it)');
  c.destroy();
  const w = await q.ws('id=refused-ws');
  t.match(await w.next(), /^FAIL memory budget reached/, 'a WebSocket session too');

  t.equal(await a.request(`read ${RAM} 0x4`), 'OK 0x5a5a5a5a', 'the big session carries on');
  t.equal(await a.request(`readl ${RAM + 100 * MiB}`), 'OK 0x000000005a5a5a5a');
  t.equal(await b.request(`readl ${RAM}`), 'OK 0x0000000011223344', 'the small one too');
  t.equal(await b.request('endianness'), 'OK little');
  t.equal((await q.http('/healthz')).status, 200);
  t.ok((await memoryMetrics(q)).refusals >= failed.length + 5, 'refusals are counted');

  const peakPid = workerPids(q)[0]!;
  const peak = rssMiB(peakPid);
  t.ok(peak > 200 && peak < 200 + 300, `the worker holds the RAM, and not much more (${Math.round(peak)} MiB)`);
  a.destroy();
  await a.closed;
  let room = '';
  for (let k = 0; k < 600 && room !== 'OK'; k++) {
    room = await b.request(`writeq ${RAM + 0x100000} 1`);
    if (room !== 'OK') await sleep(100);
  }
  t.equal(room, 'OK', 'once the big session closed, writes to new pages succeed again');
  t.ok((await memoryMetrics(q)).ram <= 2 * 4096, "the closed session's pages are no longer charged");
  let d: LineClient | undefined;
  for (let k = 0; k < 600 && !d; k++) {
    const x = await q.tcp();
    if ((await x.request('#!qtestd id=after')) === 'OK') d = x;
    else {
      x.destroy();
      await sleep(100);
    }
  }
  t.ok(d, 'and new sessions start');
  d!.destroy();
  b.destroy();
  await b.closed;

  // no session left: the worker that held the RAM is replaced, and the system has it back
  let now = peakPid;
  for (let k = 0; k < 1200 && now === peakPid; k++) {
    await sleep(100);
    now = workerPids(q)[0]!;
  }
  t.not(now, peakPid, 'the worker was replaced');
  let after = Infinity;
  for (let k = 0; k < 100 && !(after < peak - 150); k++) {
    await sleep(100);
    after = rssMiB(workerPids(q)[0]!);
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

t.test('many sessions over two workers write fresh pages until the budget stops them', async (t) => {
  const q = await startQtestd({ args: ['--workers', '2', '--memory-budget', String(96 * MiB)] });
  t.teardown(() => q.dispose());
  const sessions: LineClient[] = [];
  for (let i = 0; i < 12; i++) {
    const c = await q.tcp();
    t.equal(await c.request(`#!qtestd id=m${i}`), 'OK');
    sessions.push(c);
  }
  // every session writes a fresh MiB per round (all sessions at once) until it is refused
  const refusedAt = new Map<number, string>();
  for (let round = 0; refusedAt.size < sessions.length && round < 200; round++) {
    const replies = await Promise.all(
      sessions.map((c, i) =>
        refusedAt.has(i) ? Promise.resolve('') : c.request(`memset ${RAM + round * MiB} ${MiB} ${i + 1}`),
      ),
    );
    replies.forEach((r, i) => {
      if (r && r !== 'OK') refusedAt.set(i, r);
    });
  }
  t.equal(refusedAt.size, sessions.length, 'every session was stopped');
  t.same(
    [...refusedAt.values()].filter(
      (r) =>
        !/^FAIL memory budget exceeded: 256 new pages of mach-virt\.ram \(1 MiB\) would pass this worker's share \(\d+ MiB of 48 MiB in use by the sessions of this worker; --memory-budget 100663296 over 2 workers\)$/.test(
          r,
        ),
    ),
    [],
    "with the budget's reason",
  );
  const m = await memoryMetrics(q);
  t.ok(m.ram <= 96 * MiB && m.ram >= 90 * MiB, `charged ${m.ram / MiB} MiB of 96`);
  t.equal(m.budget, 96 * MiB, 'the shares add up to the budget');
  for (const pid of workerPids(q)) t.ok(rssMiB(pid) < 48 + 250, `worker ${pid}: RSS ${Math.round(rssMiB(pid))} MiB`);
  for (const [i, c] of sessions.entries()) {
    t.equal(await c.request(`readb ${RAM}`), `OK 0x${(i + 1).toString(16).padStart(16, '0')}`, `m${i} answers`);
  }
  for (const c of sessions) c.destroy();
  // (while a worker whose sessions all closed is being replaced, its samples may be missing for a
  // moment: wait for the figure itself to read 0)
  let ram: number | undefined = m.ram;
  for (let k = 0; k < 600 && ram !== 0; k++) {
    await sleep(100);
    ram = (await memoryMetrics(q)).ram;
  }
  t.equal(ram, 0, 'closing the sessions gives all of it back');
});

t.test('a client that never reads: its queued replies stay bounded (backpressure)', async (t) => {
  const q = await startQtestd({ args: ['--workers', '1', '--memory-budget', String(256 * MiB)] });
  t.teardown(() => q.dispose());
  const N = 300; // 300 replies of 1.4 MB: 420 MB if they were all queued
  const flood = connect(q.tcpPort, '127.0.0.1');
  await new Promise((r) => flood.once('connect', r));
  flood.pause();
  flood.write(`#!qtestd id=flood\n${`b64read ${RAM} ${MiB}\n`.repeat(N)}`);
  const other = await q.tcp();
  t.equal(await other.request('#!qtestd id=other'), 'OK');
  let maxBuffered = 0;
  let maxRss = 0;
  for (let i = 0; i < 50; i++) {
    t.equal(await other.request(`readl ${RAM}`), 'OK 0x0000000000000000');
    if (i % 5 === 0) {
      t.equal((await q.http('/healthz')).status, 200);
      maxBuffered = Math.max(maxBuffered, (await memoryMetrics(q)).buffered);
      maxRss = Math.max(maxRss, rssMiB(workerPids(q)[0]!));
    }
  }
  t.ok(maxBuffered > 0 && maxBuffered < 16 * MiB, `queued replies counted and bounded: at most ${maxBuffered} bytes`);
  t.ok(maxRss < 250, `worker RSS stays low: ${Math.round(maxRss)} MiB`);
  let lines = 0;
  flood.on('data', (d: Buffer) => {
    for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) lines++;
  });
  flood.resume();
  for (let k = 0; k < 3000 && lines < N + 1; k++) await sleep(100);
  t.equal(lines, N + 1, 'once the client reads, every reply arrives (nothing was refused)');
  flood.destroy();
});
