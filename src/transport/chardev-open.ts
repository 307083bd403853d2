/**
 * Opens the sockets named by chardev addresses the way QEMU does: client mode dials once at
 * start-up (libqtest listens first); server mode listens and serves one connection at a time,
 * queueing later ones until the current one closes (QEMU's socket chardev has one peer). stdio
 * uses the process's stdin/stdout. Each connection is handed to `onConnection`.
 */
import { createServer, connect, Socket } from 'node:net';
import type { Server } from 'node:net';
import { chmodSync, unlinkSync } from 'node:fs';
import { Duplex } from 'node:stream';
import type { ChardevAddress } from '../config/chardev-address.js';

export interface OpenedChardev {
  close(): void;
}

export interface OpenOptions {
  /** File mode for a listening UNIX socket (the service uses 0600; QEMU leaves the umask's). */
  unixMode?: number;
}

export function openChardev(
  address: ChardevAddress,
  onConnection: (socket: Socket) => void,
  onError: (err: Error) => void,
  options: OpenOptions = {},
): OpenedChardev {
  switch (address.kind) {
    case 'null':
      return { close() {} };
    case 'stdio': {
      const duplex = Duplex.from({ readable: process.stdin, writable: process.stdout });
      onConnection(duplex as unknown as Socket);
      return { close: () => duplex.destroy() };
    }
    case 'fd': {
      const socket = new Socket({ fd: address.fd, readable: true, writable: true });
      onConnection(socket);
      return { close: () => socket.destroy() };
    }
    case 'unix':
    case 'tcp': {
      if (!address.server) {
        const socket =
          address.kind === 'unix'
            ? connect({ path: address.path })
            : connect({ host: address.host, port: address.port });
        let connected = false;
        socket.once('error', (err) => {
          if (!connected) onError(err);
        });
        socket.once('connect', () => {
          connected = true;
          onConnection(socket);
        });
        return { close: () => socket.destroy() };
      }
      return serveOneAtATime(address, onConnection, onError, options);
    }
  }
}

function serveOneAtATime(
  address: Extract<ChardevAddress, { kind: 'unix' | 'tcp' }>,
  onConnection: (socket: Socket) => void,
  onError: (err: Error) => void,
  options: OpenOptions,
): OpenedChardev {
  const waiting: Socket[] = [];
  let active: Socket | undefined;
  const next = (): void => {
    if (active || waiting.length === 0) return;
    active = waiting.shift()!;
    active.once('close', () => {
      active = undefined;
      next();
    });
    active.resume();
    onConnection(active);
  };
  const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    // a queued peer's reset needs no report here; once it is active, bindSocket ends the link on errors
    socket.on('error', () => {});
    waiting.push(socket);
    next();
  });
  server.on('error', onError);
  if (address.kind === 'unix') {
    try {
      unlinkSync(address.path);
    } catch {
      // no stale socket to remove; a real problem with the path reaches onError from listen()
    }
    server.listen(address.path, () => {
      if (options.unixMode !== undefined) {
        try {
          chmodSync(address.path, options.unixMode);
        } catch (e) {
          onError(e as Error);
        }
      }
    });
  } else server.listen(address.port, address.host);
  return {
    close: () => {
      server.close();
      active?.destroy();
      for (const s of waiting) s.destroy();
    },
  };
}
