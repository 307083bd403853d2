/**
 * The duplex text transport both clients run over, and its three Node implementations: a
 * net.Socket (UNIX or TCP) and a `ws` WebSocket. A WebSocket carries one protocol unit per text
 * message without its terminator (qtestd's websocket-link); the adapter restores line ends on
 * input (a message may also carry several lines) and sends one message per outgoing unit.
 * Does not reconnect.
 */
import { createConnection } from 'node:net';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';

export type TransportChunk = string | Uint8Array;

/** What a client needs from a connection. `onClose` is optional for hand-made transports. */
export interface ClientTransport {
  write(text: string): void;
  onData(cb: (chunk: TransportChunk) => void): void;
  onClose?(cb: (error?: Error) => void): void;
  close(): void;
  /** A WebSocket's handshake response headers (lower-case names), once open. */
  headers?: Record<string, string | string[] | undefined>;
}

/** Wrap a connected net.Socket. */
export function socketTransport(socket: Socket): ClientTransport {
  socket.setNoDelay?.(true);
  let closeError: Error | undefined;
  socket.on('error', (e) => {
    closeError = e;
  });
  return {
    write: (text) => {
      if (!socket.destroyed) socket.write(text, 'latin1');
    },
    onData: (cb) => socket.on('data', (b: Buffer) => cb(b)),
    onClose: (cb) => socket.on('close', () => cb(closeError)),
    close: () => socket.destroy(),
  };
}

function connectSocket(open: () => Socket): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = open();
    const onError = (e: Error) => reject(e);
    s.once('error', onError);
    s.once('connect', () => {
      s.off('error', onError);
      resolve(s);
    });
  });
}

export function connectUnixSocket(path: string): Promise<Socket> {
  return connectSocket(() => createConnection({ path }));
}

export function connectTcpSocket(host: string, port: number): Promise<Socket> {
  return connectSocket(() => createConnection({ host, port }));
}

/**
 * Wrap a WebSocket (open or still connecting). `unitTerminator` is what ends one protocol unit in
 * the byte-stream form ('\n' for qtest, '\r\n' or '\n' for QMP); outgoing text is split on it, one
 * message per unit, and incoming messages get it appended when they do not already end with '\n'.
 * Messages are buffered from the moment of wrapping until onData is called: `ws` emits messages
 * as soon as they arrive, and a server may send its first unit (the QMP greeting) together with the
 * upgrade response.
 */
export function webSocketTransport(ws: WebSocket, unitTerminator: '\n' | '\r\n'): ClientTransport {
  let closeError: Error | undefined;
  let deliver: ((chunk: TransportChunk) => void) | undefined;
  const early: Buffer[] = [];
  ws.on('error', (e) => {
    closeError = e;
  });
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const unit =
      buf.length > 0 && buf[buf.length - 1] === 0x0a
        ? buf
        : Buffer.concat([buf, Buffer.from(unitTerminator, 'latin1')]);
    if (deliver) deliver(unit);
    else early.push(unit);
  });
  return {
    write: (text) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      for (const unit of text.split(unitTerminator)) if (unit !== '') ws.send(unit, { binary: false });
    },
    onData: (cb) => {
      deliver = cb;
      for (const unit of early.splice(0)) cb(unit);
    },
    onClose: (cb) => ws.on('close', () => cb(closeError)),
    close: () => ws.close(1000),
  };
}

/** Open a WebSocket and wrap it (messages that arrive with the handshake are kept). */
export function connectWebSocketTransport(url: string, unitTerminator: '\n' | '\r\n'): Promise<ClientTransport> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const transport = webSocketTransport(ws, unitTerminator);
    ws.once('upgrade', (res) => (transport.headers = res.headers));
    const onError = (e: Error) => reject(e);
    ws.once('error', onError);
    ws.once('open', () => {
      ws.off('error', onError);
      resolve(transport);
    });
  });
}

/**
 * `p`, or a rejection with `timeoutError()` after `ms` (0 or undefined: no limit). The request stays
 * queued: its late reply is still matched to it (and dropped), so later replies keep their order.
 */
export function withRequestTimeout<T>(p: Promise<T>, ms: number | undefined, timeoutError: () => Error): Promise<T> {
  if (!ms || ms <= 0) return p;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError()), ms);
    timer.unref?.();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** qtestd: the session option that chooses a session's QMP token, and the header that tells it. */
export const QMP_TOKEN_OPTION = 'qmp-token';
export const QMP_TOKEN_HEADER = 'x-qtestd-qmp-token';

/** A fresh QMP token to choose for a qtestd session (128 random bits, base64url). */
export function newQmpToken(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * `url` with `token=` set (the QMP token of a qtestd session, for `/qmp?session=ID`); unchanged
 * when `token` is undefined.
 */
export function withQmpToken(url: string, token: string | undefined): string {
  if (token === undefined) return url;
  const u = new URL(url);
  u.searchParams.set('token', token);
  return u.toString();
}

/** The first line that picks a qtestd session's machine and name over TCP/UNIX: `#!qtestd WORDS`. */
export function qtestdFirstLine(session: string | readonly string[]): string {
  const words = typeof session === 'string' ? session : session.join(' ');
  if (words.includes('\n')) throw new TypeError('a #!qtestd line must not contain a newline');
  return `#!qtestd ${words}`.trimEnd();
}
