/**
 * QtestdService: qtestd as a shared service. Every qtest connection (TCP, UNIX socket or
 * WebSocket) gets its own Session — its own machine, RAM, PCI, SMMU, devices and clock — chosen
 * by the defaults or by the connection's `#!qtestd` line / URL query. Each session's QMP is
 * reachable on its own UNIX socket (<runDir>/<id>.qmp) and at ws://…/qmp?session=<id>. Enforces
 * the limits (sessions, RAM, line length, idle time), exposes health, readiness, Prometheus
 * metrics and a session list over HTTP, and drains on stop().
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { Logger } from '../base/log.js';
import { DEFAULT_LIMITS } from '../base/limits.js';
import type { Limits } from '../base/limits.js';
import type { MachinePlugins } from '../machine/machine.js';
import { Session } from '../session/session.js';
import { attachQmp } from '../session/qmp-attach.js';
import type { QmpMonitor } from '../session/qmp-attach.js';
import { bindSocket } from '../transport/socket-link.js';
import { openChardev } from '../transport/chardev-open.js';
import type { OpenedChardev } from '../transport/chardev-open.js';
import type { Endpoint, Link } from '../protocol/link.js';
import { Greeter } from './greeter.js';
import { Metrics } from './metrics.js';
import { parseSessionOptions, queryToWords, splitWords } from '../config/session-options.js';
import { bindWebSocket } from './websocket-link.js';
import { gated, listen, withActivity } from './endpoint-wrappers.js';
import { DEFAULT_SERVICE_ARGV } from '../machine/config.js';

export interface ServiceOptions {
  /** qtest over TCP; null disables it. Port 0 picks a free port. */
  tcp: { host: string; port: number } | null;
  /** qtest over a UNIX socket (created 0600); null disables it. */
  unixPath: string | null;
  /** HTTP: WebSocket endpoints, /healthz, /readyz, /metrics, /sessions; null disables it. */
  http: { host: string; port: number } | null;
  /** Directory for per-session QMP sockets. */
  runDir: string;
  /** Machine options every session starts from. */
  defaults: string[];
  limits: Limits;
  maxSessions: number;
  /** Close a connection that sent nothing for this long (0 = never). */
  idleTimeoutMs: number;
  plugins: MachinePlugins;
  log: Logger;
}

export function defaultServiceOptions(plugins: MachinePlugins, log: Logger): ServiceOptions {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const runDir = join(process.env.XDG_RUNTIME_DIR ?? '/tmp', `qtestd-${uid}`);
  return {
    tcp: { host: '127.0.0.1', port: 3737 },
    unixPath: join(runDir, 'qtest.sock'),
    http: { host: '127.0.0.1', port: 3738 },
    runDir,
    defaults: DEFAULT_SERVICE_ARGV,
    limits: { ...DEFAULT_LIMITS, maxTouchedRamBytes: 1024 * 1024 * 1024 },
    maxSessions: 1000,
    idleTimeoutMs: 10 * 60 * 1000,
    plugins,
    log,
  };
}

/** How long stop() waits for connections to close after telling them to, before dropping them. */
const STOP_GRACE_MS = 500;

/**
 * A qtest connection (raw socket or WebSocket, with or without a session yet) as stop() sees it:
 * `shutdown` stops feeding input to the session (what was received and answered is flushed,
 * later input is read and discarded so that the close is an orderly one, not a reset) and
 * closes our side; `closed` settles when the peer is gone; `destroy` is the last resort.
 */
interface Connection {
  shutdown(code?: number): void;
  destroy(): void;
  closed: Promise<void>;
}

interface LiveSession {
  id: string;
  session: Session;
  transport: 'tcp' | 'unix' | 'websocket';
  peer: string;
  createdAt: number;
  qmpSocketPath: string;
  qmpServer?: OpenedChardev;
  qmpMonitors: Set<QmpMonitor>;
  /** Open QMP connections (UNIX socket or WebSocket), closed with the session. */
  qmpLinks: Set<Link>;
  closeConnection: () => void;
}

export class QtestdService {
  readonly metrics: Metrics;
  private readonly sessions = new Map<string, LiveSession>();
  private readonly connections = new Set<Connection>();
  /** SMMU translations of sessions already closed (qtestd_smmu_translations_total is a counter). */
  private closedSmmuTranslations = 0;
  private servers: Array<Server | HttpServer> = [];
  private wss?: WebSocketServer;
  private accepting = false;
  private nextId = 1;
  /** Connections being greeted (no session yet), counted against the limit too. */
  private pendingConnections = 0;
  readonly addresses: { tcpPort?: number; httpPort?: number; unixPath?: string } = {};

  constructor(readonly opts: ServiceOptions) {
    this.metrics = new Metrics(() => {
      let touched = 0;
      // a counter: what closed sessions did stays counted (else it would drop when they close)
      let translations = this.closedSmmuTranslations;
      for (const s of this.sessions.values()) {
        touched += s.session.machine.ram?.touchedBytes ?? 0;
        translations += smmuTranslations(s.session);
      }
      return { sessionsActive: this.sessions.size, touchedRamBytes: touched, smmuTranslations: translations };
    });
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  async start(): Promise<void> {
    const { opts } = this;
    mkdirSync(opts.runDir, { recursive: true, mode: 0o700 });
    if (opts.tcp) {
      const server = createServer((socket) => this.acceptRaw(socket, 'tcp'));
      await listen(server, () => server.listen(opts.tcp!.port, opts.tcp!.host));
      this.addresses.tcpPort = (server.address() as { port: number }).port;
      this.servers.push(server);
    }
    if (opts.unixPath) {
      try {
        unlinkSync(opts.unixPath);
      } catch {
        /* no stale socket */
      }
      const server = createServer((socket) => this.acceptRaw(socket, 'unix'));
      await listen(server, () => server.listen(opts.unixPath!));
      chmodSync(opts.unixPath, 0o600);
      this.addresses.unixPath = opts.unixPath;
      this.servers.push(server);
    }
    if (opts.http) {
      this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.limits.maxLineBytes });
      const server = createHttpServer((req, res) => this.handleHttp(req, res));
      server.on('upgrade', (req, socket, head) => this.handleUpgrade(req, socket as Socket, head));
      await listen(server, () => server.listen(opts.http!.port, opts.http!.host));
      this.addresses.httpPort = (server.address() as { port: number }).port;
      this.servers.push(server);
    }
    this.accepting = true;
  }

  /**
   * Stop accepting, let every connection flush the replies to what it already processed, close
   * every session, and wait (at most `graceMs`) for the peers to close; then drop the rest.
   * (Waiting for net.Server#close callbacks would wait for the very connections we are closing.)
   */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.accepting = false;
    for (const server of this.servers) server.close();
    for (const c of this.connections) c.shutdown(1001);
    for (const s of [...this.sessions.values()]) this.closeSession(s, 'server shutting down');
    this.wss?.close();
    if (this.opts.unixPath) {
      try {
        unlinkSync(this.opts.unixPath);
      } catch {
        /* already gone */
      }
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.connections].map((c) => c.closed)),
      new Promise<void>((r) => (timer = setTimeout(r, graceMs))),
    ]);
    clearTimeout(timer);
    if (this.connections.size) this.opts.log.warn({ event: 'shutdown-forced', connections: this.connections.size }, 'dropping connections that did not close in time');
    for (const c of this.connections) c.destroy();
    for (const server of this.servers) (server as HttpServer).closeAllConnections?.();
  }

  private track(conn: Connection): Connection {
    this.connections.add(conn);
    void conn.closed.then(() => this.connections.delete(conn));
    return conn;
  }

  private refuse(): string | undefined {
    if (!this.accepting) return 'server is shutting down';
    if (this.sessions.size + this.pendingConnections >= this.opts.maxSessions) {
      return `too many sessions (limit ${this.opts.maxSessions})`;
    }
    return undefined;
  }

  private acceptRaw(socket: Socket, transport: 'tcp' | 'unix'): void {
    socket.on('error', () => {});
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    let open = true;
    const conn = this.track({
      shutdown: () => {
        if (!open) return;
        open = false;
        socket.resume(); // keep reading (and discarding) until the peer closes too
        socket.end();
      },
      destroy: () => socket.destroy(),
      closed,
    });
    const refusal = this.refuse();
    if (refusal) {
      this.metrics.sessionsRefused++;
      this.opts.log.warn({ event: 'session-refused', transport, reason: refusal }, 'connection refused');
      open = false;
      socket.resume(); // discard whatever the peer sends, so that the close is orderly
      socket.end(`FAIL ${refusal}\n`);
      return;
    }
    this.pendingConnections++;
    let live: LiveSession | undefined;
    let counted = true;
    const uncount = (): void => {
      if (counted) {
        counted = false;
        this.pendingConnections--;
      }
    };
    const peer = transport === 'tcp' ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix';
    const idle = this.idleTimer(() => {
      socket.write(`FAIL idle timeout: no request for ${Math.round(this.opts.idleTimeoutMs / 1000)} s; closing\n`);
      conn.shutdown();
    });
    bindSocket(
      socket,
      (link) =>
        gated(() => open, new Greeter(
          link,
          (line) => {
            const r = this.createSession(line === undefined ? [] : splitWords(line), transport, peer, () => conn.shutdown());
            if (!r.ok) return r;
            uncount();
            live = r.live;
            return { ok: true, endpoint: (l: Link) => withActivity(this.attachQtestEndpoint(r.live, l), idle.touch) };
          },
          this.opts.limits.maxLineBytes,
        )),
      {
        encoding: 'latin1',
        onClose: () => {
          uncount();
          idle.stop();
          if (live) this.closeSession(live, 'client disconnected');
        },
      },
    );
    socket.on('data', idle.touch);
  }

  private idleTimer(onIdle: () => void): { touch: () => void; stop: () => void } {
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

  private createSession(
    words: string[],
    transport: LiveSession['transport'],
    peer: string,
    closeConnection: () => void,
  ): { ok: true; live: LiveSession } | { ok: false; reason: string } {
    let request;
    try {
      request = parseSessionOptions(words, this.opts.defaults);
    } catch (e) {
      return { ok: false, reason: (e as Error).message };
    }
    const id = request.id ?? `s${this.nextId++}`;
    if (this.sessions.has(id)) return { ok: false, reason: `session id '${id}' is in use` };
    let session: Session;
    const log = this.opts.log.child({ session: id });
    try {
      session = new Session(request.config, { log, limits: this.opts.limits, plugins: this.opts.plugins });
    } catch (e) {
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
      (socket) => bindSocket(socket, (link) => this.attachQmpEndpoint(live, link), { encoding: 'utf8' }),
      (err) => log.warn({ err }, 'cannot open the session QMP socket'),
      { unixMode: 0o600 },
    );
    this.sessions.set(id, live);
    this.metrics.sessionsTotal++;
    log.info({ event: 'session-open', transport, peer, qmp: live.qmpSocketPath, devices: request.config.devices.map((d) => d.driver) }, 'session opened');
    return { ok: true, live };
  }

  private attachQtestEndpoint(live: LiveSession, link: Link): Endpoint {
    return live.session.attachQtest(link, {
      onRequest: (kind) => {
        this.metrics.qtestRequests[kind]++;
      },
    });
  }

  private attachQmpEndpoint(live: LiveSession, link: Link): Endpoint {
    if (this.sessions.get(live.id) !== live) {
      // the session closed while this connection was being set up
      link.close();
      return { input: () => {}, drained: () => {}, end: () => {} };
    }
    const monitor = attachQmp(live.session, link, () => this.closeSession(live, 'QMP quit'));
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

  private closeSession(live: LiveSession, reason: string): void {
    if (this.sessions.get(live.id) !== live) return;
    this.sessions.delete(live.id);
    live.qmpServer?.close();
    // QMP connections of this session (a WebSocket is not owned by the chardev) go with it
    for (const link of [...live.qmpLinks]) link.close();
    live.qmpLinks.clear();
    try {
      unlinkSync(live.qmpSocketPath);
    } catch {
      /* already gone */
    }
    live.closeConnection();
    this.closedSmmuTranslations += smmuTranslations(live.session);
    live.session.dispose();
    this.opts.log.info(
      { event: 'session-close', session: live.id, reason, lifetimeMs: Date.now() - live.createdAt, ramTouchedBytes: live.session.machine.ram?.touchedBytes ?? 0 },
      'session closed',
    );
  }

  private handleHttp(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    switch (url.pathname) {
      case '/healthz':
        return send(200, 'text/plain', 'ok\n');
      case '/readyz':
        return this.refuse() ? send(503, 'text/plain', `not ready: ${this.refuse()}\n`) : send(200, 'text/plain', 'ready\n');
      case '/metrics':
        return send(200, 'text/plain; version=0.0.4', this.metrics.render());
      case '/sessions':
        return send(
          200,
          'application/json',
          JSON.stringify(
            [...this.sessions.values()].map((s) => ({
              id: s.id,
              transport: s.transport,
              peer: s.peer,
              createdAt: new Date(s.createdAt).toISOString(),
              qmp: s.qmpSocketPath,
              ramTouchedBytes: s.session.machine.ram?.touchedBytes ?? 0,
            })),
          ) + '\n',
        );
      default:
        return send(404, 'text/plain', 'not found: try /healthz, /readyz, /metrics, /sessions, ws /qtest, ws /qmp?session=ID\n');
    }
  }

  private handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => {});
    const url = new URL(req.url ?? '/', 'http://localhost');
    const wss = this.wss!;
    if (url.pathname === '/qmp') {
      const live = this.sessions.get(url.searchParams.get('session') ?? '');
      if (!live) {
        socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n\r\nno such session\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => bindWebSocket(ws, (link) => this.attachQmpEndpoint(live, link), 'qmp'));
      return;
    }
    if (url.pathname !== '/qtest') {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n\r\nuse /qtest or /qmp?session=ID\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => this.acceptWebSocket(ws, url.searchParams, req));
  }

  private acceptWebSocket(ws: WebSocket, query: URLSearchParams, req: IncomingMessage): void {
    const refusal = this.refuse();
    const words = queryToWords(query);
    let open = true;
    const conn: Connection = {
      shutdown: (code = 1000) => {
        if (!open) return;
        open = false;
        ws.resume(); // the endpoint may have paused it; the peer's close frame must get through
        ws.close(code);
      },
      destroy: () => ws.terminate(),
      closed: new Promise<void>((r) => ws.once('close', () => r())),
    };
    const r = refusal ? { ok: false as const, reason: refusal } : this.createSession(words, 'websocket', `${req.socket.remoteAddress}:${req.socket.remotePort}`, () => conn.shutdown());
    if (!r.ok) {
      if (refusal) this.metrics.sessionsRefused++;
      ws.send(`FAIL ${r.reason}`);
      ws.close(1008, r.reason.slice(0, 120));
      return;
    }
    const live = r.live;
    this.track(conn);
    const idle = this.idleTimer(() => {
      ws.send(`FAIL idle timeout: no request for ${Math.round(this.opts.idleTimeoutMs / 1000)} s; closing`);
      conn.shutdown();
    });
    ws.on('message', idle.touch);
    bindWebSocket(ws, (link) => gated(() => open, this.attachQtestEndpoint(live, link)), 'qtest', () => {
      idle.stop();
      this.closeSession(live, 'client disconnected');
    });
  }
}

/** Translations a session's SMMU performed so far (0 without an SMMU or without counters). */
function smmuTranslations(session: Session): number {
  return session.machine.smmu?.counters.translations ?? 0;
}
