/**
 * Where sessions run: one per worker process (or one in the accepting process with
 * `--workers 0`). Takes over connections the accepting process accepted and checked — raw
 * TCP/UNIX sockets, and HTTP upgrades it parsed (the WebSocket handshake is completed here, with
 * the request line, headers and any bytes read past them handed over too) — and answers its
 * questions: counters and gauges, the session list.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { announceShutdown } from '../session/qmp-attach.js';
import type { MetricsJson } from './metrics.js';
import { Listeners } from './listeners.js';
import { SessionRegistry } from './session-registry.js';
import type { IdClaims, SessionInfo } from './session-registry.js';
import type { ServiceOptions } from './service-options.js';
import { bindWebSocket } from './websocket-link.js';
import { qmpAttachRefusal } from './budgets.js';
import { INSPECTOR_COMMANDS } from './inspector.js';

/** An HTTP upgrade request as it travels to a worker. */
export interface UpgradeRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

/** The line every open qtest connection gets when the service stops. */
export const SHUTDOWN_LINE = 'FAIL shutting down';

export class SessionHost {
  private readonly registry: SessionRegistry;
  private readonly listeners: Listeners;
  private readonly wss: WebSocketServer;
  private stopping = false;

  /** `processMetrics`: this host is a worker process (its metrics include the process's). */
  constructor(
    private readonly opts: ServiceOptions,
    ids: IdClaims,
    processMetrics = false,
  ) {
    this.registry = new SessionRegistry(opts, ids, processMetrics);
    this.listeners = new Listeners(opts, this.registry, () => (this.stopping ? 'server is shutting down' : undefined));
    this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.limits.maxLineBytes });
    this.wss.on('headers', (headers, req) => this.listeners.handshakeHeaders(headers, req));
  }

  get sessionCount(): number {
    return this.registry.size;
  }

  /** This host's metrics (prom-client JSON, for the accepting process to merge). */
  metrics(): Promise<MetricsJson> {
    return this.registry.metrics.json();
  }

  /** This host's memory share and what its sessions hold of it (guest RAM + buffered bytes). */
  memoryState(): { share: number; inUse: number } {
    const m = this.registry.memory;
    return { share: m.share, inUse: m.inUse() };
  }

  sessions(): SessionInfo[] {
    return this.registry.infos();
  }

  hasSession(id: string): boolean {
    return this.registry.get(id) !== undefined;
  }

  /** `head`: the bytes the accepting process read already (the first line, first-line.ts). */
  acceptRaw(socket: Socket, transport: 'tcp' | 'unix', done?: () => void, head?: Buffer): void {
    this.listeners.acceptRaw(socket, transport, done, head);
  }

  /** Resolves once session `id` is no longer being created (bounded: a safety net, not a timing). */
  private async whenOpened(id: string): Promise<void> {
    for (let k = 0; k < 6000 && this.registry.isOpening(id); k++) await new Promise((r) => setTimeout(r, 10));
  }

  /** Complete a WebSocket upgrade the accepting process parsed: /qtest opens a session, /qmp attaches. */
  acceptUpgrade(req: UpgradeRequest, socket: Socket, head: Buffer, done: () => void = () => {}): void {
    // ECONNRESET / EPIPE from a client that went away mid-upgrade: nothing to serve any more
    socket.on('error', (err) => this.opts.log.debug({ err }, 'upgrade connection error'));
    const url = new URL(req.url, 'http://localhost');
    const fakeReq = { ...req, socket } as unknown as IncomingMessage;
    if (url.pathname === '/qmp') {
      void new Promise<void>((r) => socket.once('close', () => r())).then(done);
      const id = url.searchParams.get('session') ?? '';
      // the session may be a moment away (its id claimed, its machine not yet built): wait for it
      if (!this.registry.get(id) && this.registry.isOpening(id)) {
        void this.whenOpened(id).then(() => this.acceptUpgrade(req, socket, head));
        return;
      }
      const live = this.registry.get(id);
      if (!live) {
        socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n\r\nno such session\n');
        return;
      }
      // The inspector's monitor (inspect=1) needs no token: it runs read-only commands only.
      const inspect = url.searchParams.get('inspect') === '1';
      const tokenOk = inspect || this.listeners.qmpTokenOk(live, url.searchParams.get('token'));
      const refusal = qmpAttachRefusal(live, tokenOk);
      if (refusal) return void socket.end(refusal);
      const allow = inspect ? (command: string) => INSPECTOR_COMMANDS.has(command) : undefined;
      this.wss.handleUpgrade(fakeReq, socket, head, (ws) => {
        // QMP output waiting for a slow client is memory like queued qtest replies
        const uncount = this.registry.memory.addSource(() => ws.bufferedAmount);
        ws.once('close', uncount);
        bindWebSocket(
          ws,
          (link) => this.registry.attachQmpEndpoint(live, link, allow),
          'qmp',
          undefined,
          this.opts.log,
        );
      });
      return;
    }
    let handled = false;
    socket.once('close', () => {
      if (!handled) done();
    });
    this.wss.handleUpgrade(fakeReq, socket, head, (ws) => {
      handled = true;
      this.listeners.acceptWebSocket(ws, url.searchParams, fakeReq, done);
    });
  }

  /**
   * Stop: refuse what still arrives; every qtest connection stops taking requests, and after the
   * replies to what it already ran gets `FAIL shutting down` and is closed (a request in flight —
   * a job in slices — gets half of `graceMs` to finish; one still running then is dropped and
   * answered by that line); every QMP monitor gets what
   * QEMU sends on SIGTERM (the SHUTDOWN event, `host-signal`) and is closed. Then wait at most
   * `graceMs` for the peers to read that and close; drop the rest.
   */
  async stop(graceMs = this.opts.shutdownGraceMs): Promise<void> {
    this.stopping = true;
    const until = performance.now() + graceMs;
    // requests in flight may finish within the first half of the grace period (the rest is for
    // the peers to read what they were sent); those still running then are dropped
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.listeners.shutdownAll(1001, SHUTDOWN_LINE),
      new Promise<void>((r) => (timer = setTimeout(r, graceMs / 2))),
    ]);
    clearTimeout(timer);
    await Promise.all(this.registry.list().map((live) => announceShutdown(live.session, 'host-signal')));
    this.registry.closeAll('server shutting down', 'shutdown');
    this.wss.close();
    await this.listeners.settle(Math.max(0, until - performance.now()));
  }
}
