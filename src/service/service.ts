/**
 * QtestdService: qtestd as a shared service. Every qtest connection (TCP, UNIX socket or
 * WebSocket) gets its own Session — its own machine, RAM, PCI, SMMU, devices and clock — chosen
 * by the defaults or by the connection's `#!qtestd` line / URL query. Each session's QMP is
 * reachable on its own UNIX socket (<runDir>/<id>.qmp) and at ws://…/qmp?session=<id>.
 *
 * This process accepts: it checks the run dir and takes the one-instance locks, listens, enforces
 * `--max-sessions`, answers health, readiness, metrics and the session list, handles signals, and
 * hands every connection's descriptor to a worker process (`--workers`, default one per core;
 * worker-pool.ts) where its session runs (session-host.ts, service-worker.ts). It never runs a
 * session itself, so nothing a session does can stall it. With `--workers 0` the sessions run in
 * this process instead (as before the pool; kept for comparison and debugging).
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, unlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { FrontMetrics } from './metrics.js';
import type { MetricsJson } from './metrics.js';
import { listen } from './endpoint-wrappers.js';
import { HttpFrontEnd } from './http.js';
import { IdTable } from './session-registry.js';
import type { SessionInfo } from './session-registry.js';
import { SessionHost } from './session-host.js';
import type { UpgradeRequest } from './session-host.js';
import type { ServiceOptions } from './service-options.js';
import type { WorkerServiceOptions } from './service-worker.js';
import { acquireLock, prepareRunDir, StartupError } from './run-dir.js';
import { listenRefusal } from './web-guard.js';
import { endRefused, openFileLimit, sessionsForFds } from './budgets.js';
import { FIRST_LINE_READ_BYTES, FirstLineGate, resumeReading } from './first-line.js';
import { WorkerPool } from './worker-pool.js';
import type { WorkerMessage } from './worker-pool.js';

export { defaultServiceOptions } from './service-options.js';
export type { ServiceOptions } from './service-options.js';
export { StartupError } from './run-dir.js';

/** How long /metrics and /sessions wait for a worker's answer before using its previous one. */
const ASK_DEADLINE_MS = 250;
/** Past the shutdown grace period, how long a worker may take to exit before it is killed. */
export const WORKER_EXIT_MARGIN_MS = 1000;
/** How long a QMP attach waits for its session's id to be claimed (see acceptUpgrade). */
const QMP_ATTACH_WAIT_MS = 2000;
/**
 * How long it waits at most while a /qtest upgrade that named that id (`?id=`) is on its way to a
 * worker: the claim follows the hand-over, which on a loaded machine can take longer than the
 * plain wait; a safety net, not a timing assumption.
 */
const QMP_ATTACH_PENDING_WAIT_MS = 60_000;

function workerModule(): string {
  const self = fileURLToPath(import.meta.url);
  return self.replace(/service\.(ts|js)$/, 'service-worker.$1');
}

function upgradeRequest(req: IncomingMessage): UpgradeRequest {
  return { method: req.method ?? 'GET', url: req.url ?? '/', headers: { ...req.headers } };
}

export class QtestdService {
  private readonly ids = new IdTable();
  private pool?: WorkerPool;
  private inline?: SessionHost;
  private http?: HttpFrontEnd;
  private readonly refusals = new WebSocketServer({ noServer: true });
  private servers: Array<Server | HttpServer> = [];
  private locks: Server[] = [];
  private accepting = false;
  /** qtest connections handed out and not reported closed (the `--max-sessions` count). */
  private connections = 0;
  /** …per worker, to forget a dead worker's share. */
  private perWorker: number[] = [];
  private readonly front: FrontMetrics;
  readonly addresses: { tcpPort?: number; httpPort?: number; unixPath?: string } = {};
  /** Sessions the open-file limit leaves room for (budgets.ts). */
  private readonly fdLimit = openFileLimit();
  private fdSessions = Infinity;
  /** Raw connections still reading their first line: no session slot yet (first-line.ts). */
  private readonly firstLines: FirstLineGate;
  /** Ids named by /qtest upgrades handed to a worker and not claimed yet → until when to wait. */
  private readonly unclaimedIds = new Map<string, number>();

  constructor(readonly opts: ServiceOptions) {
    this.front = new FrontMetrics(Math.max(0, opts.workers));
    this.fdSessions = sessionsForFds(this.fdLimit, opts.workers);
    this.firstLines = new FirstLineGate(
      opts.greetingTimeoutMs,
      opts.idleTimeoutMs,
      Math.min(FIRST_LINE_READ_BYTES, opts.limits.maxLineBytes + 1),
      (socket, reason) => endRefused(socket, `FAIL ${reason}\n`),
    );
  }

  get sessionCount(): number {
    return this.inline ? this.inline.sessionCount : this.connections;
  }

  /** The worker pids (empty with `--workers 0`). */
  workerPids(): number[] {
    return this.pool?.pids() ?? [];
  }

  /** Why a new qtest connection must be turned away now, or undefined. */
  refuse(): string | undefined {
    if (!this.accepting) return 'server is shutting down';
    if (this.connections >= this.opts.maxSessions) return `too many sessions (limit ${this.opts.maxSessions})`;
    if (this.connections >= this.fdSessions)
      return `too many sessions for the open-file limit (ulimit -n ${this.fdLimit} leaves room for ${this.fdSessions})`;
    return undefined;
  }

  async start(): Promise<void> {
    const { opts } = this;
    const exposed = listenRefusal(opts);
    if (exposed) throw new StartupError(exposed);
    prepareRunDir(opts.runDir);
    this.locks.push(await acquireLock('rundir', opts.runDir, 'the run dir'));
    if (opts.unixPath) this.locks.push(await acquireLock('socket', opts.unixPath, 'the qtest socket'));
    if (opts.tcp) {
      const server = createServer({ pauseOnConnect: true }, (socket) => this.acceptRaw(socket, 'tcp'));
      await listen(server, () => server.listen(opts.tcp!.port, opts.tcp!.host));
      this.addresses.tcpPort = (server.address() as { port: number }).port;
      this.servers.push(server);
    }
    if (opts.unixPath) {
      try {
        unlinkSync(opts.unixPath); // stale: we hold its lock, so no live instance serves it
      } catch {
        // no stale socket to remove; a real problem with the path shows in listen() below
      }
      const server = createServer({ pauseOnConnect: true }, (socket) => this.acceptRaw(socket, 'unix'));
      await listen(server, () => server.listen(opts.unixPath!));
      chmodSync(opts.unixPath, 0o600);
      this.addresses.unixPath = opts.unixPath;
      this.servers.push(server);
    }
    if (opts.http) {
      const http = (this.http = new HttpFrontEnd({
        log: opts.log,
        web: opts,
        refuse: () => this.refuse(),
        metrics: () => this.metrics(),
        sessions: () => this.sessions(),
        upgrade: (req, socket, head, kind) => this.acceptUpgrade(req, socket, head, kind),
      }));
      await listen(http.server, () => http.server.listen(opts.http!.port, opts.http!.host));
      this.addresses.httpPort = (http.server.address() as { port: number }).port;
      this.servers.push(http.server);
    }
    // started last, so that their start-up does not delay listening; connections that arrive
    // before a worker is ready wait for it (worker-pool.ts)
    this.startSessions();
    this.accepting = true;
  }

  private startSessions(): void {
    const { opts } = this;
    if (opts.workers <= 0) {
      this.inline = new SessionHost(opts, {
        claim: async (id) => this.ids.claim(id, 0),
        release: (id) => this.ids.release(id, 0),
      });
      return;
    }
    const { log, plugins: _plugins, ...rest } = opts;
    const workerOpts: WorkerServiceOptions = { ...rest, logLevel: log.level };
    this.perWorker = new Array<number>(opts.workers).fill(0);
    this.pool = new WorkerPool({
      module: workerModule(),
      size: opts.workers,
      env: { QTESTD_SERVICE_OPTIONS: JSON.stringify(workerOpts) },
      log,
      onMessage: (index, msg) => this.fromWorker(index, msg),
      onExit: (index) => {
        this.ids.releaseAll(index);
        this.connections -= this.perWorker[index]!;
        this.perWorker[index] = 0;
        const last = this.pool!.lastAnswer<MetricsJson>(index, 'metrics');
        if (last)
          this.front.retire(last).catch((err: Error) => log.warn({ err }, "cannot keep a dead worker's counters"));
        if (this.accepting) this.front.workerRestarts.inc();
      },
    });
  }

  private fromWorker(index: number, msg: WorkerMessage): void {
    switch (msg.t) {
      case 'claim':
        if (typeof msg.id === 'string') this.unclaimedIds.delete(msg.id);
        this.pool!.post(
          { t: 'claimed', rid: msg.rid, result: this.ids.claim((msg.id as string | null) ?? undefined, index) },
          index,
        );
        return;
      case 'reserve': {
        const ids: string[] = [];
        for (let i = 0; i < (msg.count as number); i++) {
          const r = this.ids.claim(undefined, index);
          if (r.ok) ids.push(r.id);
        }
        this.pool!.post({ t: 'reserved', ids }, index);
        return;
      }
      case 'release':
        this.ids.release(msg.id as string, index);
        return;
      case 'closed':
        if (msg.qtest) this.connectionClosed(index);
        return;
      case 'recycle':
        // a worker with no sessions that holds memory it cannot give back: replace it
        if (this.accepting && this.perWorker[index] === 0) {
          this.opts.log.info({ event: 'worker-recycle', worker: index, rss: msg.rss }, 'replacing an idle worker');
          this.pool!.recycle(index, { t: 'stop', graceMs: 0 });
        }
        return;
    }
  }

  private connectionClosed(index: number): void {
    this.connections--;
    this.perWorker[index] = Math.max(0, (this.perWorker[index] ?? 0) - 1);
  }

  /** Count a qtest connection for worker `index`; returns its `done`. */
  private countConnection(index: number): () => void {
    this.connections++;
    if (this.perWorker.length) this.perWorker[index]!++;
    let once = false;
    return () => {
      if (once) return;
      once = true;
      this.connectionClosed(index);
    };
  }

  private refuseRaw(socket: Socket, transport: string, reason: string): void {
    this.front.sessionsRefused.inc();
    this.opts.log.warn({ event: 'session-refused', transport, reason }, 'connection refused');
    socket.on('error', (err) => this.opts.log.debug({ err }, 'refused connection error'));
    resumeReading(socket); // a connection held after its first line reads (and discards) again
    endRefused(socket, `FAIL ${reason}\n`); // orderly, and bounded in time
  }

  /**
   * A raw qtest connection counts against `--max-sessions` once its first line is in: until then
   * it waits here (first-line.ts), bounded in number, bytes, and time.
   */
  private acceptRaw(socket: Socket, transport: 'tcp' | 'unix'): void {
    const refusal = this.accepting ? this.waitingRefusal() : 'server is shutting down';
    if (refusal) return this.refuseRaw(socket, transport, refusal);
    socket.on('error', (err) => this.opts.log.debug({ err, transport }, 'qtest connection error'));
    this.firstLines.read(socket, (head) => this.handRaw(socket, transport, head));
  }

  /** Why one more connection cannot wait for its first line (the open-file budget counts it). */
  private waitingRefusal(): string | undefined {
    if (this.connections + this.firstLines.size >= this.fdSessions)
      return `too many sessions for the open-file limit (ulimit -n ${this.fdLimit} leaves room for ${this.fdSessions})`;
    return this.firstLines.refusal();
  }

  private handRaw(socket: Socket, transport: 'tcp' | 'unix', head: Buffer): void {
    const refusal = this.refuse();
    if (refusal) return this.refuseRaw(socket, transport, refusal);
    if (this.inline) return this.inline.acceptRaw(socket, transport, this.countConnection(0), head);
    const index = this.pool!.pick();
    const done = this.countConnection(index);
    if (this.pool!.hand({ t: 'conn', transport, head: head.toString('base64') }, socket, index) < 0) {
      done();
      this.refuseRaw(socket, transport, 'no worker available');
    }
  }

  /** A /qtest upgrade naming `id` is on its way to a worker (forgotten on its claim, or in time). */
  private expectClaim(id: string): void {
    const now = Date.now();
    if (this.unclaimedIds.size >= 4096)
      for (const [k, until] of this.unclaimedIds) if (until <= now) this.unclaimedIds.delete(k);
    this.unclaimedIds.set(id, now + QMP_ATTACH_PENDING_WAIT_MS);
  }

  /**
   * The worker owning session `id`, waiting up to `ms` for a claim in flight, or for as long as a
   * /qtest upgrade naming `id` is handed on and not yet claimed (bounded by
   * QMP_ATTACH_PENDING_WAIT_MS).
   */
  private async ownerWithin(id: string, ms: number): Promise<number | undefined> {
    for (let waited = 0; ; waited += 10) {
      const owner = this.ids.ownerOf(id);
      const limit = (this.unclaimedIds.get(id) ?? 0) > Date.now() ? QMP_ATTACH_PENDING_WAIT_MS : ms;
      if (owner !== undefined || waited >= limit || id === '') return owner;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private handQmpUpgrade(
    upgrade: ReturnType<typeof upgradeRequest>,
    socket: Socket,
    head: Buffer,
    owner: number,
  ): void {
    if (this.inline) return this.inline.acceptUpgrade(upgrade, socket, head);
    if (this.pool!.hand({ t: 'upgrade', kind: 'qmp', req: upgrade, head: head.toString('base64') }, socket, owner) < 0)
      socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\r\nworker unavailable\n');
  }

  private acceptUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, kind: 'qtest' | 'qmp'): void {
    const upgrade = upgradeRequest(req);
    if (kind === 'qmp') {
      const id = new URL(upgrade.url, 'http://localhost').searchParams.get('session') ?? '';
      // A /qtest session claims its id in its worker after the client has seen the 101, so a client
      // that attaches its QMP right away can be a moment ahead of the claim: wait for it, bounded.
      void this.ownerWithin(id, QMP_ATTACH_WAIT_MS).then((owner) => {
        if (owner === undefined) {
          socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n\r\nno such session\n');
          return;
        }
        this.handQmpUpgrade(upgrade, socket, head, owner);
      });
      return;
    }
    const refusal = this.refuse();
    if (refusal) {
      this.front.sessionsRefused.inc();
      this.refusals.handleUpgrade(req, socket, head, (ws) => {
        ws.send(`FAIL ${refusal}`);
        ws.close(1008, refusal.slice(0, 120));
      });
      return;
    }
    if (this.inline) return this.inline.acceptUpgrade(upgrade, socket, head, this.countConnection(0));
    const index = this.pool!.pick();
    const done = this.countConnection(index);
    // a QMP attach naming this id waits for its claim (ownerWithin), however long the hand-over takes
    const id = new URL(upgrade.url, 'http://localhost').searchParams.get('id');
    if (id) this.expectClaim(id);
    if (this.pool!.hand({ t: 'upgrade', kind, req: upgrade, head: head.toString('base64') }, socket, index) < 0) {
      done();
      socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\r\nworker unavailable\n');
    }
  }

  /** The Prometheus text of /metrics: this process's metrics and every worker's, merged. */
  async metrics(): Promise<string> {
    const workers = this.inline
      ? [await this.inline.metrics()]
      : await this.pool!.ask<MetricsJson>('metrics', ASK_DEADLINE_MS);
    return this.front.render(workers);
  }

  async sessions(): Promise<SessionInfo[]> {
    if (this.inline) return this.inline.sessions();
    const lists = await this.pool!.ask<SessionInfo[]>('sessions', ASK_DEADLINE_MS);
    return lists.flat().sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /**
   * Stop accepting; every open qtest connection gets the replies to what it already ran, then
   * `FAIL shutting down`, and is closed; QMP monitors get QEMU's SHUTDOWN event (session-host.ts).
   * Wait (at most `graceMs`) for the peers to close; then drop the rest.
   * (Waiting for net.Server#close callbacks would wait for the very connections we are closing.)
   */
  async stop(graceMs = this.opts.shutdownGraceMs): Promise<void> {
    this.accepting = false;
    for (const server of this.servers) server.close();
    this.firstLines.closeAll('shutting down'); // as an open connection is told
    this.refusals.close();
    if (this.opts.unixPath) {
      try {
        unlinkSync(this.opts.unixPath);
      } catch {
        // already gone: nothing left to clean up
      }
    }
    if (this.inline) await this.inline.stop(graceMs);
    // the workers get the grace period plus a margin to exit on their own (a busy machine may be
    // slow to schedule them); one still there then (a request that does not yield) is killed, so
    // that nothing outlives the service
    else await this.pool!.stop({ t: 'stop', graceMs }, graceMs + WORKER_EXIT_MARGIN_MS);
    for (const server of this.servers) (server as HttpServer).closeAllConnections?.();
    for (const lock of this.locks) lock.close();
  }
}
