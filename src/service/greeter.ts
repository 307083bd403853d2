/**
 * The first moments of a service connection: waits for the first line; a `#!qtestd <options>`
 * line selects the machine and gets exactly one reply (`OK`, or `FAIL <reason>` and the next line
 * may try again); any other first line starts the default machine and is processed as a command.
 * Then every byte goes to the session's QtestEndpoint.
 */
import type { Endpoint, Link } from '../transport/link.js';

export type SessionStarter = (optionsLine: string | undefined) => { ok: true; endpoint: (link: Link) => Endpoint } | { ok: false; reason: string };

const MAGIC = '#!qtestd';

export class Greeter implements Endpoint {
  private buffered: Buffer[] = [];
  private inner?: Endpoint;
  private ended = false;

  constructor(
    private readonly link: Link,
    private readonly start: SessionStarter,
    private readonly maxLineBytes: number,
  ) {}

  input(chunk: Buffer): void {
    if (this.inner) return this.inner.input(chunk);
    this.buffered.push(chunk);
    for (;;) {
      const all = Buffer.concat(this.buffered);
      const nl = all.indexOf(0x0a);
      if (nl < 0) {
        if (all.length > this.maxLineBytes) {
          this.link.write(`FAIL first line longer than ${this.maxLineBytes} bytes\n`);
          this.link.close();
          this.buffered = [];
        } else this.buffered = [all];
        return;
      }
      const first = all.subarray(0, nl).toString('latin1');
      if (first === MAGIC || first.startsWith(MAGIC + ' ')) {
        const r = this.start(first.slice(MAGIC.length).trim());
        const rest = all.subarray(nl + 1);
        if (!r.ok) {
          this.link.write(`FAIL ${r.reason}\n`);
          this.buffered = rest.length ? [rest] : [];
          continue;
        }
        this.link.write('OK\n');
        this.inner = r.endpoint(this.link);
        this.buffered = [];
        if (rest.length) this.inner.input(rest);
        return;
      }
      const r = this.start(undefined);
      if (!r.ok) {
        this.link.write(`FAIL ${r.reason}\n`);
        this.link.close();
        this.buffered = [];
        return;
      }
      this.inner = r.endpoint(this.link);
      this.buffered = [];
      this.inner.input(all);
      return;
    }
  }

  drained(): void {
    this.inner?.drained();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.inner?.end();
  }
}
