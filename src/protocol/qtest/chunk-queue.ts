/**
 * The received chunks a qtest endpoint has not scanned yet, oldest first. The first is held in a
 * field: the common case is one chunk at a time, answered before the next one arrives, and costs
 * no array operation. Later chunks wait in an array only while input is held back (the peer not
 * reading, a request's job pending). `offset` is where scanning of the first chunk resumes.
 */
export class ChunkQueue {
  head: Buffer | undefined;
  offset = 0;
  private readonly rest: Buffer[] = [];

  get empty(): boolean {
    return this.head === undefined;
  }

  push(chunk: Buffer): void {
    if (this.head === undefined) this.head = chunk;
    else this.rest.push(chunk);
  }

  /** The head was scanned up to `end`: at its end, the next chunk (if any) takes its place. */
  advance(end: number): void {
    if (end < this.head!.length) this.offset = end;
    else this.shift();
  }

  /** `chunk`, if still queued, becomes a copy of its unscanned bytes (its memory is to be reused). */
  own(chunk: Buffer): void {
    if (this.head === chunk) {
      this.head = Buffer.from(chunk.subarray(this.offset));
      this.offset = 0;
      return;
    }
    const i = this.rest.lastIndexOf(chunk);
    if (i >= 0) this.rest[i] = Buffer.from(chunk);
  }

  /** The head was scanned to its end: the next chunk (if any) takes its place. */
  shift(): void {
    this.offset = 0;
    this.head = this.rest.length > 0 ? this.rest.shift() : undefined;
  }
}

const NL = 0x0a;
/** Bytes scanned in JS before the native search takes over. */
const SHORT_SCAN = 64;

/**
 * Index of the first LF in `buf` at or after `from`, or -1. A request line is short, and scanning
 * it byte by byte costs less than a call into the native search; a long line (a bulk payload)
 * gets the native search after the first bytes.
 */
export function indexOfNL(buf: Buffer, from: number): number {
  const len = buf.length;
  const stop = len - from > SHORT_SCAN ? from + SHORT_SCAN : len;
  for (let i = from; i < stop; i++) if (buf[i] === NL) return i;
  return stop < len ? buf.indexOf(NL, stop) : -1;
}
