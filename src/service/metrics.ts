/**
 * Service counters and gauges, rendered in the Prometheus text exposition format (version 0.0.4).
 * Each worker keeps its own `WorkerCounters` and reports a `WorkerStats` snapshot when asked; the
 * accepting process adds them up (plus its own refusals) at scrape time.
 */

/** What one worker (or the in-process host) reports. */
export interface WorkerStats {
  sessionsTotal: number;
  qtestRequests: { ok: number; fail: number; err: number };
  qmpCommands: number;
  errors: number;
  sessionsActive: number;
  touchedRamBytes: number;
  smmuTranslations: number;
}

/** The counters a worker increments as it serves sessions. */
export class WorkerCounters {
  sessionsTotal = 0;
  qtestRequests = { ok: 0, fail: 0, err: 0 };
  qmpCommands = 0;
  errors = 0;
}

export function emptyStats(): WorkerStats {
  return {
    sessionsTotal: 0,
    qtestRequests: { ok: 0, fail: 0, err: 0 },
    qmpCommands: 0,
    errors: 0,
    sessionsActive: 0,
    touchedRamBytes: 0,
    smmuTranslations: 0,
  };
}

/** Add `b` into `a` (counters and gauges alike). */
export function addStats(a: WorkerStats, b: WorkerStats): WorkerStats {
  a.sessionsTotal += b.sessionsTotal;
  a.qtestRequests.ok += b.qtestRequests.ok;
  a.qtestRequests.fail += b.qtestRequests.fail;
  a.qtestRequests.err += b.qtestRequests.err;
  a.qmpCommands += b.qmpCommands;
  a.errors += b.errors;
  a.sessionsActive += b.sessionsActive;
  a.touchedRamBytes += b.touchedRamBytes;
  a.smmuTranslations += b.smmuTranslations;
  return a;
}

/** What the accepting process itself counts. */
export interface FrontStats {
  sessionsRefused: number;
  workers: number;
  workerRestarts: number;
}

export function renderMetrics(front: FrontStats, g: WorkerStats): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[string, number]>): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
  };
  metric('qtestd_sessions_total', 'counter', 'Sessions created since start.', [['', g.sessionsTotal]]);
  metric('qtestd_sessions_refused_total', 'counter', 'Connections refused by a limit.', [['', front.sessionsRefused]]);
  metric('qtestd_sessions_active', 'gauge', 'Sessions currently open.', [['', g.sessionsActive]]);
  metric('qtestd_qtest_requests_total', 'counter', 'qtest requests answered, by reply kind.', [
    ['{reply="ok"}', g.qtestRequests.ok],
    ['{reply="fail"}', g.qtestRequests.fail],
    ['{reply="err"}', g.qtestRequests.err],
  ]);
  metric('qtestd_qmp_commands_total', 'counter', 'QMP commands handled.', [['', g.qmpCommands]]);
  metric('qtestd_errors_total', 'counter', 'Internal errors caught at a protocol boundary.', [['', g.errors]]);
  metric('qtestd_guest_ram_touched_bytes', 'gauge', 'Guest RAM allocated across open sessions.', [
    ['', g.touchedRamBytes],
  ]);
  metric('qtestd_smmu_translations_total', 'counter', 'SMMU translations performed by open sessions.', [
    ['', g.smmuTranslations],
  ]);
  metric('qtestd_workers', 'gauge', 'Worker processes serving sessions (0: sessions run in the accepting process).', [
    ['', front.workers],
  ]);
  metric('qtestd_worker_restarts_total', 'counter', 'Worker processes that died and were replaced.', [
    ['', front.workerRestarts],
  ]);
  return lines.join('\n') + '\n';
}
