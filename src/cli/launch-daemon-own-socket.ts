/**
 * A daemon worker's own socket (`<socket>.<worker index>`): the shim dials the workers' own
 * sockets in order before the shared one, and a worker listens on its own only while it has no
 * connection. So one launch after another is taken by the same worker (a worker that served the
 * last launch is faster at the next one than one that sat idle), and a launch that arrives while
 * worker 0 is busy goes to the next free worker, never waiting behind a busy one.
 *
 * Closed, the socket file stays where it is (a connect is refused at once and the shim tries the
 * next worker); reopened, a fresh socket is bound under a private name and renamed over it, so
 * the path never names nothing while the worker lives. Only the file this worker put there is
 * removed at the end (a successor daemon's worker may own the path by then).
 */
import { renameSync, statSync, unlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { Logger } from '../base/log.js';

/** Worker `index`'s own socket next to the daemon's `socket` (native/launcher.c dials the same names). */
export function ownSocketPath(socket: string, index: number): string {
  return `${socket}.${index}`;
}

/** The longest path a UNIX socket address holds on Linux (sun_path less its terminator). */
const MAX_SOCKET_PATH = 107;

export class OwnSocket {
  private server: Server | undefined;
  private ino = 0;
  private wanted = false;
  private disposed = false;
  private readonly tmp: string;

  constructor(
    private readonly path: string,
    private readonly onConnection: (socket: Socket) => void,
    private readonly log: Logger,
  ) {
    // not named *.sock: only the published sockets are (tools and tests look for those)
    this.tmp = join(dirname(path), `.w${process.pid}.bind`);
  }

  /** Does the path fit a socket address? (If not, the worker has no own socket.) */
  get usable(): boolean {
    return Buffer.byteLength(this.path) <= MAX_SOCKET_PATH && Buffer.byteLength(this.tmp) <= MAX_SOCKET_PATH;
  }

  /** Listen (again), unless already listening or disposed. */
  open(): void {
    if (this.disposed || this.wanted || !this.usable) return;
    this.wanted = true;
    try {
      unlinkSync(this.tmp); // left by a worker with our pid that died between bind and rename
    } catch {
      // nothing left over: the usual case
    }
    const server = createServer({ allowHalfOpen: false }, this.onConnection);
    server.on('error', (err) => {
      this.log.warn({ err, path: this.path }, 'own launch socket failed; the shared one still serves');
      if (this.server === server) this.server = undefined;
      this.wanted = false;
    });
    this.server = server;
    server.listen(this.tmp, () => {
      if (this.server !== server) return; // closed before it was up
      try {
        renameSync(this.tmp, this.path);
        this.ino = statSync(this.path).ino;
      } catch (err) {
        this.log.warn({ err, path: this.path }, 'cannot publish the own launch socket');
        this.close();
      }
    });
  }

  /** Stop accepting; the file stays, so a shim is refused at once and dials the next one. */
  close(): void {
    this.wanted = false;
    const server = this.server;
    this.server = undefined;
    server?.close(); // the bound name (this.tmp) is gone since the rename: nothing else is removed
  }

  /** Close for good and remove the socket file if it is still the one this worker put there. */
  dispose(): void {
    this.disposed = true;
    this.close();
    try {
      if (this.ino !== 0 && statSync(this.path).ino === this.ino) unlinkSync(this.path);
    } catch {
      // already removed (by the primary's drain): nothing to do
    }
  }
}
