/**
 * Bounds on the service's HTTP connections (in the accepting process), so that clients that open
 * connections and trickle or never finish their requests cannot take the descriptors /healthz,
 * /readyz and /metrics need:
 * - a request's headers must be in within HTTP_HEADERS_TIMEOUT_MS of its start and the whole
 *   request within HTTP_REQUEST_TIMEOUT_MS (bytes do not reset either; the client gets `408`),
 *   and an idle keep-alive connection is closed after HTTP_KEEP_ALIVE_MS;
 * - at most maxHttpConnections() connections are open at once. One more evicts the oldest
 *   connection that has no request in progress (one still sending its headers, or an idle
 *   keep-alive one), so a newcomer such as a health probe is served; when every open connection
 *   has a request in progress, the newcomer gets `503` and is closed.
 * A WebSocket upgrade leaves the count once its request is in (the service hands it on).
 */
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../base/log.js';
import { endRefused, FD_RESERVE, httpRefusal } from './budgets.js';

export const HTTP_HEADERS_TIMEOUT_MS = 10_000;
export const HTTP_REQUEST_TIMEOUT_MS = 30_000;
export const HTTP_KEEP_ALIVE_MS = 5_000;
/** How often the HTTP server looks for connections past the two deadlines above. */
const HTTP_DEADLINE_CHECK_MS = 1_000;

/** The node:http server options that carry the deadlines above. */
export const HTTP_SERVER_OPTIONS = {
  headersTimeout: HTTP_HEADERS_TIMEOUT_MS,
  requestTimeout: HTTP_REQUEST_TIMEOUT_MS,
  keepAliveTimeout: HTTP_KEEP_ALIVE_MS,
  connectionsCheckingInterval: HTTP_DEADLINE_CHECK_MS,
} as const;

/** HTTP connections open at once, at most: 256, or an eighth of what the open-file limit leaves. */
export function maxHttpConnections(fdLimit: number | undefined): number {
  if (fdLimit === undefined) return 256;
  return Math.max(16, Math.min(256, Math.floor((fdLimit - FD_RESERVE) / 8)));
}

/** Keep `server`'s connections within `max` (see above). */
export function boundHttpConnections(server: HttpServer, max: number, log: Logger): void {
  /** Open connections, oldest first, with the number of their requests in progress. */
  const open = new Map<Socket, { busy: number }>();
  server.on('connection', (socket: Socket) => {
    if (open.size >= max) {
      let victim: Socket | undefined;
      for (const [s, c] of open)
        if (c.busy === 0) {
          victim = s;
          break;
        }
      if (!victim) {
        log.warn({ event: 'http-refused', open: open.size, reason: 'too many HTTP connections' }, 'HTTP refused');
        return endRefused(socket, httpRefusal(503, `too many HTTP connections (limit ${max})`));
      }
      log.debug({ event: 'http-evicted', open: open.size }, 'closing the oldest idle HTTP connection');
      open.delete(victim);
      victim.destroy();
    }
    open.set(socket, { busy: 0 });
    socket.once('close', () => open.delete(socket));
  });
  server.on('request', (req, res) => {
    const c = open.get(req.socket as Socket);
    if (!c) return;
    c.busy++;
    res.once('close', () => c.busy--);
  });
  // taken over by the service (handed to a worker, or refused): no HTTP connection any more
  server.prependListener('upgrade', (req) => open.delete(req.socket as Socket));
}
