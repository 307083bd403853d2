/**
 * The first moments of a service connection: waits for the first line; a `#!qtestd <options>`
 * line selects the machine and gets exactly one reply: `OK`, or `FAIL <reason>` and the
 * connection closes (as a WebSocket whose URL query is refused does: what follows was written for
 * the session that line asked for, so it must not run in another one); any other first line
 * starts the default machine and is processed as a command. Then every byte goes to the
 * session's QtestEndpoint.
 */
import { endInput } from '../protocol/link.js';
import type { Endpoint, Link } from '../protocol/link.js';

export type StartResult = { ok: true; endpoint: (link: Link) => Endpoint } | { ok: false; reason: string };

/** Starting a session may wait (the id is claimed from the accepting process). */
export type SessionStarter = (optionsLine: string | undefined) => Promise<StartResult>;

const MAGIC = '#!qtestd';

export class Greeter implements Endpoint {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private inner?: Endpoint;
  /** A session is being started: input waits in `buffered`. */
  private starting = false;
  /** No more input is taken (the peer closed, or we closed after a fatal FAIL). */
  private ended = false;
  private innerEnded = false;
  /** The peer ended its input while the session was starting: tell the session once it runs. */
  private inputDone?: () => void;

  constructor(
    private readonly link: Link,
    private readonly start: SessionStarter,
    private readonly maxLineBytes: number,
  ) {}

  input(chunk: Buffer): void {
    if (this.inner) return this.inner.input(chunk);
    if (this.ended) return; // closed after a fatal FAIL: what follows is discarded
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    if (this.starting) return;
    // Linear in the bytes received: only the new chunk is searched for the end of the line, and
    // the pieces are joined once, when it arrives (a long first line must not cost O(n²)).
    if (chunk.indexOf(0x0a) < 0) {
      if (this.bufferedBytes > this.maxLineBytes) this.tooLong();
      return;
    }
    this.greet();
  }

  private tooLong(): void {
    this.link.write(`FAIL first line longer than ${this.maxLineBytes} bytes\n`);
    this.ended = true;
    this.link.close();
    this.buffered = [];
    this.bufferedBytes = 0;
  }

  /** Take the first complete line in `buffered` and start a session for it. */
  private greet(): void {
    const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
    const nl = all.indexOf(0x0a);
    if (nl < 0) {
      this.buffered = [all];
      if (this.bufferedBytes > this.maxLineBytes) this.tooLong();
      return;
    }
    const first = all.subarray(0, nl).toString('latin1');
    const magic = first === MAGIC || first.startsWith(MAGIC + ' ');
    // the options line is consumed; any other first line is the session's first command
    const rest = magic ? all.subarray(nl + 1) : all;
    this.buffered = rest.length ? [rest] : [];
    this.bufferedBytes = rest.length;
    this.starting = true;
    this.start(magic ? first.slice(MAGIC.length).trim() : undefined).then(
      (r) => this.started(r, magic),
      (err: Error) => this.started({ ok: false, reason: `internal error: ${err.message}` }, magic),
    );
  }

  private started(r: StartResult, magic: boolean): void {
    this.starting = false;
    if (this.ended) {
      // the peer went away while the session was being made: it ends with the connection
      if (r.ok) r.endpoint(this.link).end();
      return;
    }
    if (!r.ok) {
      // a refused options line (or a default machine that cannot start): the connection ends;
      // what the client sent after it is discarded
      this.link.write(`FAIL ${r.reason}\n`);
      this.ended = true;
      this.inputDone = undefined; // the close below ends the connection
      this.buffered = [];
      this.bufferedBytes = 0;
      this.link.close();
      return;
    }
    if (magic) this.link.write('OK\n');
    this.inner = r.endpoint(this.link);
    const pending = this.buffered;
    this.buffered = [];
    this.bufferedBytes = 0;
    for (const b of pending) this.inner.input(b);
    const done = this.inputDone;
    this.inputDone = undefined;
    if (done) endInput(this.inner, done);
  }

  inputEnded(done: () => void): void {
    if (this.inner) return endInput(this.inner, done);
    // a session being started answers what was sent before the end (QEMU would have); no
    // session and no start under way (an unfinished first line, or closed after a FAIL): done
    if (this.starting && !this.ended) this.inputDone = done;
    else done();
  }

  drained(): void {
    this.inner?.drained();
  }

  end(): void {
    if (this.innerEnded) return;
    this.innerEnded = true;
    this.ended = true;
    this.buffered = [];
    this.inner?.end();
  }
}
