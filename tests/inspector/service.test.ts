/**
 * The inspector's HTTP routes and the dry run over the service's own WebSocket QMP, as the page
 * uses them (no browser needed): `/` and its assets are served locally and small, the register
 * layout is the model's, and x-qtestd-smmu-translate describes the S1, S2 and nested walks of a
 * machine programmed through the typed client (tests/inspector/streams.ts).
 */
import t from 'tap';
import { QtestClient } from '../../src/client/qtest-client.js';
import { httpGet, startQtestd } from '../helpers/service-process.js';
import { QmpClient, QmpError } from '../../src/client/qmp-client.js';
import { INSPECTOR_MACHINE, programStreams, STREAMS, walkDescriptors } from './streams.js';

type Obj = Record<string, unknown>;

t.test('inspector routes and dry runs through the service', async (t) => {
  const svc = await startQtestd({ machineArgs: INSPECTOR_MACHINE });
  t.teardown(() => svc.dispose());

  const page = await httpGet(svc.httpPort, '/');
  t.equal(page.status, 200);
  t.match(page.type, /^text\/html/);
  t.match(page.body, /<script type="module" src="\/inspector\/page.js"><\/script>/);
  t.notMatch(page.body, /https?:\/\/(?!localhost)/, 'no remote assets');
  const js = await httpGet(svc.httpPort, '/inspector/page.js');
  t.equal(js.status, 200);
  t.match(js.type, /^text\/javascript/);
  t.notMatch(js.body, /^\s*import\s/m, 'the page script imports nothing');
  const layout = await httpGet(svc.httpPort, '/inspector/layout.json');
  const regs = (JSON.parse(layout.body) as { registers: Record<string, Obj> }).registers;
  t.same(regs.CR0, {
    offset: 0x20,
    width: 32,
    fields: { SMMUEN: [0, 1], PRIQEN: [1, 1], EVENTQEN: [2, 1], CMDQEN: [3, 1], ATSCHK: [4, 1], VMW: [6, 3] },
  });
  const total = page.body.length + js.body.length + layout.body.length;
  t.ok(total < 100_000, `page, script and layout: ${total} bytes`);
  t.equal((await httpGet(svc.httpPort, '/healthz')).body, 'ok\n', 'the other routes are unchanged');

  const q = await QtestClient.connectWebSocket(`ws://127.0.0.1:${svc.httpPort}/qtest?id=insp-svc`);
  t.teardown(() => q.close());
  const streams = await programStreams(q);
  // The session's full monitor needs its token; the page's read-only monitor (inspect=1) does not.
  const refused = await svc.wsQmp('insp-svc').then(
    () => 'opened',
    (e: Error) => e.message,
  );
  t.equal(refused, 'HTTP 403', 'no token: no full monitor');
  const qmp = await QmpClient.connectWebSocket(`ws://127.0.0.1:${svc.httpPort}/qmp?session=insp-svc&inspect=1`);
  t.teardown(() => qmp.close());
  await qmp.negotiate();

  // stage 1: four levels, the descriptors the builder wrote, the PA
  const s1 = await translate(qmp, STREAMS.s1.sid, STREAMS.s1.input);
  t.same(s1.result, { ok: true, pa: hex(STREAMS.s1.output), mask: '0xfff' });
  const s1walk = (s1.translation as Obj[])[0]!;
  t.equal(s1walk.iotlb, 'miss');
  t.same(
    ((s1walk.walks as Obj[])[0]!.levels as Obj[]).map((l) => BigInt(l.pte as string)),
    await walkDescriptors(q, streams.s1, STREAMS.s1.input),
  );
  t.same((s1walk.wouldInsert as Obj).translatedAddr, hex(STREAMS.s1.output));

  // stage 2 only (40-bit IPA: levels 0..3)
  const s2 = await translate(qmp, STREAMS.s2.sid, STREAMS.s2.input + 0x123n);
  t.same(s2.result, { ok: true, pa: hex(STREAMS.s2.output + 0x123n), mask: '0xfff' });
  const s2levels = ((s2.translation as Obj[])[0]!.walks as Obj[])[0]!.levels as Obj[];
  t.same(
    s2levels.map((l) => l.level),
    [0, 1, 2, 3],
  );
  t.same(
    s2levels.map((l) => BigInt(l.pte as string)),
    await walkDescriptors(q, streams.s2, STREAMS.s2.input),
  );

  // nested: the CD IPA through stage 2 during the config decode, every stage-1 table IPA through
  // stage 2, then the stage-1 output through stage 2
  const n = await translate(qmp, STREAMS.nested.sid, STREAMS.nested.input + 8n);
  t.same(n.result, { ok: true, pa: hex(STREAMS.nested.output + 8n), mask: '0xfff' });
  t.equal(((n.config as Obj).lookups as Obj[]).length, 2, 'CD IPA and TTB0 IPA through stage 2');
  const nwalks = (n.translation as Obj[])[0]!.walks as Obj[];
  t.same(
    nwalks.map((w) => w.role),
    ['stage 1', 'stage 2 of the stage-1 output'],
  );
  const tableLookups = (nwalks[0]!.levels as Obj[]).map((l) => l.tableIpaTranslation as Obj | undefined);
  t.equal(tableLookups.filter(Boolean).length, 3, 'three table IPAs (levels 1..3) through stage 2');

  // it changed nothing: the same dry run again still misses everything, no config cached
  const again = await translate(qmp, STREAMS.s1.sid, STREAMS.s1.input);
  t.equal((again.translation as Obj[])[0]!.iotlb, 'miss');
  t.equal((again.config as Obj).source, 'decode');
  const state = (await call(qmp, 'x-qtestd-smmu-state')).return as Obj;
  t.equal((state.iotlb as Obj).size, 0);
  t.equal((state.configCache as Obj).size, 0);
  t.equal((state.counters as Obj).translations, 0);

  // argument errors
  const bad = await call(qmp, 'x-qtestd-smmu-translate', '{"sid": 1, "iova": 0, "access": "rw"}');
  t.same(bad.error, { class: 'GenericError', desc: "Parameter 'access' expects 'read' or 'write'" });
  const ssid = await call(qmp, 'x-qtestd-smmu-translate', '{"sid": 1, "iova": 0, "ssid": 3}');
  t.same(ssid.error, { class: 'GenericError', desc: "Parameter 'ssid': only SubstreamID 0 is modelled" });

  // the inspector's monitor runs read-only commands only: the session lives on
  for (const cmd of ['quit', 'system_reset', 'device_del', 'human-monitor-command']) {
    const r = await call(
      qmp,
      cmd,
      cmd === 'device_del'
        ? '{"id": "x"}'
        : cmd === 'human-monitor-command'
          ? '{"command-line": "info mtree"}'
          : undefined,
    );
    t.same(r.error, { class: 'GenericError', desc: `The command ${cmd} is not allowed on this monitor` }, cmd);
  }
  t.same((await call(qmp, 'query-status')).return, { status: 'running', running: true });
  t.equal(await q.readl(0x40000000n), 0n, 'the qtest session still answers');
});

const hex = (v: bigint): string => '0x' + v.toString(16);

/** A command with its arguments as JSON text (64-bit integers exact); errors as {error}. */
async function call(qmp: QmpClient, cmd: string, args?: string): Promise<Obj> {
  try {
    return { return: await qmp.sendRaw(`{"execute": "${cmd}"${args ? `, "arguments": ${args}` : ''}}\n`, cmd) };
  } catch (e) {
    if (e instanceof QmpError) return { error: { class: e.errorClass, desc: e.desc } };
    throw e;
  }
}

async function translate(qmp: QmpClient, sid: number, iova: bigint, access = 'read'): Promise<Obj> {
  const r = await call(qmp, 'x-qtestd-smmu-translate', `{"sid": ${sid}, "iova": ${iova}, "access": "${access}"}`);
  if (!r.return) throw new Error(`translate failed: ${JSON.stringify(r)}`);
  return r.return as Obj;
}
