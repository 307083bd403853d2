/**
 * The /metrics exposition stays strict Prometheus text format whatever the values: prom-client 15
 * spells a NaN sample `Nan`, which a strict parser refuses (CI caught an idle accepting process's
 * event-loop-lag mean as `Nan`). FrontMetrics.render spells it `NaN`.
 */
import t from 'tap';
import { FrontMetrics, spellNaN } from '../../src/service/metrics.js';
import type { MetricsJson } from '../../src/service/metrics.js';
import { parsePrometheus } from './fixtures/harness.js';

t.test('spellNaN rewrites only whole NaN sample values', async (t) => {
  t.equal(spellNaN('a{x="Nan"} Nan\nb 1\nc Nan\n'), 'a{x="Nan"} NaN\nb 1\nc NaN\n');
  t.equal(spellNaN('# HELP h a Nan\n'), '# HELP h a NaN\n', 'a help text ending in Nan is harmless either way');
  t.equal(spellNaN('d 12\n'), 'd 12\n');
});

t.test('a worker gauge that is NaN renders as NaN and parses', async (t) => {
  const front = new FrontMetrics(1);
  const worker = [
    {
      name: 'qtestd_test_gauge',
      help: 'A gauge with no value yet.',
      type: 'gauge',
      values: [{ value: NaN, labels: {} }],
      aggregator: 'average',
    },
  ] as unknown as MetricsJson;
  const text = await front.render([worker]);
  t.match(text, /^qtestd_test_gauge NaN$/m);
  t.notMatch(text, / Nan$/m);
  const parsed = parsePrometheus(text);
  t.ok(Number.isNaN(parsed.samples.get('qtestd_test_gauge')));
});

t.test('back-to-back scrapes of an idle process parse (event-loop lag with no samples)', async (t) => {
  const front = new FrontMetrics(0);
  for (let i = 0; i < 20; i++) {
    const text = await front.render([]);
    t.doesNotThrow(() => parsePrometheus(text), `scrape ${i}`);
  }
});
