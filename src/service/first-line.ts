/**
 * The accepting process reads a raw qtest connection's first line before the connection takes a
 * `--max-sessions` slot (slowloris defence): a client that trickles its first line, or sends
 * nothing, holds only a descriptor and at most FIRST_LINE_READ_BYTES here, and is told
 * `FAIL no session started within N s of connecting; closing` when `--greeting-timeout` passes
 * (bytes do not reset it). The bytes read travel with the connection to its worker, which puts
 * them back in front of the socket's input, so the session sees the stream exactly as sent. A
 * longer first line (a big first command) is handed on once FIRST_LINE_READ_BYTES are in; the
 * worker's own limits (`--max-line`) and deadlines apply to the rest. `--idle-timeout` applies
 * here as in a session (bytes reset that one).
 */
import type { Socket } from 'node:net';

/** How much of a first line the accepting process holds at most. */
export const FIRST_LINE_READ_BYTES = 64 * 1024;

/** Connections reading their first line at once, at most (each holds a descriptor and ≤ 64 KiB). */
export const MAX_WAITING_FIRST_LINES = 1000;

type ReadHandle = { reading?: boolean; readStop?: () => number };

function handleOf(socket: Socket): ReadHandle | undefined {
  return (socket as Socket & { _handle?: ReadHandle })._handle;
}

/**
 * Stop reading from the kernel, so that later bytes stay in the socket for whoever gets the
 * descriptor next (the stream's own buffer does not travel with the handle). `pause()` alone
 * stops 'data' events only: right after a chunk, the stream asks for more (`_read`, on the next
 * tick) while its buffer is below the high-water mark, which restarts the handle unless
 * net.Socket believes it is still reading — so the handle is stopped and left marked as reading.
 * That request for more then leaves the stream believing a read is under way, so it never asks
 * again by itself: `resumeReading` restarts the handle explicitly. In flowing mode every chunk
 * read so far was delivered already, so nothing is left behind.
 */
function holdReading(socket: Socket): void {
  socket.pause();
  const handle = handleOf(socket);
  if (handle?.readStop) {
    handle.readStop();
    handle.reading = true;
    held.add(socket);
  }
}

/** Sockets whose reading holdReading stopped (and marked as going on). */
const held = new WeakSet<Socket>();

/**
 * Resume `socket`, undoing holdReading if it was held in this process (`--workers 0`, or a
 * connection refused after its first line). A socket a worker received is a fresh one that reads
 * already: its handle must not be started twice.
 */
export function resumeReading(socket: Socket): void {
  const handle = handleOf(socket);
  socket.resume();
  if (held.delete(socket) && handle && !socket.destroyed) {
    handle.reading = false;
    // the stream's own request for more was swallowed while held (see holdReading): ask again
    socket._read(socket.readableHighWaterMark);
  }
}

type FirstLine = { ok: true; head: Buffer } | { ok: false; reason?: string };

/**
 * Read from the (paused) `socket` until a newline, `maxBytes`, or the peer's end; resolves with
 * the bytes read and reading held (holdReading). `ok: false` when the peer went away (nothing to
 * say) or `timeoutMs` passed first (the reason to tell it).
 */
function readFirstLine(socket: Socket, timeoutMs: number, idleMs: number, maxBytes: number): Promise<FirstLine> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let done = false;
    const finish = (r: FirstLine): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(idle);
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('close', onGone);
      if (r.ok) holdReading(socket);
      else socket.pause(); // endRefused reads (and discards) what follows
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      bytes += chunk.length;
      idle?.refresh();
      if (chunk.indexOf(0x0a) >= 0 || bytes >= maxBytes) finish({ ok: true, head: Buffer.concat(chunks) });
    };
    const onGone = (): void => finish({ ok: false });
    const timer = timeoutMs
      ? setTimeout(
          () => finish({ ok: false, reason: `no session started within ${timeoutMs / 1000} s of connecting` }),
          timeoutMs,
        ).unref()
      : undefined;
    // as inside a session, a connection that sends nothing is closed at the idle timeout
    const idle = idleMs
      ? setTimeout(
          () => finish({ ok: false, reason: `idle timeout: no request for ${Math.round(idleMs / 1000)} s` }),
          idleMs,
        ).unref()
      : undefined;
    socket.on('data', onData);
    socket.once('end', onGone);
    socket.once('close', onGone);
    socket.resume();
  });
}

/** The connections of the accepting process that are still reading their first line. */
export class FirstLineGate {
  private readonly waiting = new Set<Socket>();

  constructor(
    private readonly timeoutMs: number,
    /** `--idle-timeout`: applies before the first line too (bytes reset this one). */
    private readonly idleMs: number,
    /** Hand a first line on once it is this long (past `--max-line`, the worker refuses it). */
    private readonly maxBytes: number,
    /** Tell a connection why it is closed, in an orderly way (budgets.ts endRefused). */
    private readonly refuse: (socket: Socket, reason: string) => void,
    private readonly max = MAX_WAITING_FIRST_LINES,
  ) {}

  get size(): number {
    return this.waiting.size;
  }

  /** Why one more connection cannot wait for its first line now, or undefined. */
  refusal(): string | undefined {
    return this.waiting.size >= this.max ? `too many connections without a session (limit ${this.max})` : undefined;
  }

  /** Read `socket`'s first line, then `then(head)`; a peer that is too slow is told and closed. */
  read(socket: Socket, then: (head: Buffer) => void): void {
    this.waiting.add(socket);
    void readFirstLine(socket, this.timeoutMs, this.idleMs, this.maxBytes).then((r) => {
      if (!this.waiting.delete(socket)) return; // closed by closeAll meanwhile
      if (r.ok) return then(r.head);
      if (r.reason) this.refuse(socket, `${r.reason}; closing`);
      else socket.destroy();
    });
  }

  /** Close every waiting connection with `reason` (the service stops). */
  closeAll(reason: string): void {
    for (const s of this.waiting) this.refuse(s, reason);
    this.waiting.clear();
  }
}
