/**
 * Browser-facing checks of the HTTP side (DNS rebinding, cross-site WebSockets). A web page in the
 * user's browser can make requests to 127.0.0.1 too: through a name it controls that resolves to
 * loopback (DNS rebinding: the browser sends `Host: evil.example`), or a cross-site WebSocket
 * (the browser sends `Origin: https://evil.example`; WebSockets are not bound by the same-origin
 * policy). So:
 * - `Host` must name a loopback host (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`) or one of
 *   the configured hosts (`--allow-host`); /healthz, /readyz and /metrics are exempt (Kubernetes
 *   probes and Prometheus send the pod IP). A request without Host cannot come from a browser.
 * - `Origin`, when present (browsers always send it on WebSockets and cross-site requests), must
 *   be a loopback origin or one of the configured origins (`--allow-origin`); `Origin: null`
 *   (sandboxed frames, file:) is refused. Non-browser clients send none.
 * A refused request gets 403 with the reason. `*` in either list turns that check off.
 */
import { isIP } from 'node:net';

export interface WebGuardOptions {
  /** Extra host names (or IP literals) a request's Host may name; `*` allows any. */
  allowedHosts: readonly string[];
  /** Extra origins (`scheme://host[:port]`) a request's Origin may be; `*` allows any. */
  allowedOrigins: readonly string[];
}

/** Paths exempt from the Host check (probes and scrapers address the pod by IP). */
export const HOST_EXEMPT_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

/** Is `host` (a name or an IP literal, no port, no brackets) a loopback host? */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const v = isIP(h);
  if (v === 4) return h.startsWith('127.');
  if (v === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

/** The host part of a Host header (`name`, `name:port`, `[v6]:port`), lower-cased; undefined if malformed. */
export function hostOfHeader(header: string): string | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/@]+))(?::(\d{1,5}))?$/.exec(header.trim());
  if (!m) return undefined;
  return (m[1] ?? m[2]!).toLowerCase();
}

/** Is `address` (a listen host) a loopback address? (`localhost` counts.) */
export function isLoopbackListen(address: string): boolean {
  return isLoopbackHost(address.replace(/^\[(.*)\]$/, '$1'));
}

/** Why the request must be refused (a 403 reason), or undefined when it may go on. */
export function webGuard(
  opts: WebGuardOptions,
  path: string,
  headers: { host?: string; origin?: string | string[] },
): string | undefined {
  if (!HOST_EXEMPT_PATHS.has(path) && headers.host !== undefined && !opts.allowedHosts.includes('*')) {
    const host = hostOfHeader(headers.host);
    if (host === undefined) return `malformed Host header '${headers.host}'`;
    const allowed = isLoopbackHost(host) || opts.allowedHosts.some((h) => h.toLowerCase() === host);
    if (!allowed) return `Host '${headers.host}' is not allowed (loopback names only; add a host with --allow-host)`;
  }
  const origin = Array.isArray(headers.origin) ? headers.origin.join(',') : headers.origin;
  if (origin !== undefined && !opts.allowedOrigins.includes('*')) {
    if (!originAllowed(opts, origin))
      return `Origin '${origin}' is not allowed (loopback origins only; add one with --allow-origin)`;
  }
  return undefined;
}

function originAllowed(opts: WebGuardOptions, origin: string): boolean {
  const o = origin.trim().toLowerCase();
  if (opts.allowedOrigins.some((a) => a.toLowerCase().replace(/\/$/, '') === o)) return true;
  let url: URL;
  try {
    url = new URL(o);
  } catch {
    return false; // `null`, or not a URL at all
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return isLoopbackHost(url.hostname.replace(/^\[(.*)\]$/, '$1'));
}

/**
 * Why the service must not listen as configured, or undefined: a non-loopback listen address
 * (0.0.0.0, ::, a LAN address, a name) exposes every session to the network, so it needs
 * `--listen-all`, which says so.
 */
export function listenRefusal(opts: {
  listenAll: boolean;
  tcp: { host: string } | null;
  http: { host: string } | null;
}): string | undefined {
  if (opts.listenAll) return undefined;
  for (const [flag, addr] of [
    ['--tcp', opts.tcp],
    ['--http', opts.http],
  ] as const) {
    if (addr && !isLoopbackListen(addr.host))
      return (
        `${flag} ${addr.host} is not a loopback address: other machines could open sessions and reach ` +
        `their QMP; pass --listen-all to listen there anyway`
      );
  }
  return undefined;
}
