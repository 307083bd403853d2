/**
 * Sockets that skip node's stream machinery on the request path (issue 12, the request loop).
 *
 * Reading: a socket we create ourselves (a dialled chardev, an inherited fd) is made with node's
 * `onread` option: each read lands in memory we hand out and goes straight to a callback, without
 * the Readable stream's push / 'data' / read-more turn (a nextTick per read). The memory is a slab
 * read into at successive offsets, so a chunk handed on stays valid for as long as its reader keeps
 * it (the same promise a 'data' chunk makes): `DirectReader.sink` receives each chunk.
 *
 * Writing: `writeDirect` hands a Buffer to the kernel with one write(2) on the socket's descriptor
 * (fs.writeSync) when the socket has nothing queued (so order is kept), instead of the Writable
 * stream's write path; what the kernel does not take at once, and every case it cannot handle (no
 * descriptor, a write error), goes through `socket.write` as before. Accepted sockets (the
 * service) use the ordinary 'data' path for reading; writing works alike for them.
 */
import { connect, Socket } from 'node:net';
import { writeSync, writevSync } from 'node:fs';

/** Reads go into a slab of this size; a new one is taken when less than READ_MIN is left. */
const READ_SLAB = 256 * 1024;
/** The least room offered to one read (node's own reads offer 64 KiB). */
const READ_MIN = 64 * 1024;

/** Where the chunks of a socket made by `dialDirect`/`wrapFdDirect` go. */
export interface DirectReader {
  /** Each chunk read (owned by the receiver); until set, input is discarded. */
  sink: (chunk: Buffer) => void;
}

const readers = new WeakMap<Socket, DirectReader>();

/** The reader of a socket made here (undefined for any other socket: read it through 'data'). */
export function directReader(socket: Socket): DirectReader | undefined {
  return readers.get(socket);
}

/**
 * The `onread` option of a new socket whose chunks go to the returned reader. Node reads into
 * `slab[used…]`; after each read the next read's room starts after the chunk just handed on.
 */
function directOnread(): { reader: DirectReader; onread: { buffer: () => Buffer; callback: (n: number) => boolean } } {
  let slab = Buffer.allocUnsafeSlow(READ_SLAB);
  let used = 0;
  let room = slab;
  const reader: DirectReader = { sink: () => {} };
  return {
    reader,
    onread: {
      buffer: (): Buffer => {
        if (slab.length - used < READ_MIN) {
          slab = Buffer.allocUnsafeSlow(READ_SLAB);
          used = 0;
        }
        return (room = slab.subarray(used));
      },
      callback: (n: number): boolean => {
        const chunk = room.subarray(0, n);
        used += n;
        reader.sink(chunk);
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
