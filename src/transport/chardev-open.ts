/**
 * Opens the sockets named by chardev addresses the way QEMU does: client mode dials once at
 * start-up (libqtest listens first); server mode listens and serves one connection at a time,
 * queueing later ones until the current one closes (QEMU's socket chardev has one peer). stdio
 * uses the process's stdin/stdout; `fd` wraps an inherited, connected socket (QEMU's Python
 * library passes one end of a socketpair). Each connection is handed to `onConnection`;
 * `onReady` says the backend is up (dialled, listening, wrapped), `onError` that it cannot be.
 */
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import type { Server } from 'node:net';
import { chmodSync, fstatSync, unlinkSync } from 'node:fs';
import { Duplex } from 'node:stream';
import type { ChardevAddress } from '../config/chardev-address.js';
import { dialDirect, wrapFdDirect } from './direct-socket.js';

export interface OpenedChardev {
  close(): void;
  /**
   * QEMU's `filename` of the backend as it stands (query-chardev): `null`, `stdio`,
   * `[disconnected:]unix:PATH,server=on`, `unix:PEER`, `tcp:L:P[,server=on] <-> R:P`, ...
   */
  filename(): string;
}

export interface OpenOptions {
  /** File mode for a listening UNIX socket (the service uses 0600; QEMU leaves the umask's). */
  unixMode?: number;
  /** The backend is up: a client dial connected, a server listens, an fd is wrapped. */
  onReady?: () => void;
}

/** A backend QEMU refuses before any I/O, with QEMU's text (e.g. an fd that is no socket). */
export class ChardevOpenError extends Error {}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ECONNREFUSED: 'Connection refused',
  EACCES: 'Permission denied',
  ENOTDIR: 'Not a directory',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
};

/** QEMU's wording for a backend that could not be opened (`Failed to connect to '/x': …`). */
export function describeOpenError(address: ChardevAddress, err: Error): string {
  if (err instanceof ChardevOpenError) return err.message;
  const where =
    address.kind === 'unix' ? address.path : address.kind === 'tcp' ? `${address.host}:${address.port}` : address.kind;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return `Failed to connect to '${where}': ${ERRNO_TEXT[code] ?? err.message}`;
}

function isSocketFd(fd: number): boolean {
  try {
    return fstatSync(fd).isSocket();
  } catch (e) {
    // EBADF (not open) and the like: QEMU says "not a socket" for those too
    if ((e as NodeJS.ErrnoException).code) return false;
    throw e;
  }
}

export function openChardev(
  address: ChardevAddress,
  onConnection: (socket: Socket) => void,
  onError: (err: Error) => void,
  options: OpenOptions = {},
): OpenedChardev {
  switch (address.kind) {
    case 'null':
      options.onReady?.();
      return { close() {}, filename: () => 'null' };
    case 'stdio': {
      const duplex = Duplex.from({ readable: process.stdin, writable: process.stdout });
      options.onReady?.();
      onConnection(duplex as unknown as Socket);
      return { close: () => duplex.destroy(), filename: () => 'stdio' };
    }
    case 'fd': {
      if (!isSocketFd(address.fd)) {
        onError(new ChardevOpenError(`File descriptor '${address.fd}' is not a socket`));
        return { close() {}, filename: () => `disconnected:fd:${address.fd}` };
      }
      const socket = wrapFdDirect(address.fd);
      options.onReady?.();
      onConnection(socket);
      // QEMU's Python library passes a socketpair end: a UNIX socket with an unnamed peer.
      return { close: () => socket.destroy(), filename: () => connectedName(socket, false, 'unix:') };
    }
    case 'unix':
    case 'tcp': {
      if (!address.server) {
        const socket =
          address.kind === 'unix'
            ? dialDirect({ path: address.path })
            : dialDirect({ host: address.host, port: address.port });
        let connected = false;
        socket.once('error', (err) => {
          if (!connected) onError(err);
        });
        socket.once('connect', () => {
          connected = true;
          options.onReady?.();
          onConnection(socket);
        });
        return {
          close: () => socket.destroy(),
          filename: () => (address.kind === 'unix' ? `unix:${address.path}` : connectedName(socket, false, '')),
        };
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
  server.once('listening', () => options.onReady?.());
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
  const listening = (): string => {
    if (address.kind === 'unix') return `unix:${address.path},server=on`;
    const bound = server.address();
    const port = bound !== null && typeof bound === 'object' ? bound.port : address.port;
    return `tcp:${address.host}:${port},server=on`;
  };
  return {
    close: () => {
      server.close();
      active?.destroy();
      for (const s of waiting) s.destroy();
    },
    filename: () => {
      if (active === undefined) return `disconnected:${listening()}`;
      return address.kind === 'unix' ? listening() : connectedName(active, true, '');
    },
  };
}

/** QEMU's name of a connected TCP socket (`tcp:L:P[,server=on] <-> R:P`, IPv6 hosts bracketed); `unix` otherwise. */
function connectedName(socket: Socket, listen: boolean, unix: string): string {
  if (socket.remoteAddress === undefined || socket.localAddress === undefined) return unix;
  const host = (h: string): string => (h.includes(':') ? `[${h}]` : h);
  return `tcp:${host(socket.localAddress)}:${socket.localPort}${listen ? ',server=on' : ''} <-> ${host(socket.remoteAddress)}:${socket.remotePort}`;
}
