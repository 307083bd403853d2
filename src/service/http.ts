/**
 * The service's HTTP side, in the accepting process: /healthz, /readyz, /metrics (Prometheus),
 * /sessions (JSON), the inspector's pages (inspector.ts), and WebSocket upgrades, which it parses
 * and hands on (to the worker a /qtest session is placed on, or the worker that owns the session
 * of /qmp?session=ID). /healthz and /readyz answer from the accepting process's own state;
 * /metrics and /sessions ask the workers with a deadline, so no busy session can hold them up.
 *
 * Routing is find-my-way's (fastify's router, kept and fuzzed by others) rather than a switch of
 * ours: it splits the query string, decodes the path, treats `/x/` as `/x`, and tells a path it
 * knows under another method (405 with Allow) from one it does not know (404). The routes are a
 * table: plain HTTP requests and upgrades each have a router of their own. Only origin-form
 * targets (`/path?query`) are routed; anything else is not found. The Host/Origin checks
 * (web-guard.ts) run before the answer, on every path, known or not.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Router from 'find-my-way';
import type { HTTPMethod } from 'find-my-way';
import type { Logger } from '../base/log.js';
import { INSPECTOR_ROUTES, serveInspector } from './inspector.js';
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

/** What a route carries: its own path (for the Host check's exemptions) and how it answers. */
interface Route<A extends unknown[]> {
  path: string;
  serve(...args: A): void;
}
type HttpRoute = Route<[IncomingMessage, ServerResponse]>;
type UpgradeRoute = Route<[IncomingMessage, Socket, Buffer]>;

/** The methods plain HTTP routes answer (HEAD: the same headers, no body); upgrades are GET. */
const HTTP_METHODS: readonly HTTPMethod[] = ['GET', 'HEAD'];
const UPGRADE_METHODS: readonly HTTPMethod[] = ['GET'];

const NOT_FOUND = 'not found: try /healthz, /readyz, /metrics, /sessions, ws /qtest, ws /qmp?session=ID\n';
const NOT_FOUND_UPGRADE = 'use /qtest or /qmp?session=ID';
const METHOD_NOT_ALLOWED = 'method not allowed\n';

/** A router over `table` for `methods`; the route itself is the handler's store. */
function routerOf<R extends Route<never[]>>(
  table: readonly R[],
  methods: readonly HTTPMethod[],
): Router.Instance<Router.HTTPVersion.V1> {
  const router = Router({ ignoreTrailingSlash: true });
  for (const route of table) router.on([...methods], route.path, () => undefined, route);
  return router;
}

/**
 * `target` (a request-target) looked up in `router`: the route for `method`, or the methods the
 * path is known under (405), or nothing (404).
 */
function lookUp<R>(
  router: Router.Instance<Router.HTTPVersion.V1>,
  methods: readonly HTTPMethod[],
  method: string | undefined,
  target: string,
): { route: R } | { allow: HTTPMethod[]; path: string } | { path: string } {
  const path = target.split('?', 1)[0];
  // origin-form only: `*` and absolute-form targets name no route of ours
  if (!target.startsWith('/')) return { path };
  const found = router.find(method as HTTPMethod, target);
  if (found) return { route: found.store as R };
  const allow = methods.filter((m) => router.find(m, target) !== null);
  if (allow.length > 0) return { allow, path: (router.find(allow[0], target)!.store as { path: string }).path };
  return { path };
}

export class HttpFrontEnd {
  readonly server: HttpServer;
  private readonly httpRouter: Router.Instance<Router.HTTPVersion.V1>;
  private readonly upgradeRouter: Router.Instance<Router.HTTPVersion.V1>;

  constructor(private readonly backend: HttpBackend) {
    this.httpRouter = routerOf(this.httpRoutes(), HTTP_METHODS);
    this.upgradeRouter = routerOf(this.upgradeRoutes(), UPGRADE_METHODS);
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

  /** The plain HTTP routes: the service's own, then the inspector's. */
  private httpRoutes(): HttpRoute[] {
    const { backend } = this;
    const text = (res: ServerResponse, status: number, type: string, body: string): void => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    const later = (res: ServerResponse, body: Promise<string>, type: string): void => {
      body.then(
        (b) => text(res, 200, type, b),
        (err: Error) => {
          backend.log.warn({ err }, 'HTTP handler failed');
          text(res, 500, 'text/plain', `internal error: ${err.message}\n`);
        },
      );
    };
    return [
      { path: '/healthz', serve: (_req, res) => text(res, 200, 'text/plain', 'ok\n') },
      {
        path: '/readyz',
        serve: (_req, res) => {
          const refusal = backend.refuse();
          if (refusal) text(res, 503, 'text/plain', `not ready: ${refusal}\n`);
          else text(res, 200, 'text/plain', 'ready\n');
        },
      },
      { path: '/metrics', serve: (_req, res) => later(res, backend.metrics(), 'text/plain; version=0.0.4') },
      {
        path: '/sessions',
        serve: (_req, res) =>
          later(
            res,
            backend.sessions().then((s) => JSON.stringify(s) + '\n'),
            'application/json',
          ),
      },
      ...INSPECTOR_ROUTES.map((route) => ({
        path: route.path,
        serve: (req: IncomingMessage, res: ServerResponse) => serveInspector(route, req, res),
      })),
    ];
  }

  /** The WebSocket upgrade routes. */
  private upgradeRoutes(): UpgradeRoute[] {
    return (['qtest', 'qmp'] as const).map((kind) => ({
      path: `/${kind}`,
      serve: (req: IncomingMessage, socket: Socket, head: Buffer) => this.backend.upgrade(req, socket, head, kind),
    }));
  }

  private handleHttp(req: IncomingMessage, res: ServerResponse): void {
    const found = lookUp<HttpRoute>(this.httpRouter, HTTP_METHODS, req.method, req.url ?? '/');
    const send = (status: number, headers: Record<string, string>, body: string): void => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'text/plain', ...headers });
      res.end(body);
    };
    const refusal = this.guard(req, 'route' in found ? found.route.path : found.path);
    if (refusal) return send(403, {}, `forbidden: ${refusal}\n`);
    if ('route' in found) return found.route.serve(req, res);
    if ('allow' in found) return send(405, { allow: found.allow.join(', ') }, METHOD_NOT_ALLOWED);
    send(404, {}, NOT_FOUND);
  }

  private handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    // ECONNRESET / EPIPE from a client that went away mid-upgrade: nothing to serve any more
    socket.on('error', (err) => this.backend.log.debug({ err }, 'upgrade connection error'));
    const found = lookUp<UpgradeRoute>(this.upgradeRouter, UPGRADE_METHODS, req.method, req.url ?? '/');
    const refusal = this.guard(req, 'route' in found ? found.route.path : found.path);
    if (refusal) return void socket.end(httpRefusal(403, `forbidden: ${refusal}`));
    if ('route' in found) return found.route.serve(req, socket, head);
    if ('allow' in found) {
      const body = METHOD_NOT_ALLOWED;
      return void socket.end(
        `HTTP/1.1 405 Method Not Allowed\r\nallow: ${found.allow.join(', ')}\r\ncontent-type: text/plain\r\n` +
          `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    socket.end(httpRefusal(404, NOT_FOUND_UPGRADE));
  }
}
