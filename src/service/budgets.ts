/**
 * Resource budgets of the service that no single session's limits cover: open files (so that at a
 * low `ulimit -n` new connections get a clean `FAIL …` instead of a reset, and /healthz keeps
 * answering), QMP WebSocket attaches per session, and the refusals they share.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { LiveSession } from './session-registry.js';
import type { MemoryBudget } from '../memory/memory-budget.js';

/**
 * A worker whose resident memory stays this far above its start once its last session closed
 * asks to be replaced. Guest RAM is allocated 4 KiB at a time from the C heap, and the C library
 * keeps freed pieces for reuse instead of giving them back (measured: a worker that touched
 * 256 MiB stays at ~340 MiB after the session closes, with the pages garbage-collected); a
 * process that exits gives everything back.
 */
export const RECYCLE_ABOVE_BYTES = 64 * 1024 * 1024;

/** Descriptors a worker keeps for itself (node's own, the IPC channel, logs, a margin). */
export const FD_RESERVE = 64;
/** Descriptors one session may hold: its connection, its QMP socket, one QMP connection. */
export const FDS_PER_SESSION = 3;
/** How long a refused connection may stay open for its `FAIL …` to be read, before it is dropped. */
export const REFUSED_LINGER_MS = 2000;

/** The soft limit on open files of this process (Linux: /proc/self/limits), or undefined. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m && m[1] !== 'unlimited' ? Number(m[1]) : undefined;
  } catch {
    return undefined; // not Linux: no figure, no budget
  }
}

/**
 * Sessions `processes` session processes (the workers, which inherit this process's limit) can
 * hold within the open-file limit `limit`; Infinity when there is no limit.
 */
export function sessionsForFds(limit: number | undefined, processes: number): number {
  if (limit === undefined) return Infinity;
  return Math.max(1, Math.floor((limit - FD_RESERVE) / FDS_PER_SESSION)) * Math.max(1, processes);
}

/**
 * End a refused connection with `text`, discarding what the peer sends, and drop it if the peer
 * does not close within REFUSED_LINGER_MS: a peer that never closes must not keep a descriptor.
 */
export function endRefused(socket: Socket, text: string): void {
  socket.resume();
  socket.end(text);
  const timer = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
  socket.once('close', () => clearTimeout(timer));
}

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

/** Room a new session needs in its worker's share to start: with less it could not do anything useful. */
export const SESSION_MIN_ROOM_BYTES = 1024 * 1024;

/** Why a new session must be refused for memory, or undefined. */
export function memoryBudgetRefusal(memory: MemoryBudget): string | undefined {
  const why = memory.refusal(SESSION_MIN_ROOM_BYTES);
  return why && `memory budget reached (${why}); try again later`;
}
