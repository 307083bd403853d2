/**
 * The fuzz engine: several in-process sessions in one process, fed random and mutated qtest
 * requests, random SMMU programs and random QMP streams, with invariants checked after every
 * request: exactly one well-formed reply line per request line (`OK…`/`FAIL…`/`ERR…`, plus `IRQ`
 * lines before it), no exception escaping an endpoint (a crash), no request slower than the
 * watchdog (a hang), no `internal error` reply, RSS under the bound, and a canary session that
 * keeps answering exactly. Synchronous; run.ts adds a worker-thread watchdog for true hangs.
 */
import { writeSync } from 'node:fs';
import { attachQmp } from '../../src/session/qmp-attach.js';
import { Driver, rssMiB, SMMU_ARGS } from '../helpers/hardening/machine-driver.js';
import { RecordingLink } from '../helpers/session.js';
import { qmpMessage, qtestRequest, Rng, smmuProgram } from './gen.js';

export interface FuzzOptions {
  requests: number;
  smmuPrograms: number;
  qmp: number;
  seconds: number;
  seed: number;
  sessions: number;
  /** a single request slower than this counts as a hang */
  watchdogMs: number;
  maxRssMiB: number;
  /** progress hook (request count), e.g. for a worker heartbeat */
  onProgress?: (n: number) => void;
  log?: (line: string) => void;
}

export const DEFAULT_FUZZ: FuzzOptions = {
  requests: 100000,
  smmuPrograms: 2000,
  qmp: 5000,
  seconds: 0,
  seed: 1,
  sessions: 4,
  watchdogMs: 5000,
  maxRssMiB: 2048,
};

export interface Violation {
  kind: 'crash' | 'hang' | 'bad-reply' | 'rss' | 'canary' | 'internal-error';
  phase: string;
  input: string;
  detail: string;
}

export interface FuzzSummary {
  seed: number;
  qtestRequests: number;
  smmuPrograms: number;
  smmuRequests: number;
  qmpMessages: number;
  crashes: number;
  hangs: number;
  violations: Violation[];
  maxRssMiB: number;
  slowestMs: number;
  slowestInput: string;
  elapsedMs: number;
}

const REPLY = /^(OK|FAIL|ERR)( |$)/;
const IRQ = /^IRQ (raise|lower) \d+$/;

export function runFuzz(partial: Partial<FuzzOptions> = {}): FuzzSummary {
  const o: FuzzOptions = { ...DEFAULT_FUZZ, ...partial };
  const rng = new Rng(o.seed);
  const started = performance.now();
  const deadline = o.seconds > 0 ? started + o.seconds * 1000 : Infinity;
  const sum: FuzzSummary = {
    seed: o.seed,
    qtestRequests: 0,
    smmuPrograms: 0,
    smmuRequests: 0,
    qmpMessages: 0,
    crashes: 0,
    hangs: 0,
    violations: [],
    maxRssMiB: rssMiB(),
    slowestMs: 0,
    slowestInput: '',
    elapsedMs: 0,
  };
  const violation = (v: Violation) => {
    if (v.kind === 'crash') sum.crashes++;
    if (v.kind === 'hang') sum.hangs++;
    if (sum.violations.length < 50) sum.violations.push({ ...v, input: v.input.slice(0, 300) });
    o.log?.(`VIOLATION ${v.kind} [${v.phase}] ${JSON.stringify(v.input.slice(0, 200))}: ${v.detail}`);
  };
  const fresh = () => {
    const d = new Driver(SMMU_ARGS);
    d.setupDevices();
    return d;
  };
  const sessions = Array.from({ length: o.sessions }, fresh);
  const canary = fresh();
  canary.writeq(0x40001000n, 0x1122334455667788n);
  const canaryTouched = canary.session.machine.ram?.touchedBytes ?? 0;
  let total = 0;
  /** FUZZ_TRACE_FROM=N: print every request from the N-th on (synchronously: finds the input of a hang). */
  const traceFrom = Number(process.env.FUZZ_TRACE_FROM ?? Infinity);

  const checkCanary = (phase: string) => {
    const r = canary.raw('readq 0x40001000\nendianness\n');
    if (r !== 'OK 0x1122334455667788\nOK little\n')
      violation({ kind: 'canary', phase, input: '', detail: `canary answered ${JSON.stringify(r)}` });
    if ((canary.session.machine.ram?.touchedBytes ?? 0) !== canaryTouched)
      violation({ kind: 'canary', phase, input: '', detail: 'canary RAM changed' });
    const rss = rssMiB();
    sum.maxRssMiB = Math.max(sum.maxRssMiB, rss);
    if (rss > o.maxRssMiB) violation({ kind: 'rss', phase, input: '', detail: `RSS ${rss} MiB > ${o.maxRssMiB} MiB` });
  };

  /** Send one request line (without LF), possibly in pieces; check the one-reply invariant. */
  const request = (d: Driver, line: string, phase: string, pieces = 1): string | undefined => {
    total++;
    if ((total & 1023) === 0) {
      o.onProgress?.(total);
      checkCanary(phase);
    }
    if (total >= traceFrom) writeSync(2, `#${total} [${phase}] ${JSON.stringify(line)}\n`);
    const bytes = Buffer.from(line + '\n', 'latin1');
    d.link.out = '';
    const t0 = performance.now();
    try {
      if (pieces <= 1) d.ep.input(bytes);
      else {
        let at = 0;
        for (let k = 1; k < pieces; k++) {
          const cut = at + rng.int(bytes.length - at + 1);
          d.ep.input(bytes.subarray(at, cut));
          at = cut;
        }
        d.ep.input(bytes.subarray(at));
      }
    } catch (e) {
      violation({ kind: 'crash', phase, input: line, detail: (e as Error)?.stack ?? String(e) });
      return undefined;
    }
    const ms = performance.now() - t0;
    if (ms > sum.slowestMs) {
      sum.slowestMs = ms;
      sum.slowestInput = line.slice(0, 200);
    }
    if (ms > o.watchdogMs)
      violation({ kind: 'hang', phase, input: line, detail: `took ${ms.toFixed(0)} ms (watchdog ${o.watchdogMs} ms)` });
    const out = d.link.out.split('\n');
    if (out.pop() !== '') {
      violation({
        kind: 'bad-reply',
        phase,
        input: line,
        detail: `output not LF-terminated: ${JSON.stringify(d.link.out.slice(-200))}`,
      });
      return undefined;
    }
    const replies = out.filter((l) => !IRQ.test(l));
    const blank = line === '';
    if (
      replies.length !== (blank ? 0 : 1) ||
      (!blank && !REPLY.test(replies[0]!)) ||
      (out.length && !blank && out[out.length - 1] !== replies[0])
    ) {
      violation({ kind: 'bad-reply', phase, input: line, detail: `reply ${JSON.stringify(d.link.out.slice(0, 300))}` });
      return undefined;
    }
    if (!blank && replies[0]!.startsWith('FAIL internal error'))
      violation({ kind: 'internal-error', phase, input: line, detail: replies[0]! });
    return replies[0];
  };
  const timeLeft = () => performance.now() < deadline;

  // ---- QMP endpoint state
  let qmpSession = fresh();
  let qmpLink = new RecordingLink();
  let quit = false;
  let qmp = attachQmp(qmpSession.session, qmpLink, () => (quit = true));
  qmp.input(Buffer.from('{"execute": "qmp_capabilities"}\n'));

  const qtestStep = () => {
    const d = sessions[rng.int(sessions.length)]!;
    request(d, qtestRequest(rng), 'qtest', rng.bool(0.1) ? rng.int(4) + 2 : 1);
    sum.qtestRequests++;
  };
  const smmuStep = () => {
    // fresh sessions now and then, so that state does not saturate
    if (sum.smmuPrograms % 200 === 199) sessions[rng.int(sessions.length)] = fresh();
    const d = sessions[rng.int(sessions.length)]!;
    for (const line of smmuProgram(rng)) {
      request(d, line, 'smmu');
      sum.smmuRequests++;
    }
    sum.smmuPrograms++;
  };
  const qmpStep = () => {
    const msg = qmpMessage(rng);
    total++;
    if ((total & 1023) === 0) o.onProgress?.(total);
    if (total >= traceFrom) writeSync(2, `#${total} [qmp] ${JSON.stringify(msg)}\n`);
    qmpLink.out = '';
    const t0 = performance.now();
    try {
      qmp.input(Buffer.from(msg, 'utf8'));
    } catch (e) {
      violation({ kind: 'crash', phase: 'qmp', input: msg, detail: (e as Error)?.stack ?? String(e) });
    }
    const ms = performance.now() - t0;
    if (ms > o.watchdogMs) violation({ kind: 'hang', phase: 'qmp', input: msg, detail: `took ${ms.toFixed(0)} ms` });
    for (const line of qmpLink.out.split('\r\n').slice(0, -1)) {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        violation({ kind: 'bad-reply', phase: 'qmp', input: msg, detail: `not JSON: ${line.slice(0, 200)}` });
        continue;
      }
      const obj = v as Record<string, unknown>;
      if (typeof v !== 'object' || v === null || !('return' in obj || 'error' in obj || 'event' in obj)) {
        violation({ kind: 'bad-reply', phase: 'qmp', input: msg, detail: `unexpected message: ${line.slice(0, 200)}` });
      } else if ('error' in obj && /internal error/.test(JSON.stringify(obj.error))) {
        violation({ kind: 'internal-error', phase: 'qmp', input: msg, detail: line.slice(0, 300) });
      }
    }
    sum.qmpMessages++;
    if (quit || sum.qmpMessages % 500 === 0) {
      qmp.end();
      qmpSession = fresh();
      qmpLink = new RecordingLink();
      quit = false;
      qmp = attachQmp(qmpSession.session, qmpLink, () => (quit = true));
      qmp.input(Buffer.from('{"execute": "qmp_capabilities"}\n'));
    }
  };

  // Interleaved rounds until every count is reached or time runs out (counts may be Infinity).
  while (timeLeft()) {
    const more = [sum.qtestRequests < o.requests, sum.smmuPrograms < o.smmuPrograms, sum.qmpMessages < o.qmp];
    if (!more.some(Boolean)) break;
    for (let k = 0; k < 500 && more[0] && sum.qtestRequests < o.requests; k++) qtestStep();
    for (let k = 0; k < 10 && more[1] && sum.smmuPrograms < o.smmuPrograms; k++) smmuStep();
    for (let k = 0; k < 25 && more[2] && sum.qmpMessages < o.qmp; k++) qmpStep();
  }
  checkCanary('end');
  sum.elapsedMs = performance.now() - started;
  return sum;
}

export function formatSummary(s: FuzzSummary): string {
  return [
    `fuzz summary (seed ${s.seed})`,
    `  inputs tried: ${s.qtestRequests} qtest requests, ${s.smmuPrograms} SMMU programs (${s.smmuRequests} requests), ${s.qmpMessages} QMP messages`,
    `  crashes: ${s.crashes}   hangs: ${s.hangs}   other violations: ${s.violations.length - s.crashes - s.hangs}`,
    `  max RSS: ${s.maxRssMiB} MiB   slowest request: ${s.slowestMs.toFixed(1)} ms (${JSON.stringify(s.slowestInput.slice(0, 80))})`,
    `  elapsed: ${(s.elapsedMs / 1000).toFixed(1)} s`,
    ...s.violations.map(
      (v) => `  - ${v.kind} [${v.phase}] ${JSON.stringify(v.input.slice(0, 160))}: ${v.detail.split('\n')[0]}`,
    ),
  ].join('\n');
}
