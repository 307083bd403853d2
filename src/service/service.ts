/**
 * QtestdService: qtestd as a shared service. Every qtest connection (TCP, UNIX socket or
 * WebSocket) gets its own Session — its own machine, RAM, PCI, SMMU, devices and clock — chosen
 * by the defaults or by the connection's `#!qtestd` line / URL query. Each session's QMP is
 * reachable on its own UNIX socket (<runDir>/<id>.qmp) and at ws://…/qmp?session=<id>. Enforces
 * the limits (sessions, RAM, line length, idle time), exposes health, readiness, Prometheus
 * metrics and a session list over HTTP, and drains on stop().
 *
 * This class only composes the parts: the listeners (accept and hand-off, listeners.ts), the
 * session registry (ids, limits, idle timers, QMP sockets, session-registry.ts) and the HTTP
 * front end (http.ts).
 */
import type { Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { Metrics } from './metrics.js';
import { listen } from './endpoint-wrappers.js';
import { HttpFrontEnd } from './http.js';
import { Listeners } from './listeners.js';
import { SessionRegistry } from './session-registry.js';
import type { ServiceOptions } from './service-options.js';

export { defaultServiceOptions } from './service-options.js';
export type { ServiceOptions } from './service-options.js';

/** How long stop() waits for connections to close after telling them to, before dropping them. */
const STOP_GRACE_MS = 500;

export class QtestdService {
  readonly metrics: Metrics;
  private readonly registry: SessionRegistry;
  private readonly listeners: Listeners;
  private http?: HttpFrontEnd;
  private servers: Array<Server | HttpServer> = [];
  readonly addresses: { tcpPort?: number; httpPort?: number; unixPath?: string } = {};

  constructor(readonly opts: ServiceOptions) {
    this.metrics = new Metrics(() => this.registry.gauges());
    this.registry = new SessionRegistry(opts, this.metrics);
    this.listeners = new Listeners(opts, this.registry, this.metrics);
  }

  get sessionCount(): number {
    return this.registry.size;
  }

  async start(): Promise<void> {
    const { opts } = this;
    mkdirSync(opts.runDir, { recursive: true, mode: 0o700 });
    if (opts.tcp) {
      const server = createServer((socket) => this.listeners.acceptRaw(socket, 'tcp'));
      await listen(server, () => server.listen(opts.tcp!.port, opts.tcp!.host));
      this.addresses.tcpPort = (server.address() as { port: number }).port;
      this.servers.push(server);
    }
    if (opts.unixPath) {
      try {
        unlinkSync(opts.unixPath);
      } catch {
        // no stale socket to remove; a real problem with the path shows in listen() below
      }
      const server = createServer((socket) => this.listeners.acceptRaw(socket, 'unix'));
      await listen(server, () => server.listen(opts.unixPath!));
      chmodSync(opts.unixPath, 0o600);
      this.addresses.unixPath = opts.unixPath;
      this.servers.push(server);
    }
    if (opts.http) {
      const http = (this.http = new HttpFrontEnd(opts, this.registry, this.metrics, this.listeners));
      await listen(http.server, () => http.server.listen(opts.http!.port, opts.http!.host));
      this.addresses.httpPort = (http.server.address() as { port: number }).port;
      this.servers.push(http.server);
    }
    this.registry.accepting = true;
  }

  /**
   * Stop accepting, let every connection flush the replies to what it already processed, close
   * every session, and wait (at most `graceMs`) for the peers to close; then drop the rest.
   * (Waiting for net.Server#close callbacks would wait for the very connections we are closing.)
   */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.registry.accepting = false;
    for (const server of this.servers) server.close();
    this.listeners.shutdownAll(1001);
    this.registry.closeAll('server shutting down');
    this.http?.close();
    if (this.opts.unixPath) {
      try {
        unlinkSync(this.opts.unixPath);
      } catch {
        // already gone: nothing left to clean up
      }
    }
    await this.listeners.settle(graceMs);
    for (const server of this.servers) (server as HttpServer).closeAllConnections?.();
  }
}
