/**
 * The first moments of a service connection: waits for the first line; a `#!qtestd <options>`
 * line selects the machine and gets exactly one reply (`OK`, or `FAIL <reason>` and the next line
 * may try again); any other first line starts the default machine and is processed as a command.
 * Then every byte goes to the session's QtestEndpoint.
 */
import type { Endpoint, Link } from '../protocol/link.js';

export type SessionStarter = (
  optionsLine: string | undefined,
) => { ok: true; endpoint: (link: Link) => Endpoint } | { ok: false; reason: string };

const MAGIC = '#!qtestd';

export class Greeter implements Endpoint {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private inner?: Endpoint;
  /** No more input is taken (the peer closed, or we closed after a fatal FAIL). */
  private ended = false;
  private innerEnded = false;

  constructor(
    private readonly link: Link,
    private readonly start: SessionStarter,
    private readonly maxLineBytes: number,
  ) {}

  input(chunk: Buffer): void {
    if (this.inner) return this.inner.input(chunk);
    if (this.ended) return; // closed after a fatal FAIL: what follows is discarded
    // Linear in the bytes received: only the new chunk is searched for the end of the line, and
    // the pieces are joined once, when it arrives (a long first line must not cost O(n²)).
    if (chunk.indexOf(0x0a) < 0) {
      this.buffered.push(chunk);
      this.bufferedBytes += chunk.length;
      if (this.bufferedBytes > this.maxLineBytes) {
        this.link.write(`FAIL first line longer than ${this.maxLineBytes} bytes\n`);
        this.ended = true;
        this.link.close();
        this.buffered = [];
        this.bufferedBytes = 0;
      }
      return;
    }
    let all = this.buffered.length ? Buffer.concat([...this.buffered, chunk]) : chunk;
    this.buffered = [];
    this.bufferedBytes = 0;
    for (;;) {
      const nl = all.indexOf(0x0a);
      if (nl < 0) {
        if (all.length) {
          this.buffered = [all];
          this.bufferedBytes = all.length;
        }
        return;
      }
      const first = all.subarray(0, nl).toString('latin1');
      if (first === MAGIC || first.startsWith(MAGIC + ' ')) {
        const r = this.start(first.slice(MAGIC.length).trim());
        const rest = all.subarray(nl + 1);
        if (!r.ok) {
          this.link.write(`FAIL ${r.reason}\n`);
          all = rest;
          continue;
        }
        this.link.write('OK\n');
        this.inner = r.endpoint(this.link);
        if (rest.length) this.inner.input(rest);
        return;
      }
      const r = this.start(undefined);
      if (!r.ok) {
        this.link.write(`FAIL ${r.reason}\n`);
        this.ended = true;
        this.link.close();
        return;
      }
      this.inner = r.endpoint(this.link);
      this.inner.input(all);
      return;
    }
  }

  drained(): void {
    this.inner?.drained();
  }

  end(): void {
    if (this.innerEnded) return;
    this.innerEnded = true;
    this.ended = true;
    this.inner?.end();
  }
}
