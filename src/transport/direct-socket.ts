/**
 * Sockets that skip node's stream machinery on the request path (issue 12, the request loop).
 *
 * Reading: a socket we create ourselves (a dialled chardev, an inherited fd) is made with node's
 * `onread` option: each read lands in one Buffer of ours and goes straight to a callback, without
 * the Readable stream's push / 'data' / read-more turn (a nextTick per read) and without a new
 * Buffer per read. A chunk is therefore borrowed (`DirectReader.sink`): the socket link passes it
 * as such to an endpoint that copies what it keeps (`Endpoint.acceptsBorrowed`), and a copy to
 * any other.
 *
 * Writing: `writeDirect` hands a Buffer to the kernel with one write(2) on the socket's descriptor
 * (fs.writeSync) when the socket has nothing queued (so order is kept), instead of the Writable
 * stream's write path; what the kernel does not take at once, and every case it cannot handle (no
 * descriptor, a write error), goes through `socket.write` as before. Accepted sockets (the
 * service) use the ordinary 'data' path for reading; writing works alike for them.
 */
import { connect, Socket } from 'node:net';
import { writeSync, writevSync } from 'node:fs';

/** The memory every read of a direct socket lands in (node's own reads offer 64 KiB). */
const READ_BYTES = 64 * 1024;

/** Where the chunks of a socket made by `dialDirect`/`wrapFdDirect` go. */
export interface DirectReader {
  /**
   * Each chunk read, BORROWED: its memory is read into again after the call returns, so a
   * receiver that keeps any of it keeps a copy. Until set, input is discarded.
   */
  sink: (chunk: Buffer) => void;
}

const readers = new WeakMap<Socket, DirectReader>();

/** The reader of a socket made here (undefined for any other socket: read it through 'data'). */
export function directReader(socket: Socket): DirectReader | undefined {
  return readers.get(socket);
}

/**
 * The `onread` option of a new socket whose chunks go to the returned reader: one Buffer that
 * every read lands in (a buffer-making function instead costs a call and a new view per read:
 * measured 1.2-1.3x the server CPU of a cold request).
 */
function directOnread(): { reader: DirectReader; onread: { buffer: Buffer; callback: (n: number) => boolean } } {
  const memory = Buffer.allocUnsafeSlow(READ_BYTES);
  const reader: DirectReader = { sink: () => {} };
  return {
    reader,
    onread: {
      buffer: memory,
      callback: (n: number): boolean => {
        reader.sink(memory.subarray(0, n));
        return true; // (false would stop reading)
      },
    },
  };
}

/** net.connect with direct reads. */
export function dialDirect(to: { path: string } | { host: string; port: number }): Socket {
  const { reader, onread } = directOnread();
  const socket = connect({ ...to, onread });
  readers.set(socket, reader);
  return socket;
}

/** A connected socket inherited as descriptor `fd`, with direct reads. */
export function wrapFdDirect(fd: number): Socket {
  const { reader, onread } = directOnread();
  const socket = new Socket({ fd, readable: true, writable: true, onread } as ConstructorParameters<typeof Socket>[0]);
  readers.set(socket, reader);
  return socket;
}

/** The descriptor behind a net.Socket (node's handle has it on POSIX), or -1. */
function fdOf(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

/**
 * Write `data` (one Buffer, or several in order) to `socket`: straight to the descriptor when
 * nothing is queued on the socket, else (or for what the kernel did not take) through
 * socket.write. Returns socket.write's word: false when the socket's own buffer is backed up.
 */
export function writeDirect(socket: Socket, data: Buffer | readonly Buffer[]): boolean {
  let fd = -1;
  if (socket.writableLength === 0 && !socket.connecting && !socket.writableEnded) fd = fdOf(socket);
  let done = 0;
  if (fd >= 0) {
    try {
      done = Buffer.isBuffer(data) ? writeSync(fd, data) : writevSync(fd, data as Buffer[]);
    } catch (e) {
      // EAGAIN: the kernel's buffer is full; anything else (EPIPE, ECONNRESET) is reported by the
      // socket's own write, as without this path: either way the bytes go through socket.write
      if (!(e as NodeJS.ErrnoException).code) throw e;
    }
  }
  if (Buffer.isBuffer(data)) {
    if (done === data.length) return true;
    return socket.write(done === 0 ? data : data.subarray(done));
  }
  let ok = true;
  for (const piece of data as Buffer[]) {
    if (done >= piece.length) {
      done -= piece.length;
      continue;
    }
    ok = socket.write(done === 0 ? piece : piece.subarray(done));
    done = 0;
  }
  return ok;
}
