/**
 * Payload: the bytes of one word of a qtest line (a `write`/`b64write` payload) where they arrived,
 * as a list of the received Buffers, never copied into one buffer. A long line's payload stays in
 * the socket's chunks; handlers read it a piece at a time through `view` (a subarray where the
 * piece lies in one chunk, else a copy into a reused scratch buffer of the piece's size).
 */

/** Scratch for views that straddle chunks (grown to the largest piece asked, reused). */
let scratch = new Uint8Array(0);

export class Payload {
  /** Start of each part within the payload (parts[i] covers [at[i], at[i] + parts[i].length)). */
  private readonly at: number[];
  /** The part the last lookup found (access is mostly sequential). */
  private cursor = 0;

  constructor(
    private readonly parts: Uint8Array[],
    readonly length: number,
  ) {
    this.at = [];
    let pos = 0;
    for (const p of parts) {
      this.at.push(pos);
      pos += p.length;
    }
  }

  /** Bytes [start, end) of one contiguous buffer. */
  static of(buf: Uint8Array, start: number, end: number): Payload {
    return new Payload([buf.subarray(start, end)], end - start);
  }

  private partOf(pos: number): number {
    const at = this.at;
    let i = this.cursor;
    if (i >= at.length || at[i] > pos) i = 0;
    while (i + 1 < at.length && at[i + 1] <= pos) i++;
    this.cursor = i;
    return i;
  }

  /** The parts that lie in `memory` become copies (it is to be reused). */
  own(memory: ArrayBufferLike): void {
    const parts = this.parts;
    for (let i = 0; i < parts.length; i++) if (parts[i].buffer === memory) parts[i] = new Uint8Array(parts[i]); // (a Buffer's slice() is a view)
  }

  /** Byte `pos` (0 ≤ pos < length). */
  byteAt(pos: number): number {
    const i = this.partOf(pos);
    return this.parts[i][pos - this.at[i]];
  }

  /**
   * Bytes [from, to) as one contiguous array, valid until the next view (0 ≤ from ≤ to ≤ length).
   */
  view(from: number, to: number): Uint8Array {
    const i = this.partOf(from);
    const part = this.parts[i];
    const off = from - this.at[i];
    if (off + (to - from) <= part.length) return part.subarray(off, off + (to - from));
    if (scratch.length < to - from) scratch = new Uint8Array(Math.max(to - from, 2 * scratch.length));
    this.copy(from, to, scratch, 0);
    return scratch.subarray(0, to - from);
  }

  /** Copy bytes [from, to) into dst at `into`. */
  copy(from: number, to: number, dst: Uint8Array, into: number): void {
    this.every(from, to, (part, start, end) => {
      dst.set(part.subarray(start, end), into);
      into += end - start;
      return true;
    });
  }

  /** True when `test(part, start, end)` holds for every part's share of [from, to). */
  every(from: number, to: number, test: (part: Uint8Array, start: number, end: number) => boolean): boolean {
    let i = this.partOf(from);
    let pos = from;
    while (pos < to) {
      const part = this.parts[i];
      const off = pos - this.at[i];
      const n = Math.min(part.length - off, to - pos);
      if (!test(part, off, off + n)) return false;
      pos += n;
      i++;
    }
    return true;
  }
}
