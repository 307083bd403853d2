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
import type { Logger } from '../log.js';
import { DEFAULT_LIMITS } from '../limits.js';
import type { Limits } from '../limits.js';
import type { MachinePlugins } from '../machine/machine.js';
import { Session } from '../session.js';
import { attachQmp } from '../cli/qmp-attach.js';
import type { QmpMonitor } from '../cli/qmp-attach.js';
import { bindSocket } from '../transport/socket-link.js';
import { openChardev } from '../transport/chardev-open.js';
import type { OpenedChardev } from '../transport/chardev-open.js';
import type { Endpoint, Link } from '../transport/link.js';
import { Greeter } from './greeter.js';
import { Metrics } from './metrics.js';
import { parseSessionOptions, SESSION_ID_RE, splitWords } from './session-options.js';
import { bindWebSocket } from './websocket-link.js';
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

interface LiveSession {
  id: string;
  session: Session;
  transport: 'tcp' | 'unix' | 'websocket';
  peer: string;
  createdAt: number;
  qmpSocketPath: string;
  qmpServer?: OpenedChardev;
  qmpMonitors: Set<QmpMonitor>;
  closeConnection: () => void;
}

export class QtestdService {
  readonly metrics: Metrics;
  private readonly sessions = new Map<string, LiveSession>();
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
      let translations = 0;
      for (const s of this.sessions.values()) {
        touched += s.session.machine.ram?.touchedBytes ?? 0;
        const snap = (s.session.machine.smmu as unknown as { counters?: { translations?: number } })?.counters;
        translations += snap?.translations ?? 0;
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

  /** Stop accepting, finish what is in flight, close every session. */
  async stop(): Promise<void> {
    this.accepting = false;
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const s of [...this.sessions.values()]) this.closeSession(s, 'server shutting down');
    this.wss?.close();
    if (this.opts.unixPath) {
      try {
        unlinkSync(this.opts.unixPath);
      } catch {
        /* already gone */
      }
    }
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
    const refusal = this.refuse();
    if (refusal) {
      this.metrics.sessionsRefused++;
      this.opts.log.warn({ event: 'session-refused', transport, reason: refusal }, 'connection refused');
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
      socket.end();
    });
    bindSocket(
      socket,
      (link) =>
        new Greeter(
          link,
          (line) => {
            const r = this.createSession(line === undefined ? [] : splitWords(line), transport, peer, () => socket.end());
            if (!r.ok) return r;
            uncount();
            live = r.live;
            return { ok: true, endpoint: (l: Link) => withActivity(this.attachQtestEndpoint(r.live, l), idle.touch) };
          },
          this.opts.limits.maxLineBytes,
        ),
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
      closeConnection,
    };
    live.qmpServer = openChardev(
      { kind: 'unix', path: live.qmpSocketPath, server: true, wait: false },
      (socket) => bindSocket(socket, (link) => this.attachQmpEndpoint(live, link), { encoding: 'utf8' }),
      (err) => log.warn({ err }, 'cannot open the session QMP socket'),
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
    const monitor = attachQmp(live.session, link, () => this.closeSession(live, 'QMP quit'));
    live.qmpMonitors.add(monitor);
    return {
      input: (c) => {
        this.metrics.qmpCommands++;
        monitor.input(c);
      },
      drained: () => monitor.drained(),
      end: () => {
        live.qmpMonitors.delete(monitor);
        monitor.end();
      },
    };
  }

  private closeSession(live: LiveSession, reason: string): void {
    if (this.sessions.get(live.id) !== live) return;
    this.sessions.delete(live.id);
    live.qmpServer?.close();
    try {
      unlinkSync(live.qmpSocketPath);
    } catch {
      /* already gone */
    }
    live.closeConnection();
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
    const r = refusal ? { ok: false as const, reason: refusal } : this.createSession(words, 'websocket', `${req.socket.remoteAddress}:${req.socket.remotePort}`, () => ws.close(1000));
    if (!r.ok) {
      if (refusal) this.metrics.sessionsRefused++;
      ws.send(`FAIL ${r.reason}`);
      ws.close(1008, r.reason.slice(0, 120));
      return;
    }
    const live = r.live;
    const idle = this.idleTimer(() => {
      ws.send(`FAIL idle timeout: no request for ${Math.round(this.opts.idleTimeoutMs / 1000)} s; closing`);
      ws.close(1000);
    });
    ws.on('message', idle.touch);
    bindWebSocket(ws, (link) => this.attachQtestEndpoint(live, link), 'qtest', () => {
      idle.stop();
      this.closeSession(live, 'client disconnected');
    });
  }
}

/** `?machine=virt,iommu=smmuv3&device=edu&device=pci-testdev&m=1G&id=job1` → option words. */
export function queryToWords(q: URLSearchParams): string[] {
  const words: string[] = [];
  for (const [k, v] of q) {
    if (k === 'id') words.push(`id=${v}`);
    else if (SESSION_ID_RE.test(k)) words.push(`-${k}`, v);
  }
  return words;
}

function withActivity(endpoint: Endpoint, touch: () => void): Endpoint {
  return {
    input: (c) => {
      touch();
      endpoint.input(c);
    },
    drained: () => endpoint.drained(),
    end: () => endpoint.end(),
  };
}

function listen(server: Server | HttpServer, go: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
    go();
  });
}
