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
 * Writing stays node's socket.write: one write(2) straight to the descriptor (fs.writeSync when
 * nothing is queued) measured no cold gain and 1.05-1.1x the warm server CPU per request.
 */
import { connect, Socket } from 'node:net';

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
