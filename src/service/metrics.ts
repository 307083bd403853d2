/**
 * Service counters and gauges, rendered in the Prometheus text exposition format (version 0.0.4).
 * Plain numbers owned by the service; sessions report into it through narrow callbacks.
 */

export class Metrics {
  sessionsTotal = 0;
  sessionsRefused = 0;
  qtestRequests = { ok: 0, fail: 0, err: 0 };
  qmpCommands = 0;
  errors = 0;
  /** Gauges are read at scrape time. */
  constructor(
    private readonly gauges: () => { sessionsActive: number; touchedRamBytes: number; smmuTranslations: number },
  ) {}

  render(): string {
    const g = this.gauges();
    const lines: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[string, number]>): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
    };
    metric('qtestd_sessions_total', 'counter', 'Sessions created since start.', [['', this.sessionsTotal]]);
    metric('qtestd_sessions_refused_total', 'counter', 'Connections refused by a limit.', [['', this.sessionsRefused]]);
    metric('qtestd_sessions_active', 'gauge', 'Sessions currently open.', [['', g.sessionsActive]]);
    metric('qtestd_qtest_requests_total', 'counter', 'qtest requests answered, by reply kind.', [
      ['{reply="ok"}', this.qtestRequests.ok],
      ['{reply="fail"}', this.qtestRequests.fail],
      ['{reply="err"}', this.qtestRequests.err],
    ]);
    metric('qtestd_qmp_commands_total', 'counter', 'QMP commands handled.', [['', this.qmpCommands]]);
    metric('qtestd_errors_total', 'counter', 'Internal errors caught at a protocol boundary.', [['', this.errors]]);
    metric('qtestd_guest_ram_touched_bytes', 'gauge', 'Guest RAM allocated across open sessions.', [
      ['', g.touchedRamBytes],
    ]);
    metric('qtestd_smmu_translations_total', 'counter', 'SMMU translations performed by open sessions.', [
      ['', g.smmuTranslations],
    ]);
    return lines.join('\n') + '\n';
  }
}
