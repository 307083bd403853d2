/**
 * Binds one net.Socket (UNIX or TCP, dialled or accepted) to an Endpoint: input goes to the
 * endpoint, output is written with the socket's own buffering, and backpressure flows both ways
 * (endpoint.pause → socket.pause; 'drain' → endpoint.drained). Socket errors (EPIPE, ECONNRESET)
 * end the endpoint; nothing here can throw into the event loop.
 */
import type { Socket } from 'node:net';
import type { Endpoint, Link } from './link.js';

export interface SocketLinkOptions {
  /** Encoding of text written: qtest is byte-transparent (latin1), QMP is UTF-8. */
  encoding: 'latin1' | 'utf8';
  onClose?: () => void;
}

export function bindSocket(socket: Socket, makeEndpoint: (link: Link) => Endpoint, opts: SocketLinkOptions): Endpoint {
  let closed = false;
  let paused = false;
  const link: Link = {
    write(text: string): boolean {
      if (closed || socket.destroyed) return true;
      return socket.write(text, opts.encoding);
    },
    pause(): void {
      if (!paused) {
        paused = true;
        socket.pause();
      }
    },
    resume(): void {
      if (paused) {
        paused = false;
        socket.resume();
      }
    },
    close(): void {
      if (!closed) socket.end();
    },
  };
  socket.setNoDelay?.(true);
  const endpoint = makeEndpoint(link);
  const finish = (): void => {
    if (closed) return;
    closed = true;
    endpoint.end();
    opts.onClose?.();
  };
  socket.on('data', (chunk: Buffer) => {
    try {
      endpoint.input(chunk);
    } catch {
      // Endpoints have their own error boundary; this is a last resort.
    }
  });
  socket.on('drain', () => endpoint.drained());
  socket.on('end', () => {
    finish();
    socket.end();
  });
  socket.on('close', finish);
  socket.on('error', () => finish());
  return endpoint;
}
