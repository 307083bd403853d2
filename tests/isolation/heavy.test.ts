/**
 * Isolation across sessions, on a real qtestd with worker processes: one session runs a heavy
 * request (a faulting 16 MiB DMA; a 128 MiB `b64read` over ECAM) while 50 others run small
 * requests and a prober asks /healthz. Until the heavy reply arrives, /healthz answers many times
 * (the accepting process never waits on a session), every session placed on another worker
 * completes many requests, and so does every session sharing the heavy one's worker (the DMA and
 * the bulk read run in slices). Then
 * SIGTERM during a heavy request: the service exits 0 while the request is still running (its
 * reply never comes). Progress assertions only; the safety nets are minutes.
 */
import t from 'tap';
import { httpGet, sleep, startQtestd } from '../service/fixtures/harness.js';
import type { LineClient } from '../service/fixtures/harness.js';
import { faultingSmmuLines, iommuDmaLines, SMMU_ARGS } from '../helpers/hardening/machine-driver.js';

t.setTimeout(15 * 60_000);

const HEAVY = 'b64read 0x4010000000 0x8000000';
const OTHERS = 50;
const MANY = 10;

interface Listed {
  id: string;
  pid: number;
}

interface Heavy {
  name: string;
  /** The heavy session's first line. */
  first: string;
  /** Small requests before the heavy one (answered before it starts). */
  prepare: string[];
  request: string;
  reply: RegExp;
}

const [dmaTrigger, dmaResult] = iommuDmaLines(16 << 20).slice(-2) as [string, string];
const HEAVIES: Heavy[] = [
  {
    name: 'a faulting 16 MiB iommu-testdev DMA',
    first: `#!qtestd id=heavy ${SMMU_ARGS.join(' ')}`,
    prepare: [...faultingSmmuLines(), ...iommuDmaLines(16 << 20).slice(0, -2)],
    request: dmaTrigger,
    // completes, or (on a very busy machine) meets the service's per-request wall-time budget
    reply: /^OK 0x0000000000000000$|^FAIL work budget exceeded: /,
  },
  {
    name: 'a 128 MiB b64read over ECAM',
    first: '#!qtestd id=heavy',
    prepare: [],
    request: HEAVY,
    reply: /^OK [A-Za-z0-9+/]+=*$|^FAIL work budget exceeded: /,
  },
];

for (const h of HEAVIES)
  t.test(`${h.name} does not stall the other sessions, nor /healthz`, async (t) => {
    const q = await startQtestd({ args: ['--workers', '2'] });
    t.teardown(() => q.dispose());
    const heavy = await q.tcp();
    t.equal(await heavy.request(h.first), 'OK');
    if (h.prepare.length)
      t.ok(
        (await heavy.pipeline(h.prepare)).every((r) => r.startsWith('OK')),
        'the heavy session is set up',
      );
    const others: LineClient[] = [];
    for (let i = 0; i < OTHERS; i++) {
      const c = i % 2 ? await q.unix() : await q.tcp();
      t.equal(await c.request(`#!qtestd id=o${i}`), 'OK');
      others.push(c);
    }
    const listed = JSON.parse((await q.http('/sessions')).body) as Listed[];
    const pidOf = new Map(listed.map((s) => [s.id, s.pid]));
    const heavyPid = pidOf.get('heavy');
    t.equal(new Set(listed.map((s) => s.pid)).size, 2, 'the sessions are spread over both workers');

    let heavyDone = false;
    const heavyReply = heavy.request(h.request, 15 * 60_000).then((r) => {
      heavyDone = true;
      return r;
    });
    const counts = new Array<number>(OTHERS).fill(0);
    const small = others.map(async (c, i) => {
      while (!heavyDone) {
        const v = `0x${(i * 1000 + counts[i]!).toString(16).padStart(16, '0')}`;
        await c.request(`writeq 0x40000000 ${v}`, 15 * 60_000);
        if ((await c.request('readq 0x40000000', 15 * 60_000)) !== `OK ${v}`) return false;
        counts[i]!++;
      }
      return true;
    });
    let health = 0;
    const prober = (async () => {
      while (!heavyDone) {
        if ((await httpGet(q.httpPort, '/healthz')).status === 200) health++;
        await sleep(10);
      }
    })();
    const reply = await heavyReply;
    t.match(reply, h.reply, `the heavy request ends: ${reply.slice(0, 60)}`);
    if (h.prepare.length) t.match(await heavy.request(dmaResult), /^OK 0x00000000dead0002$/, 'DMA_TX_FAIL');
    t.equal(await heavy.request('endianness'), 'OK little', 'the heavy session goes on');
    await prober;
    t.same(await Promise.all(small), new Array(OTHERS).fill(true), 'every small session read back its own values');
    t.ok(health >= MANY, `/healthz answered ${health} times while the heavy request ran`);
    const elsewhere = others.map((_, i) => i).filter((i) => pidOf.get(`o${i}`) !== heavyPid);
    const beside = others.map((_, i) => i).filter((i) => pidOf.get(`o${i}`) === heavyPid);
    t.ok(elsewhere.length > 0, `${elsewhere.length} sessions run on the other worker`);
    t.ok(beside.length > 0, `${beside.length} sessions share the heavy session's worker`);
    for (const i of elsewhere) t.ok(counts[i]! >= MANY, `o${i} (another worker) completed ${counts[i]} requests`);
    // Sessions sharing the heavy session's worker progress because its work runs in slices.
    for (const i of beside)
      t.ok(counts[i]! >= MANY, `o${i} (the heavy session's worker) completed ${counts[i]} requests`);
    for (const c of [heavy, ...others]) c.destroy();
  });

t.test('SIGTERM during a heavy request: exit 0 before the request could finish', async (t) => {
  const q = await startQtestd({ args: ['--workers', '2'] });
  t.teardown(() => q.dispose());
  const heavy = await q.tcp();
  t.equal(await heavy.request('#!qtestd id=heavy'), 'OK');
  t.equal(await heavy.request('endianness'), 'OK little');
  const before = heavy.replyCount;
  const heavyReply = heavy.request(HEAVY, 15 * 60_000);
  // the request is running once the worker stops answering /sessions in time; give it a moment
  await sleep(500);
  const exit = await q.signal('SIGTERM');
  t.equal(exit.code, 0, 'exit code 0');
  t.equal(exit.signal, null, 'not killed by the signal');
  // The worker keeps answering while the request runs in slices: it may tell the connection
  // `FAIL shutting down` (never the request's own reply, which could not be ready this soon).
  const got = heavy.replyCount - before;
  t.ok(got <= 1, 'at most one line came back');
  if (got === 1)
    t.equal(await heavyReply, 'FAIL shutting down', 'the in-flight request is answered FAIL shutting down');
  else heavyReply.catch(() => {});
  t.equal(q.stdout, '', 'nothing on stdout');
  heavy.destroy();
});
