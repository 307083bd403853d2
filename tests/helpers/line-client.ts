/**
 * The raw line client of the tests: qtest (or QMP, one JSON object a line) over a stream socket or
 * a WebSocket, exactly the lines the server sent. `request(line)` resolves with the next reply
 * that is not an `IRQ …` line (those are set aside in arrival order); replies are matched to
 * requests in order, so any number of requests may be in flight. For typed access use src/client.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { within } from './processes.js';

/** Connect a LineClient to a UNIX socket path or a TCP port on 127.0.0.1. */
export function connectLines(where: string | number): Promise<LineClient> {
  return LineClient.socket(typeof where === 'number' ? connect(where, '127.0.0.1') : connect(where));
}

export type CloseKind = 'end' | 'error';

/**
 * A line-oriented client. `request(line)` resolves with the next reply that is not an IRQ line;
 * replies are matched to requests in order, so any number of requests may be in flight.
 */
export class LineClient {
  /** Every line received, IRQ lines included, in order. */
  readonly received: string[] = [];
  readonly irqs: string[] = [];
  /** Replies (non-IRQ lines) in order; `claimed` of them have been handed out. */
  private readonly replies: string[] = [];
  private claimed = 0;
  /** Waiters for replies, by reply index, in order; `head` is the first still waiting. */
  private waiters: Array<{ index: number; resolve: (l: string) => void; reject: (e: Error) => void }> = [];
  private head = 0;
  private partial = '';
  closedHow?: { kind: CloseKind; error?: Error; partial: string };
  /** WebSocket close code, once closed. */
  closeCode?: number;
  readonly closed: Promise<{ kind: CloseKind; error?: Error; partial: string }>;
  private markClosed!: (kind: CloseKind, error?: Error) => void;

  private constructor(
    private readonly sendRaw: (text: string | Buffer) => void,
    readonly destroy: () => void,
    readonly end: () => void,
    readonly transport: 'socket' | 'websocket',
    /** Stop / restart reading replies (to make the server block on a full pipe). */
    readonly pauseReading: () => void,
    readonly resumeReading: () => void,
  ) {
    this.closed = new Promise((res) => {
      this.markClosed = (kind, error) => {
        if (this.closedHow) return;
        this.closedHow = { kind, error, partial: this.partial };
        const why = new Error(`connection closed (${kind}${error ? `: ${error.message}` : ''}) before a reply`);
        for (let k = this.head; k < this.waiters.length; k++) this.waiters[k].reject(why);
        this.waiters = [];
        this.head = 0;
        res(this.closedHow);
      };
    });
  }

  /** Wrap a socket: one being connected (resolves on 'connect'), or with `connected`, one already connected or accepted. */
  static socket(sock: Socket, connected = false): Promise<LineClient> {
    const c = new LineClient(
      (t) => sock.write(t),
      () => sock.destroy(),
      () => sock.end(),
      'socket',
      () => sock.pause(),
      () => sock.resume(),
    );
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => c.feed(d));
    sock.on('end', () => c.markClosed('end'));
    sock.on('error', (e) => c.markClosed('error', e));
    sock.on('close', () => c.markClosed('end'));
    if (connected) return Promise.resolve(c);
    return new Promise((res, rej) => {
      sock.once('connect', () => res(c));
      sock.once('error', rej);
    });
  }

  static websocket(ws: WebSocket): Promise<LineClient> {
    const c = new LineClient(
      (t) => ws.send(typeof t === 'string' ? t.replace(/\n$/, '') : t),
      () => ws.terminate(),
      () => ws.close(1000),
      'websocket',
      () => ws.pause(),
      () => ws.resume(),
    );
    ws.on('message', (data: Buffer) => c.line(data.toString('latin1')));
    ws.on('close', (code: number) => {
      c.closeCode = code;
      c.markClosed('end');
    });
    ws.on('error', (e) => c.markClosed('error', e));
    return new Promise((res, rej) => {
      ws.once('open', () => res(c));
      ws.once('error', rej);
      ws.once('unexpected-response', (_req, resp) => rej(new Error(`HTTP ${resp.statusCode}`)));
    });
  }

  private feed(text: string): void {
    if (!text.includes('\n')) {
      this.partial += text; // a long reply arriving in pieces stays linear
      return;
    }
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop()!;
    for (const l of parts) this.line(l);
  }

  private line(l: string): void {
    this.received.push(l);
    if (l.startsWith('IRQ ')) {
      this.irqs.push(l);
      return;
    }
    const index = this.replies.push(l) - 1;
    while (this.head < this.waiters.length && this.waiters[this.head].index <= index) {
      const w = this.waiters[this.head++];
      w.resolve(this.replies[w.index]);
    }
    if (this.head === this.waiters.length) {
      this.waiters = [];
      this.head = 0;
    }
  }

  /** Write text as is (for a WebSocket: one message, without its trailing newline). */
  write(text: string | Buffer): void {
    this.sendRaw(text);
  }

  private claim(): Promise<string> {
    const index = this.claimed++;
    if (index < this.replies.length) return Promise.resolve(this.replies[index]);
    if (this.closedHow) return Promise.reject(new Error(`connection closed (${this.closedHow.kind})`));
    return new Promise((resolve, reject) => this.waiters.push({ index, resolve, reject }));
  }

  /** The next reply (already received or still to come). */
  next(timeoutMs = 120000): Promise<string> {
    return withTimeout(this.claim(), timeoutMs);
  }

  request(line: string, timeoutMs?: number): Promise<string> {
    const p = this.next(timeoutMs);
    this.write(this.transport === 'websocket' ? line : line + '\n');
    return p;
  }

  /** Send all lines at once (one write on a stream socket), then collect one reply per line. */
  pipeline(lines: string[], timeoutMs = 120000): Promise<string[]> {
    const ps = lines.map(() => this.claim());
    if (this.transport === 'websocket') for (const l of lines) this.write(l);
    else this.write(lines.map((l) => l + '\n').join(''));
    return withTimeout(Promise.all(ps), timeoutMs);
  }

  /** Has the connection ended (either way)? */
  get isClosed(): boolean {
    return this.closedHow !== undefined;
  }

  /** Resolves true once the peer closed the connection (within `timeoutMs`). */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    return (
      (await within(
        this.closed.then(() => true),
        timeoutMs,
      )) ?? false
    );
  }

  /** Replies received so far (claimed or not). */
  get replyCount(): number {
    return this.replies.length;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`no reply within ${ms} ms`)), ms);
    }),
  ]);
}
