/**
 * The sessions one worker (or the in-process host) serves: ids (claimed from the accepting
 * process, which sees every worker, so ids stay unique across them), idle timers, lookup by id,
 * and each session's QMP bookkeeping (its UNIX socket under the run dir, its monitors and its QMP
 * connections, all closed with the session). The `--max-sessions` limit is the accepting
 * process's: it counts connections before handing them out.
 */
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from '../session/session.js';
import { attachQmp } from '../session/qmp-attach.js';
import type { QmpMonitor } from '../session/qmp-attach.js';
import { bindSocket } from '../transport/socket-link.js';
import { openChardev } from '../transport/chardev-open.js';
import type { OpenedChardev } from '../transport/chardev-open.js';
import type { Endpoint, Link } from '../protocol/link.js';
import { parseSessionOptions } from '../config/session-options.js';
import type { WorkerCounters, WorkerStats } from './metrics.js';
import type { ServiceOptions } from './service-options.js';

export type SessionTransport = 'tcp' | 'unix' | 'websocket';

export interface LiveSession {
  id: string;
  session: Session;
  transport: SessionTransport;
  peer: string;
  createdAt: number;
  qmpSocketPath: string;
  qmpServer?: OpenedChardev;
  qmpMonitors: Set<QmpMonitor>;
  /** Open QMP connections (UNIX socket or WebSocket), closed with the session. */
  qmpLinks: Set<Link>;
  closeConnection: () => void;
}

export type CreateResult = { ok: true; live: LiveSession } | { ok: false; reason: string };

/** Session ids are claimed from whoever sees every session (the accepting process). */
export interface IdClaims {
  /** Claim `requested`, or a fresh `s<N>` when undefined. */
  claim(requested: string | undefined): Promise<{ ok: true; id: string } | { ok: false; reason: string }>;
  release(id: string): void;
}

/** The id table of the accepting process (or of an in-process host). */
export class IdTable {
  private readonly owners = new Map<string, number>();
  private nextId = 1;

  claim(requested: string | undefined, owner: number): { ok: true; id: string } | { ok: false; reason: string } {
    if (requested !== undefined) {
      if (this.owners.has(requested)) return { ok: false, reason: `session id '${requested}' is in use` };
      this.owners.set(requested, owner);
      return { ok: true, id: requested };
    }
    let id: string;
    do id = `s${this.nextId++}`;
    while (this.owners.has(id));
    this.owners.set(id, owner);
    return { ok: true, id };
  }

  release(id: string, owner: number): void {
    if (this.owners.get(id) === owner) this.owners.delete(id);
  }

  ownerOf(id: string): number | undefined {
    return this.owners.get(id);
  }

  /** Forget every id of `owner` (a worker that died). */
  releaseAll(owner: number): void {
    for (const [id, o] of this.owners) if (o === owner) this.owners.delete(id);
  }
}

/** One entry of /sessions. */
export interface SessionInfo {
  id: string;
  transport: SessionTransport;
  peer: string;
  createdAt: string;
  qmp: string;
  ramTouchedBytes: number;
  /** The process the session runs in (a worker's pid). */
  pid: number;
}

export interface IdleTimer {
  touch: () => void;
  stop: () => void;
}

export class SessionRegistry {
  private readonly sessions = new Map<string, LiveSession>();
  /** SMMU translations of sessions already closed (qtestd_smmu_translations_total is a counter). */
  private closedSmmuTranslations = 0;

  constructor(
    private readonly opts: ServiceOptions,
    private readonly metrics: WorkerCounters,
    private readonly ids: IdClaims,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  get(id: string): LiveSession | undefined {
    return this.sessions.get(id);
  }

  list(): LiveSession[] {
    return [...this.sessions.values()];
  }

  /** This host's counters and gauges, as /metrics adds them up. */
  stats(): WorkerStats {
    let touched = 0;
    // a counter: what closed sessions did stays counted (else it would drop when they close)
    let translations = this.closedSmmuTranslations;
    for (const s of this.sessions.values()) {
      touched += s.session.machine.ram?.touchedBytes ?? 0;
      translations += smmuTranslations(s.session);
    }
    const m = this.metrics;
    return {
      sessionsTotal: m.sessionsTotal,
      qtestRequests: { ...m.qtestRequests },
      qmpCommands: m.qmpCommands,
      errors: m.errors,
      sessionsActive: this.sessions.size,
      touchedRamBytes: touched,
      smmuTranslations: translations,
    };
  }

  /** The /sessions entries of this host. */
  infos(): SessionInfo[] {
    return this.list().map((s) => ({
      id: s.id,
      transport: s.transport,
      peer: s.peer,
      createdAt: new Date(s.createdAt).toISOString(),
      qmp: s.qmpSocketPath,
      ramTouchedBytes: s.session.machine.ram?.touchedBytes ?? 0,
      pid: process.pid,
    }));
  }

  /** Calls `onIdle` once nothing touched the timer for `--idle-timeout` (never when it is 0). */
  idleTimer(onIdle: () => void): IdleTimer {
    const ms = this.opts.idleTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const touch = (): void => {
      if (!ms) return;
      if (timer) timer.refresh();
      else {
        timer = setTimeout(onIdle, ms);
        timer.unref();
      }
    };
    touch();
    return { touch, stop: () => timer && clearTimeout(timer) };
  }

  /**
   * Parse the options, claim the id, build the machine. `stillWanted` is asked once the id is
   * claimed: a connection that went away meanwhile gets no session (and frees the id).
   */
  async create(
    words: string[],
    transport: SessionTransport,
    peer: string,
    closeConnection: () => void,
    stillWanted: () => boolean = () => true,
  ): Promise<CreateResult> {
    let request;
    try {
      request = parseSessionOptions(words, this.opts.defaults);
    } catch (e) {
      return { ok: false, reason: (e as Error).message };
    }
    const claim = await this.ids.claim(request.id);
    if (!claim.ok) return claim;
    const id = claim.id;
    if (!stillWanted()) {
      this.ids.release(id);
      return { ok: false, reason: 'client disconnected' };
    }
    let session: Session;
    const log = this.opts.log.child({ session: id });
    try {
      session = new Session(request.config, { log, limits: this.opts.limits, plugins: this.opts.plugins });
    } catch (e) {
      this.ids.release(id);
      return { ok: false, reason: (e as Error).message.split('\n')[0] };
    }
    const live: LiveSession = {
      id,
      session,
      transport,
      peer,
      createdAt: Date.now(),
      qmpSocketPath: join(this.opts.runDir, `${id}.qmp`),
      qmpMonitors: new Set(),
      qmpLinks: new Set(),
      closeConnection,
    };
    live.qmpServer = openChardev(
      { kind: 'unix', path: live.qmpSocketPath, server: true, wait: false },
      (socket) => bindSocket(socket, (link) => this.attachQmpEndpoint(live, link), { encoding: 'utf8', log }),
      (err) => log.warn({ err }, 'cannot open the session QMP socket'),
      { unixMode: 0o600 },
    );
    this.sessions.set(id, live);
    this.metrics.sessionsTotal++;
    log.info(
      {
        event: 'session-open',
        transport,
        peer,
        qmp: live.qmpSocketPath,
        devices: request.config.devices.map((d) => d.driver),
      },
      'session opened',
    );
    return { ok: true, live };
  }

  attachQtestEndpoint(live: LiveSession, link: Link): Endpoint {
    return live.session.attachQtest(link, {
      onRequest: (kind) => {
        this.metrics.qtestRequests[kind]++;
      },
    });
  }

  attachQmpEndpoint(live: LiveSession, link: Link): Endpoint {
    if (this.sessions.get(live.id) !== live) {
      // the session closed while this connection was being set up
      link.close();
      return { input: () => {}, drained: () => {}, end: () => {} };
    }
    const monitor = attachQmp(live.session, link, () => this.close(live, 'QMP quit'));
    live.qmpMonitors.add(monitor);
    live.qmpLinks.add(link);
    return {
      input: (c) => {
        this.metrics.qmpCommands++;
        monitor.input(c);
      },
      drained: () => monitor.drained(),
      end: () => {
        live.qmpMonitors.delete(monitor);
        live.qmpLinks.delete(link);
        monitor.end();
      },
    };
  }

  close(live: LiveSession, reason: string): void {
    if (this.sessions.get(live.id) !== live) return;
    this.sessions.delete(live.id);
    live.qmpServer?.close();
    // QMP connections of this session (a WebSocket is not owned by the chardev) go with it
    for (const link of [...live.qmpLinks]) link.close();
    live.qmpLinks.clear();
    try {
      unlinkSync(live.qmpSocketPath);
    } catch {
      // already gone (or never bound: the QMP socket's failure was logged when it happened)
    }
    this.ids.release(live.id); // after the unlink: the next owner of the id binds the path afresh
    live.closeConnection();
    this.closedSmmuTranslations += smmuTranslations(live.session);
    live.session.dispose();
    this.opts.log.info(
      {
        event: 'session-close',
        session: live.id,
        reason,
        lifetimeMs: Date.now() - live.createdAt,
        ramTouchedBytes: live.session.machine.ram?.touchedBytes ?? 0,
      },
      'session closed',
    );
  }

  closeAll(reason: string): void {
    for (const s of [...this.sessions.values()]) this.close(s, reason);
  }
}

/** Translations a session's SMMU performed so far (0 without an SMMU or without counters). */
function smmuTranslations(session: Session): number {
  return session.machine.smmu?.counters.translations ?? 0;
}
