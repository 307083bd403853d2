/**
 * One received qtest line as bytes, split into words in place: word i is bytes
 * [starts[i], ends[i]) of `buf`. Splitting is QEMU 10.2.2's g_strsplit(line, " ") (single spaces,
 * empty words kept), or, for the retry newer QEMU's rule gives (runs of spaces are one separator,
 * no empty words at either end). The word offsets live in arrays reused line after line, so a
 * line costs no allocation until a handler asks for a word as a string.
 */

const SPACE = 0x20;

export class QtestLine {
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;
  count = 0;
  starts = new Int32Array(16);
  ends = new Int32Array(16);

  /** Point at bytes [start, end) of buf and split on single spaces. */
  set(buf: Buffer, start: number, end: number): this {
    this.buf = buf;
    this.start = start;
    this.end = end;
    this.count = 0;
    let from = start;
    for (;;) {
      const sp = buf.indexOf(SPACE, from);
      if (sp < 0 || sp >= end) {
        this.push(from, end);
        return this;
      }
      this.push(from, sp);
      from = sp + 1;
    }
  }

  /** Re-split the same bytes treating runs of spaces as one (no empty words). */
  collapse(): this {
    this.count = 0;
    const { buf, end } = this;
    let i = this.start;
    while (i < end) {
      while (i < end && buf[i] === SPACE) i++;
      if (i >= end) break;
      const from = i;
      while (i < end && buf[i] !== SPACE) i++;
      this.push(from, i);
    }
    if (this.count === 0) this.push(this.start, this.start);
    return this;
  }

  private push(from: number, to: number): void {
    if (this.count === this.starts.length) {
      const starts = new Int32Array(this.count * 2);
      const ends = new Int32Array(this.count * 2);
      starts.set(this.starts);
      ends.set(this.ends);
      this.starts = starts;
      this.ends = ends;
    }
    this.starts[this.count] = from;
    this.ends[this.count] = to;
    this.count++;
  }

  /** Word i as a latin1 string ('' past the last word is never asked: check `count`). */
  word(i: number): string {
    return this.buf.toString('latin1', this.starts[i], this.ends[i]);
  }

  length(i: number): number {
    return this.ends[i] - this.starts[i];
  }

  /** Word i equals the ASCII text `s`. */
  wordIs(i: number, s: string): boolean {
    const from = this.starts[i];
    if (this.ends[i] - from !== s.length) return false;
    for (let k = 0; k < s.length; k++) if (this.buf[from + k] !== s.charCodeAt(k)) return false;
    return true;
  }

  /** The whole line as a latin1 string (for the qtest log and internal-error reports). */
  text(): string {
    return this.buf.toString('latin1', this.start, this.end);
  }

  /** The line contains a double space (the collapsed retry can differ from the plain split). */
  hasDoubleSpace(): boolean {
    const { buf, end } = this;
    for (let i = this.start + 1; i < end; i++) if (buf[i] === SPACE && buf[i - 1] === SPACE) return true;
    return false;
  }
}
