/**
 * The service's HTTP side: /healthz, /readyz, /metrics (Prometheus), /sessions (JSON), and
 * WebSocket upgrades — /qtest opens a session (handed to the listeners), /qmp?session=ID reaches
 * an open session's QMP.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import type { Metrics } from './metrics.js';
import { bindWebSocket } from './websocket-link.js';
import type { Listeners } from './listeners.js';
import type { SessionRegistry } from './session-registry.js';
import type { ServiceOptions } from './service-options.js';

export class HttpFrontEnd {
  readonly server: HttpServer;
  private readonly wss: WebSocketServer;

  constructor(
    private readonly opts: ServiceOptions,
    private readonly registry: SessionRegistry,
    private readonly metrics: Metrics,
    private readonly listeners: Listeners,
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.limits.maxLineBytes });
    this.server = createHttpServer((req, res) => this.handleHttp(req, res));
    this.server.on('upgrade', (req, socket, head) => this.handleUpgrade(req, socket as Socket, head));
  }

  /** Close the WebSocket server (its connections are shut down by the listeners and registry). */
  close(): void {
    this.wss.close();
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
        return this.registry.refuse()
          ? send(503, 'text/plain', `not ready: ${this.registry.refuse()}\n`)
          : send(200, 'text/plain', 'ready\n');
      case '/metrics':
        return send(200, 'text/plain; version=0.0.4', this.metrics.render());
      case '/sessions':
        return send(
          200,
          'application/json',
          JSON.stringify(
            this.registry.list().map((s) => ({
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
        return send(
          404,
          'text/plain',
          'not found: try /healthz, /readyz, /metrics, /sessions, ws /qtest, ws /qmp?session=ID\n',
        );
    }
  }

  private handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    // ECONNRESET / EPIPE from a client that went away mid-upgrade: nothing to serve any more
    socket.on('error', (err) => this.opts.log.debug({ err }, 'upgrade connection error'));
    const url = new URL(req.url ?? '/', 'http://localhost');
    const wss = this.wss;
    if (url.pathname === '/qmp') {
      const live = this.registry.get(url.searchParams.get('session') ?? '');
      if (!live) {
        socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n\r\nno such session\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) =>
        bindWebSocket(ws, (link) => this.registry.attachQmpEndpoint(live, link), 'qmp', undefined, this.opts.log),
      );
      return;
    }
    if (url.pathname !== '/qtest') {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n\r\nuse /qtest or /qmp?session=ID\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => this.listeners.acceptWebSocket(ws, url.searchParams, req));
  }
}
