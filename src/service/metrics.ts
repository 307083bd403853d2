/**
 * Service metrics with prom-client (Prometheus text exposition format 0.0.4). Every worker (or the
 * in-process host) keeps a `WorkerMetrics` registry — its sessions, requests, request latency,
 * QMP commands — and, in a worker process, prom-client's process and Node metrics. When asked
 * ('metrics'), it answers its registry as JSON; the accepting process adds its own registry
 * (refusals, workers, its own process metrics) and merges them all with prom-client's
 * aggregator: counters and histograms are summed, process metrics are kept apart by a `role`
 * label (`accept`: the accepting process; `worker`: the workers, summed or averaged as
 * prom-client defines for each). Counters of workers that died stay counted (FrontMetrics.retire).
 *
 * The per-request path (one qtest request, one QMP reply) only adds to plain numbers
 * (`request`, `qmpReply`); they become prom-client samples when a scrape collects them, so
 * metrics cost a request a few nanoseconds, not a prom-client call.
 */
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Metric } from 'prom-client';
import type { MemoryBudgetState } from '../memory/memory-budget.js';

/** What `Registry#getMetricsAsJSON` gives: what a worker sends, and what the aggregator takes. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** What the metrics of a worker read from its sessions at scrape time. */
export interface SessionGauges {
  sessionsActive(): number;
  touchedRamBytes(): number;
  /** The host's memory budget (memory/memory-budget.ts). */
  memory(): MemoryBudgetState;
  /** SMMU translations so far, closed sessions included (a counter). */
  smmuTranslations(): number;
}

/** Why a session closed, as the bounded label set of qtestd_sessions_closed_total. */
export type CloseReason = 'client' | 'idle-timeout' | 'line-timeout' | 'qmp-quit' | 'shutdown' | 'other';

/** Latency buckets (seconds): a register access takes microseconds, a bulk transfer seconds. */
const LATENCY_BUCKETS = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30];

type QtestReply = 'ok' | 'fail' | 'err';
type QmpReply = 'return' | 'error';

/** One latency histogram as plain numbers: counts per bucket (not cumulative), sum, count. */
class PlainHistogram {
  readonly counts = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }

  /** The histogram as prom-client's JSON values (cumulative buckets, `le="+Inf"`, _sum, _count). */
  values(name: string): Array<{ value: number; labels: Record<string, string | number>; metricName: string }> {
    const out = [];
    let cumulative = 0;
    for (let i = 0; i <= LATENCY_BUCKETS.length; i++) {
      cumulative += this.counts[i]!;
      const le = i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i]! : '+Inf';
      out.push({ value: cumulative, labels: { le }, metricName: `${name}_bucket` });
    }
    out.push({ value: this.sum, labels: {}, metricName: `${name}_sum` });
    out.push({ value: this.count, labels: {}, metricName: `${name}_count` });
    return out;
  }
}

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly sessionsTotal: Counter;
  readonly sessionsClosed: Counter<'reason'>;
  readonly errors: Counter;
  private readonly qtestCounts: Record<QtestReply, number> = { ok: 0, fail: 0, err: 0 };
  private readonly qmpCounts: Record<QmpReply, number> = { return: 0, error: 0 };
  private readonly latency = new PlainHistogram();

  /** One qtest request answered (`seconds` it took to run; < 0: not timed). */
  request(kind: QtestReply, seconds: number): void {
    this.qtestCounts[kind]++;
    if (seconds >= 0) this.latency.observe(seconds);
  }

  /** One QMP command answered. */
  qmpReply(kind: QmpReply): void {
    this.qmpCounts[kind]++;
  }

  /** `processMetrics`: also Node's and the process's (a worker process; not the in-process host). */
  constructor(gauges: SessionGauges, processMetrics: boolean) {
    const registers = [this.registry];
    if (processMetrics) collectDefaultMetrics({ register: this.registry, labels: { role: 'worker' } });
    this.sessionsTotal = new Counter({
      name: 'qtestd_sessions_total',
      help: 'Sessions created since start.',
      registers,
    });
    this.sessionsClosed = new Counter({
      name: 'qtestd_sessions_closed_total',
      help: 'Sessions closed, by reason (client, idle-timeout, line-timeout, qmp-quit, shutdown, other).',
      labelNames: ['reason'],
      registers,
    });
    new Gauge({
      name: 'qtestd_sessions_active',
      help: 'Sessions currently open.',
      registers,
      collect() {
        this.set(gauges.sessionsActive());
      },
    });
    const { qtestCounts, qmpCounts, latency } = this;
    new Counter({
      name: 'qtestd_qtest_requests_total',
      help: 'qtest requests answered, by reply kind.',
      labelNames: ['reply'],
      registers,
      collect() {
        this.reset();
        for (const [reply, n] of Object.entries(qtestCounts)) this.inc({ reply }, n);
      },
    });
    const latencyName = 'qtestd_qtest_request_duration_seconds';
    const latencyHelp =
      'Time to run one qtest request (from its line to its reply; waiting in the queue or on the network excluded).';
    const latencyMetric = {
      name: latencyName,
      help: latencyHelp,
      type: 'histogram',
      aggregator: 'sum',
      get: () => ({
        name: latencyName,
        help: latencyHelp,
        type: 'histogram',
        aggregator: 'sum',
        values: latency.values(latencyName),
      }),
    };
    this.registry.registerMetric(latencyMetric as unknown as Metric);
    new Counter({
      name: 'qtestd_qmp_commands_total',
      help: 'QMP commands answered, by reply kind (return, error).',
      labelNames: ['reply'],
      registers,
      collect() {
        this.reset();
        for (const [reply, n] of Object.entries(qmpCounts)) this.inc({ reply }, n);
      },
    });
    this.errors = new Counter({
      name: 'qtestd_errors_total',
      help: 'Internal errors caught at a protocol boundary.',
      registers,
    });
    new Gauge({
      name: 'qtestd_guest_ram_touched_bytes',
      help: 'Guest RAM allocated across open sessions.',
      registers,
      collect() {
        this.set(gauges.touchedRamBytes());
      },
    });
    new Gauge({
      name: 'qtestd_memory_budget_bytes',
      help: "The memory budget (--memory-budget; the sum of the workers' shares; 0: none).",
      registers,
      collect() {
        const { share } = gauges.memory();
        this.set(share === Infinity ? 0 : share);
      },
    });
    new Gauge({
      name: 'qtestd_memory_in_use_bytes',
      help: 'Memory charged to the memory budget, by kind (guest-ram: pages touched by open sessions; buffered: unfinished lines and queued replies).',
      labelNames: ['kind'],
      registers,
      collect() {
        const m = gauges.memory();
        this.set({ kind: 'guest-ram' }, m.ramBytes);
        this.set({ kind: 'buffered' }, m.bufferedBytes);
      },
    });
    new Counter({
      name: 'qtestd_memory_budget_refusals_total',
      help: 'Requests and sessions refused because the memory budget was reached.',
      registers,
      collect() {
        this.reset();
        this.inc(gauges.memory().refusals);
      },
    });
    new Counter({
      name: 'qtestd_smmu_translations_total',
      help: 'SMMU translations performed by sessions.',
      registers,
      collect() {
        this.reset();
        this.inc(gauges.smmuTranslations());
      },
    });
  }

  json(): Promise<MetricsJson> {
    return this.registry.getMetricsAsJSON();
  }
}

/** The accepting process's own metrics. */
export class FrontMetrics {
  readonly registry = new Registry();
  readonly sessionsRefused: Counter;
  readonly workerRestarts: Counter;
  /** Counters and histograms of workers that died (a counter never goes down). */
  private retired: MetricsJson = [];

  constructor(workers: number) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, labels: { role: 'accept' } });
    this.sessionsRefused = new Counter({
      name: 'qtestd_sessions_refused_total',
      help: 'Connections refused by a limit.',
      registers,
    });
    new Gauge({
      name: 'qtestd_workers',
      help: 'Worker processes serving sessions (0: sessions run in the accepting process).',
      registers,
    }).set(workers);
    this.workerRestarts = new Counter({
      name: 'qtestd_worker_restarts_total',
      help: 'Worker processes that died and were replaced.',
      registers,
    });
  }

  /** Keep what a dead worker had counted (its last answer): its counters and histograms. */
  async retire(last: MetricsJson): Promise<void> {
    const kept = last.filter(
      (m) => ['counter', 'histogram'].includes(m.type as unknown as string) && m.name.startsWith('qtestd_'),
    ) as MetricsJson;
    this.retired = await AggregatorRegistry.aggregate([this.retired, kept]).getMetricsAsJSON();
  }

  /** The exposition text: this process's metrics plus every worker's, merged. */
  async render(workers: MetricsJson[]): Promise<string> {
    const own = await this.registry.getMetricsAsJSON();
    const text = await AggregatorRegistry.aggregate([own, this.retired, ...workers]).metrics();
    return spellNaN(text);
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * prom-client 15 writes a NaN sample value as `Nan`; the exposition format spells it `NaN` (a
 * strict parser refuses `Nan`). An event-loop-lag summary with no samples since the last scrape
 * (a process that was idle, or just started) has NaN values.
 */
export function spellNaN(exposition: string): string {
  return exposition.replace(/ Nan$/gm, ' NaN');
}
