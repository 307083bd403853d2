// Over 400 lines: one session lifecycle (options, id claim, build, qtest/QMP attach, idle, close) over one map; splitting it would split that state.
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
import { parseSessionOptions, sessionLimits } from '../config/session-options.js';
import { QtestLog } from '../protocol/qtest/qtest-log.js';
import type { Logger } from '../base/log.js';
import { WorkerMetrics } from './metrics.js';
import type { CloseReason } from './metrics.js';
import { Tracer } from '../base/trace.js';
import { memoryShare } from './service-options.js';
import type { ServiceOptions } from './service-options.js';
import { tapEndpoint, tapLink } from '../session/traffic-tap.js';
import { MemoryBudget } from '../memory/memory-budget.js';
import type { MemoryAccount } from '../memory/memory-budget.js';

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
  /** The session's part of this host's memory budget (released when it closes). */
  memory: MemoryAccount;
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

  readonly metrics: WorkerMetrics;
  /** This host's share of `--memory-budget`: guest RAM of its sessions + bytes buffered on its connections. */
  readonly memory: MemoryBudget;

  /** `processMetrics`: this registry is a worker process's (its metrics include Node's and the process's). */
  constructor(
    private readonly opts: ServiceOptions,
    private readonly ids: IdClaims,
    processMetrics = false,
  ) {
    this.memory = new MemoryBudget(
      memoryShare(opts.memoryBudgetBytes, opts.workers),
      `--memory-budget ${opts.memoryBudgetBytes} over ${Math.max(1, opts.workers)} worker${opts.workers > 1 ? 's' : ''}`,
    );
    this.metrics = new WorkerMetrics(
      {
        sessionsActive: () => this.sessions.size,
        memory: () => this.memory.state(),
        touchedRamBytes: () => {
          let touched = 0;
          for (const s of this.sessions.values()) touched += s.session.machine.ram?.touchedBytes ?? 0;
          return touched;
        },
        smmuTranslations: () => {
          // a counter: what closed sessions did stays counted (else it would drop when they close)
          let n = this.closedSmmuTranslations;
          for (const s of this.sessions.values()) n += smmuTranslations(s.session);
          return n;
        },
      },
      processMetrics,
    );
  }

  get size(): number {
    return this.sessions.size;
  }

  get(id: string): LiveSession | undefined {
    return this.sessions.get(id);
  }

  list(): LiveSession[] {
    return [...this.sessions.values()];
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

  /** Ids named by sessions being created (their claim is under way), with how many. */
  private readonly opening = new Map<string, number>();

  private doneOpening(id: string | undefined): void {
    if (id === undefined) return;
    const n = this.opening.get(id) ?? 0;
    if (n > 1) this.opening.set(id, n - 1);
    else this.opening.delete(id);
  }

  /** Is a session named `id` being created here (claimed, not yet registered)? */
  isOpening(id: string): boolean {
    return this.opening.has(id);
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
    // a QMP attach naming this id may come in while it is claimed (session-host.ts waits for it)
    if (request.id !== undefined) this.opening.set(request.id, (this.opening.get(request.id) ?? 0) + 1);
    let claim;
    try {
      claim = await this.ids.claim(request.id);
    } finally {
      // the session, if any, is registered below without another wait: nothing is opening after it
      queueMicrotask(() => this.doneOpening(request.id));
    }
    if (!claim.ok) return claim;
    const id = claim.id;
    if (!stillWanted()) {
      this.ids.release(id);
      return { ok: false, reason: 'client disconnected' };
    }
    let session: Session;
    const log = this.opts.log.child({ session: id });
    const memory = this.memory.account();
    try {
      const trace = request.trace && Tracer.fromPatterns(request.trace.patterns, { log });
      session = new Session(request.config, {
        log,
        limits: sessionLimits(this.opts.limits, request.budget),
        plugins: this.opts.plugins,
        slices: true,
        trace,
        memory,
      });
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
      memory,
    };
    live.qmpServer = openChardev(
      { kind: 'unix', path: live.qmpSocketPath, server: true, wait: false },
      (socket) => {
        // QMP output waiting for a slow client is memory like queued qtest replies
        const uncount = this.memory.addSource(() => socket.writableLength);
        socket.once('close', uncount);
        bindSocket(socket, (link) => this.attachQmpEndpoint(live, link), { encoding: 'utf8', log });
      },
      (err) => log.warn({ err }, 'cannot open the session QMP socket'),
      { unixMode: 0o600 },
    );
    this.sessions.set(id, live);
    this.metrics.sessionsTotal.inc();
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
    const metrics = this.metrics;
    const tap = live.session.traffic;
    const ep = live.session.attachQtest(tapLink(link, tap), {
      onRequest: (kind, seconds) => metrics.request(kind, seconds),
      onInternalError: () => metrics.errors.inc(),
      // the level is checked once per connection: above debug, requests cost nothing more
      log: live.session.log.isLevelEnabled('debug') ? debugQtestLog(live.session.log) : undefined,
    });
    return tapEndpoint(ep, tap);
  }

  /** A QMP monitor of the session; `allow` limits it to some commands (the inspector's read-only one). */
  attachQmpEndpoint(live: LiveSession, link: Link, allow?: (command: string) => boolean): Endpoint {
    if (this.sessions.get(live.id) !== live) {
      // the session closed while this connection was being set up
      link.close();
      return { input: () => {}, drained: () => {}, end: () => {} };
    }
    const log = live.session.log;
    const debug = log.isLevelEnabled('debug');
    const metrics = this.metrics;
    let messageStart = true;
    // Every command gets exactly one reply, `{"return": …}` or `{"error": …}` (QEMU's framing:
    // events start with "timestamp", the greeting with "QMP"); counting replies counts commands.
    // A client that does not read its replies: its input waits until they drain (the replies
    // to what it already sent stay queued, counted in the memory budget).
    let held = false;
    const counted: Link = {
      ...link,
      write: (text) => {
        if (text.startsWith('{"return"')) metrics.qmpReply('return');
        else if (text.startsWith('{"error"')) metrics.qmpReply('error');
        if (debug) log.debug({ event: 'qmp-send', text: clip(text.trimEnd()) }, 'QMP sent');
        const ok = link.write(text);
        if (!ok && !held) {
          held = true;
          link.pause();
        }
        return ok;
      },
      // A long message arrives as Buffers (its last one ends in LF): counted by its first.
      writeBytes: (piece) => {
        if (messageStart) {
          const head = piece.toString('latin1', 0, Math.min(piece.length, DEBUG_TEXT_CHARS));
          if (head.startsWith('{"return"')) metrics.qmpReply('return');
          else if (head.startsWith('{"error"')) metrics.qmpReply('error');
          if (debug) log.debug({ event: 'qmp-send', text: `${head}… (in pieces)` }, 'QMP sent');
        }
        messageStart = piece[piece.length - 1] === 0x0a;
        return link.writeBytes(piece);
      },
    };
    const monitor = attachQmp(live.session, counted, () => this.close(live, 'QMP quit', 'qmp-quit'), allow);
    live.qmpMonitors.add(monitor);
    live.qmpLinks.add(link);
    return {
      input: (c) => {
        if (debug) log.debug({ event: 'qmp-receive', text: clip(c.toString('utf8').trimEnd()) }, 'QMP received');
        monitor.input(c);
      },
      drained: () => {
        if (held) {
          held = false;
          link.resume();
        }
        monitor.drained();
      },
      inputEnded: (done) => monitor.inputEnded!(done),
      end: () => {
        live.qmpMonitors.delete(monitor);
        live.qmpLinks.delete(link);
        monitor.end();
      },
    };
  }

  /** Close a session: `reason` for the log, `kind` for the metrics. */
  close(live: LiveSession, reason: string, kind: CloseReason = 'other'): void {
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
    live.memory.close(); // its pages are garbage now: the budget has them back
    this.metrics.sessionsClosed.inc({ reason: kind });
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

  closeAll(reason: string, kind: CloseReason): void {
    for (const s of [...this.sessions.values()]) this.close(s, reason, kind);
  }
}

/** Translations a session's SMMU performed so far (0 without an SMMU or without counters). */
function smmuTranslations(session: Session): number {
  return session.machine.smmu?.counters.translations ?? 0;
}

/** Longest text of one debug log entry (a bulk transfer's reply is megabytes of hex). */
const DEBUG_TEXT_CHARS = 240;

function clip(text: string): string {
  return text.length > DEBUG_TEXT_CHARS ? `${text.slice(0, DEBUG_TEXT_CHARS)}… (${text.length} chars)` : text;
}

/**
 * A qtest log (QEMU's -qtest-log lines: `[R +s.us] request`, `[S +s.us] reply`, `[I …] OPENED`)
 * that becomes one debug entry per line on the session's logger (which carries the session id).
 */
function debugQtestLog(log: Logger): QtestLog {
  let line = '';
  let length = 0;
  return QtestLog.toSink((bytes) => {
    let from = 0;
    for (;;) {
      const nl = bytes.indexOf(0x0a, from);
      const end = nl < 0 ? bytes.length : nl;
      if (line.length < DEBUG_TEXT_CHARS + 32)
        line += bytes.toString('latin1', from, Math.min(end, from + DEBUG_TEXT_CHARS + 32));
      length += end - from;
      if (nl < 0) return;
      const m = /^\[([RSI]) [^\]]*\] ?/.exec(line);
      const text = m ? line.slice(m[0].length) : line;
      const total = m ? length - m[0].length : length;
      const what = m?.[1] === 'R' ? 'qtest-request' : m?.[1] === 'S' ? 'qtest-reply' : 'qtest-connection';
      log.debug(
        { event: what, text: total > DEBUG_TEXT_CHARS ? `${text.slice(0, DEBUG_TEXT_CHARS)}… (${total} chars)` : text },
        what,
      );
      line = '';
      length = 0;
      from = nl + 1;
    }
  });
}
