/**
 * Resource budgets of the service that no single session's limits cover: QMP WebSocket attaches
 * per session, and the HTTP refusals they share (a raw `HTTP/1.1 …` response on a socket that was
 * not upgraded).
 */
import type { LiveSession } from './session-registry.js';

/** QMP connections (WebSocket) one session may have open at once. */
export const MAX_QMP_ATTACHES_PER_SESSION = 8;

/** A plain-text HTTP response to end a socket that is not upgraded. */
export function httpRefusal(status: 403 | 404 | 429 | 503, reason: string): string {
  const text = { 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 503: 'Service Unavailable' }[status];
  const body = `${reason}\n`;
  return (
    `HTTP/1.1 ${status} ${text}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    `connection: close\r\n\r\n${body}`
  );
}

/** Why a QMP WebSocket attach to `live` is refused (a whole HTTP response), or undefined. */
export function qmpAttachRefusal(live: LiveSession, tokenOk: boolean): string | undefined {
  if (!tokenOk)
    return httpRefusal(
      403,
      `QMP of session '${live.id}' needs its token: /qmp?session=ID&token=TOKEN (the token is told to the session's creator)`,
    );
  if (live.qmpLinks.size >= MAX_QMP_ATTACHES_PER_SESSION)
    return httpRefusal(429, `session '${live.id}' has ${MAX_QMP_ATTACHES_PER_SESSION} QMP connections already`);
  return undefined;
}
