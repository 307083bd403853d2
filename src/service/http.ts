/**
 * The service's HTTP side, in the accepting process: /healthz, /readyz, /metrics (Prometheus),
 * /sessions (JSON), and WebSocket upgrades, which it parses and hands on (to the worker a
 * /qtest session is placed on, or the worker that owns the session of /qmp?session=ID). /healthz
 * and /readyz answer from the accepting process's own state; /metrics and /sessions ask the
 * workers with a deadline, so no busy session can hold them up.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../base/log.js';
import { serveInspector } from './inspector.js';
import { endRefused, httpRefusal, openFileLimit } from './budgets.js';
import { boundHttpConnections, HTTP_SERVER_OPTIONS, maxHttpConnections } from './http-bounds.js';
import { webGuard } from './web-guard.js';
import type { WebGuardOptions } from './web-guard.js';

/** What the HTTP side needs from the service. */
export interface HttpBackend {
  log: Logger;
  /** The Host and Origin checks (web-guard.ts). */
  web: WebGuardOptions;
  /** Why a new session would be refused now, or undefined. */
  refuse(): string | undefined;
  metrics(): Promise<string>;
  sessions(): Promise<unknown[]>;
  /** Take over an upgrade request for /qtest or /qmp. */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, kind: 'qtest' | 'qmp'): void;
}

export class HttpFrontEnd {
  readonly server: HttpServer;

  constructor(private readonly backend: HttpBackend) {
    this.server = createHttpServer(HTTP_SERVER_OPTIONS, (req, res) => this.handleHttp(req, res));
    boundHttpConnections(this.server, maxHttpConnections(openFileLimit()), backend.log);
    this.server.on('upgrade', (req, socket, head) => this.handleUpgrade(req, socket as Socket, head));
    // a client that resets mid-request: nothing to answer any more
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      backend.log.debug({ err }, 'HTTP client error');
      // a request not in within its deadline (http-bounds.ts) is told so
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && socket.writable)
        return endRefused(
          socket as Socket,
          'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
        );
      socket.destroy();
    });
  }

  /** The Host / Origin verdict on `req` (logged when it refuses). */
  private guard(req: IncomingMessage, path: string): string | undefined {
    const refusal = webGuard(this.backend.web, path, req.headers);
    if (refusal)
      this.backend.log.warn(
        { event: 'http-refused', path, host: req.headers.host, origin: req.headers.origin, reason: refusal },
        'HTTP request refused',
      );
    return refusal;
  }

  private handleHttp(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, type: string, body: string): void => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    const refusal = this.guard(req, url.pathname);
    if (refusal) return send(403, 'text/plain', `forbidden: ${refusal}\n`);
    const later = (body: Promise<string>, type: string): void => {
      body.then(
        (b) => send(200, type, b),
        (err: Error) => {
          this.backend.log.warn({ err }, 'HTTP handler failed');
          send(500, 'text/plain', `internal error: ${err.message}\n`);
        },
      );
    };
    if (serveInspector(url.pathname, req, res)) return;
    switch (url.pathname) {
      case '/healthz':
        return send(200, 'text/plain', 'ok\n');
      case '/readyz': {
        const refusal = this.backend.refuse();
        return refusal ? send(503, 'text/plain', `not ready: ${refusal}\n`) : send(200, 'text/plain', 'ready\n');
      }
      case '/metrics':
        return later(this.backend.metrics(), 'text/plain; version=0.0.4');
      case '/sessions':
        return later(
          this.backend.sessions().then((s) => JSON.stringify(s) + '\n'),
          'application/json',
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
    socket.on('error', (err) => this.backend.log.debug({ err }, 'upgrade connection error'));
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const refusal = this.guard(req, path);
    if (refusal) return void socket.end(httpRefusal(403, `forbidden: ${refusal}`));
    if (path === '/qmp' || path === '/qtest') return this.backend.upgrade(req, socket, head, path.slice(1) as 'qtest');
    socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n\r\nuse /qtest or /qmp?session=ID\n');
  }
}
