/**
 * Differential QMP: query-cpu-model-expansion for the CPU models qtestd accepts (with and without
 * feature props, QEMU's errors for bad props, static expansion, host, unknown names) and Arm's
 * comparison/baseline answers, on qtestd and the oracle under `-accel qtest`; byte-identical.
 */
import t from 'tap';
import { BASE_ARGS } from '../helpers/launch.js';
import { withOracle } from '../helpers/oracle.js';
import { call, startPeer } from '../protocol/qmp/peer.js';

const expand = (type: string, model: object): string =>
  JSON.stringify({ execute: 'query-cpu-model-expansion', arguments: { type, model } });

const REQUESTS = [
  ...['max', 'cortex-a53', 'cortex-a57'].flatMap((name) => [
    expand('full', { name }),
    expand('static', { name }),
    expand('full', { name, props: {} }),
    expand('full', { name, props: { pmu: false } }),
  ]),
  expand('full', { name: 'max', props: { pmu: 'off' } }),
  expand('full', { name: 'max', props: { aarch64: false } }),
  expand('full', { name: 'max', props: { aarch64: true, pmu: true } }),
  expand('full', { name: 'max', props: { foo: 1, pmu: true } }),
  expand('full', { name: 'max', props: { foo: 1, bar: 2 } }),
  expand('full', { name: 'max', props: 5 }),
  expand('full', { name: 'max', props: { sve: true } }),
  expand('full', { name: 'max', props: { 'sve-max-vq': 8 } }),
  expand('full', { name: 'max-arm-cpu' }),
  expand('full', { name: 'host' }),
  expand('full', { name: 'nope' }),
  '{"execute": "query-cpu-model-comparison", "arguments": {"modela": {"name": "max"}, "modelb": {"name": "max"}}}',
  '{"execute": "query-cpu-model-baseline", "arguments": {"modela": {"name": "max"}, "modelb": {"name": "max"}}}',
];

await withOracle(t, 'query-cpu-model-expansion on virt', async (tv) => {
  const args = ['-nodefaults', ...BASE_ARGS];
  const q = await startPeer('qtestd', args);
  const o = await startPeer('oracle', args);
  tv.teardown(async () => {
    await q.s.teardown();
    await o.s.teardown();
  });
  for (const req of REQUESTS) tv.equal(await call(q, req), await call(o, req), req);
});
