/**
 * Binds one net.Socket (UNIX or TCP, dialled or accepted) to an Endpoint: input goes to the
 * endpoint, output is written with the socket's own buffering, and backpressure flows both ways
 * (endpoint.pause → socket.pause; 'drain' → endpoint.drained). Socket errors (EPIPE, ECONNRESET)
 * end the endpoint; nothing here can throw into the event loop.
 *
 * Batching (on by default for qtest): the replies an endpoint produces while handling one input
 * chunk (or one 'drain') are gathered as Buffers and written when the handler returns — one
 * write, or one corked writev for several pieces — instead of one write (one syscall) per reply. Order is unchanged: everything written during the
 * handler goes out in write order, before anything written later (IRQ lines raised by a timer,
 * for instance, are written directly). Backpressure is unchanged too: write() returns false only
 * when the socket itself is backed up (so a 'drain' is sure to follow), and a final flush the
 * socket refuses pauses reading until that 'drain'.
 */
import type { Socket } from 'node:net';
import type { Logger } from '../base/log.js';
import type { Endpoint, Link } from '../protocol/link.js';
import { directReader } from './direct-socket.js';

export interface SocketLinkOptions {
  /** Encoding of text written: qtest is byte-transparent (latin1), QMP is UTF-8. */
  encoding: 'latin1' | 'utf8';
  /** Gather what one input chunk produces into one socket write (default: on for latin1/qtest). */
  batch?: boolean;
  onClose?: () => void;
  /** Where socket errors (debug) and exceptions that escaped the endpoint (warn) are reported. */
  log?: Logger;
}

/**
 * Gathered output is written early once it grows past this many bytes: a bulk reply goes out
 * slab by slab (the writer reuses a slab once the socket took it), small replies stay batched.
 */
const BATCH_FLUSH_BYTES = 32 * 1024;

export function bindSocket(socket: Socket, makeEndpoint: (link: Link) => Endpoint, opts: SocketLinkOptions): Endpoint {
  const encoding = opts.encoding;
  const batch = opts.batch ?? encoding === 'latin1';
  let closed = false;
  /** Reading is paused while the endpoint asks for it or a gathered write was refused. */
  let paused = false;
  let endpointPaused = false;
  let flushPaused = false;
  const updatePause = (): void => {
    const want = endpointPaused || flushPaused;
    if (want === paused) return;
    paused = want;
    if (want) socket.pause();
    else socket.resume();
  };
  /**
   * Inside an input/drain handler: writes are gathered, in order, in `first` (the common case is
   * one piece per input chunk: no array operation) and then `more`.
   */
  let gathering = false;
  let first: Buffer | undefined;
  const more: Buffer[] = [];
  let pendingBytes = 0;
  const flush = (): boolean => {
    const only = first;
    if (only === undefined) return true;
    first = undefined;
    pendingBytes = 0;
    if (more.length === 0) return closed || socket.destroyed || socket.write(only);
    if (closed || socket.destroyed) {
      more.length = 0;
      return true;
    }
    // Several pieces: one writev while the socket is corked.
    socket.cork();
    socket.write(only);
    let ok = true;
    for (let i = 0; i < more.length; i++) ok = socket.write(more[i]);
    more.length = 0;
    socket.uncork();
    return ok;
  };
  const gather = (data: Buffer): boolean => {
    if (first === undefined) first = data;
    else more.push(data);
    pendingBytes += data.length;
    if (pendingBytes >= BATCH_FLUSH_BYTES) return flush();
    return !socket.writableNeedDrain;
  };
  const link: Link = {
    write(text: string): boolean {
      if (closed || socket.destroyed) return true;
      if (!gathering) return socket.write(text, encoding);
      return gather(Buffer.from(text, encoding));
    },
    writeBytes(data: Buffer): boolean {
      if (closed || socket.destroyed) return true;
      if (!gathering) return socket.write(data);
      return gather(data);
    },
    sent(): boolean {
      // The caller wants its Buffers back: what is gathered goes out now (a refusal shows as
      // the next write's false). A write the kernel took at once is finished when write()
      // returns; anything it could not take stays counted in writableLength.
      if (first !== undefined) flush();
      return closed || socket.destroyed || socket.writableLength === 0;
    },
    pause(): void {
      endpointPaused = true;
      updatePause();
    },
    resume(): void {
      endpointPaused = false;
      updatePause();
    },
    close(): void {
      if (first !== undefined) flush();
      if (!closed) socket.end();
    },
  };
  socket.setNoDelay?.(true);
  let endpoint: Endpoint;
  try {
    endpoint = makeEndpoint(link);
  } catch (err) {
    // nothing can serve this connection: close it (not leave it open and unread), and say why
    opts.log?.error({ err }, 'could not attach an endpoint to a connection; closing it');
    socket.destroy();
    opts.onClose?.();
    return { input: () => {}, drained: () => {}, end: () => {} };
  }
  const finish = (): void => {
    if (closed) return;
    closed = true;
    first = undefined;
    more.length = 0;
    pendingBytes = 0;
    endpoint.end();
    opts.onClose?.();
  };
  /**
   * Run the endpoint's input (a chunk) or drained (none) handler with writes gathered; write them
   * at once; pause if the socket refuses them. (No closure per chunk: this runs per request.)
   */
  const gathered = (chunk: Buffer | undefined, borrowed = false): void => {
    gathering = true;
    try {
      if (chunk !== undefined) endpoint.input(chunk, borrowed);
      else endpoint.drained();
    } catch (err) {
      // Endpoints have their own error boundary; this is a last resort.
      opts.log?.warn({ err }, 'endpoint threw past its error boundary');
    } finally {
      gathering = false;
      if (first !== undefined && !flush()) {
        flushPaused = true;
        updatePause();
      }
    }
  };
  const reader = directReader(socket);
  // A direct socket's chunks are borrowed: passed on as such where the endpoint copies what it
  // keeps, copied for any other endpoint.
  const borrows = endpoint.acceptsBorrowed === true;
  if (batch) {
    if (reader) reader.sink = borrows ? (chunk) => gathered(chunk, true) : (chunk) => gathered(Buffer.from(chunk));
    else socket.on('data', (chunk: Buffer) => gathered(chunk));
    socket.on('drain', () => {
      flushPaused = false;
      updatePause();
      gathered(undefined);
    });
  } else {
    const input = (chunk: Buffer, borrowed = false): void => {
      try {
        endpoint.input(chunk, borrowed);
      } catch (err) {
        // Endpoints have their own error boundary; this is a last resort.
        opts.log?.warn({ err }, 'endpoint threw past its error boundary');
      }
    };
    if (reader) reader.sink = borrows ? (chunk) => input(chunk, true) : (chunk) => input(Buffer.from(chunk));
    else socket.on('data', (chunk: Buffer) => input(chunk));
    socket.on('drain', () => endpoint.drained());
  }
  if (endpoint.inputEnded) socket.allowHalfOpen = true; // replies may follow the peer's FIN
  socket.on('end', () => {
    // the peer ended its input; an endpoint that may still be answering it says when it is done
    // (a peer that is gone altogether shows as a write error or 'close', which end it at once)
    if (!endpoint.inputEnded || closed) {
      finish();
      socket.end();
      return;
    }
    endpoint.inputEnded(() => link.close());
  });
  socket.on('close', finish);
  socket.on('error', (err) => {
    // EPIPE / ECONNRESET: the peer went away; the endpoint ends as on a close
    opts.log?.debug({ err }, 'socket error; ending the link');
    finish();
  });
  return endpoint;
}
