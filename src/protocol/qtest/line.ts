/**
 * One received qtest line as bytes, split into words in place: word i is bytes
 * [starts[i], ends[i]) of `buf`. Splitting is QEMU 10.2.2's g_strsplit(line, " ") (single spaces,
 * empty words kept), or, for the retry newer QEMU's rule gives (runs of spaces are one separator,
 * no empty words at either end). The word offsets live in arrays reused line after line, so a
 * line costs no allocation until a handler asks for a word as a string.
 */

import { Payload } from './payload.js';
import type { Staged } from './staged.js';

const SPACE = 0x20;

/** Commands whose word 3 is a payload a long line may keep in its received chunks (setParts). */
const PAYLOAD_COMMANDS = new Set(['write', 'b64write', 'write_space', 'write_secure']);
/** More spaces than this in a long line: it is not a payload line (setParts declines). */
const MAX_SPACES = 16;
/** Stand-in bytes of a kept payload in `buf` (its first bytes; `length()` reports the real length). */
const STAND_IN = 3;
/** Shorter payloads are joined as usual. */
const MIN_KEPT = 4096;
/** Lines up to this many bytes are split by a byte loop in JS; longer ones by native searches. */
const SHORT_LINE = 128;
const NUL_UNKNOWN = 0;
const NUL_NONE = 1;
const NUL_SEEN = 2;

export class QtestLine {
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;
  count = 0;
  starts = new Int32Array(16);
  ends = new Int32Array(16);
  /**
   * A payload kept in the received chunks (setParts): the word starting at `payloadAt` in `buf`
   * is a stand-in of its first bytes; its real bytes are `payload`.
   */
  payloadAt = -1;
  payloadBytes?: Payload;
  /** A payload decoded as it arrived (long-line.ts): the word at `payloadAt` stands in for it. */
  stagedBytes?: Staged;
  /** The staged payload held a NUL byte. */
  private stagedNul = false;
  /** Whether `buf[start, end)` holds a NUL byte, when split() saw it (short lines). */
  private nul = NUL_UNKNOWN;

  /** Point at bytes [start, end) of buf and split on single spaces. */
  set(buf: Buffer, start: number, end: number): this {
    this.payloadAt = -1;
    this.payloadBytes = undefined;
    this.stagedBytes = undefined;
    this.split(buf, start, end);
    return this;
  }

  /**
   * A long line whose payload (word 3) was decoded as it arrived: `buf` holds the line with the
   * payload's first bytes in its place, at `payloadAt`; `nul`: the payload held a NUL byte.
   */
  setStaged(buf: Buffer, payloadAt: number, staged: Staged, nul: boolean): void {
    this.split(buf, 0, buf.length);
    this.payloadAt = payloadAt;
    this.payloadBytes = undefined;
    this.stagedBytes = staged;
    this.stagedNul = nul;
  }

  /**
   * A line received in several chunks (`parts`, `total` bytes, no LF), whose word 3 is the payload
   * of a `write`-family command: split it without copying the payload into one buffer (the other
   * words are copied into a small one). Returns false (nothing changed) for any other line: the
   * caller then joins the parts and uses set().
   */
  setParts(parts: readonly Buffer[], total: number): boolean {
    // Global offsets of the first spaces (a payload line has few).
    const spaces: number[] = [];
    let base = 0;
    for (const part of parts) {
      let from = 0;
      for (;;) {
        const sp = part.indexOf(SPACE, from);
        if (sp < 0) break;
        if (spaces.length === MAX_SPACES) return false;
        spaces.push(base + sp);
        from = sp + 1;
      }
      base += part.length;
    }
    // Single spaces up to the payload (a double space takes QEMU's other paths: set()).
    if (spaces.length < 3 || spaces[0] === 0 || spaces[1] === spaces[0] + 1 || spaces[2] === spaces[1] + 1) return false;
    const first = parts[0];
    if (spaces[0] > first.length || !PAYLOAD_COMMANDS.has(first.toString('latin1', 0, spaces[0]))) return false;
    const ds = spaces[2] + 1;
    const de = spaces.length > 3 ? spaces[3] : total;
    if (de - ds < MIN_KEPT) return false;
    // The payload's bytes, as subarrays of the parts.
    const pieces: Buffer[] = [];
    const head = Buffer.allocUnsafe(ds + STAND_IN + (total - de));
    base = 0;
    for (const part of parts) {
      const pEnd = base + part.length;
      const a = Math.max(ds, base);
      const b = Math.min(de, pEnd);
      if (a < b) pieces.push(part.subarray(a - base, b - base));
      // The rest of the line (every byte outside the payload) goes to `head`.
      if (base < ds) part.copy(head, base, 0, Math.min(part.length, ds - base));
      if (pEnd > de) {
        const from = Math.max(de, base);
        part.copy(head, ds + STAND_IN + (from - de), from - base, part.length);
      }
      base = pEnd;
    }
    const payload = new Payload(pieces, de - ds);
    payload.copy(0, STAND_IN, head, ds);
    this.split(head, 0, head.length);
    this.payloadAt = ds;
    this.payloadBytes = payload;
    this.stagedBytes = undefined;
    return true;
  }

  private split(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
    this.start = start;
    this.end = end;
    this.count = 0;
    let from = start;
    if (end - start <= SHORT_LINE) {
      // A short line is split by scanning it in JS (cheaper than a native search per word), and
      // NUL bytes are noted on the way.
      let nul = false;
      for (let i = start; i < end; i++) {
        const c = buf[i];
        if (c === SPACE) {
          this.push(from, i);
          from = i + 1;
        } else if (c === 0) nul = true;
      }
      this.push(from, end);
      this.nul = nul ? NUL_SEEN : NUL_NONE;
      return;
    }
    this.nul = NUL_UNKNOWN;
    for (;;) {
      const sp = buf.indexOf(SPACE, from);
      if (sp < 0 || sp >= end) {
        this.push(from, end);
        return;
      }
      this.push(from, sp);
      from = sp + 1;
    }
  }

  /** `memory` is to be reused: what the line points at in it is copied (the line's bytes, a kept payload's parts). */
  own(memory: ArrayBufferLike): void {
    if (this.payloadBytes) {
      // setParts made `buf` of its own; the payload's last part may lie in the last read
      this.payloadBytes.own(memory);
      return;
    }
    if (this.buf.buffer !== memory) return;
    const copy = Buffer.from(this.buf.subarray(this.start, this.end));
    this.set(copy, 0, copy.length);
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
    if (this.starts[i] === this.payloadAt) return this.payloadBytes ? this.payloadBytes.length : this.stagedBytes!.length;
    return this.ends[i] - this.starts[i];
  }

  /** Word i's bytes (a kept payload, or a range of `buf`); a staged payload has none (staged()). */
  payload(i: number): Payload {
    if (this.starts[i] === this.payloadAt) {
      if (!this.payloadBytes) throw new Error('the payload was decoded as it arrived: its text is gone');
      return this.payloadBytes;
    }
    return Payload.of(this.buf, this.starts[i], this.ends[i]);
  }

  /** Word i's payload decoded as it arrived, if it was. */
  staged(i: number): Staged | undefined {
    return this.starts[i] === this.payloadAt ? this.stagedBytes : undefined;
  }

  /** The line contains a NUL byte. */
  hasNul(): boolean {
    if (this.nul === NUL_SEEN) return true;
    const nul = this.nul === NUL_NONE ? -1 : this.buf.indexOf(0, this.start);
    if (nul >= 0 && nul < this.end) return true;
    if (this.stagedBytes) return this.stagedNul;
    return this.payloadBytes ? !this.payloadBytes.every(0, this.payloadBytes.length, (p, s, e) => {
      const at = p.indexOf(0, s);
      return at < 0 || at >= e;
    }) : false;
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
    const p = this.payloadBytes;
    if (this.stagedBytes) {
      const at = this.payloadAt;
      const rest = this.buf.toString('latin1', at + Math.min(STAND_IN, this.stagedBytes.length), this.end);
      return `${this.buf.toString('latin1', this.start, at)}<payload of ${this.stagedBytes.length} bytes>${rest}`;
    }
    if (!p) return this.buf.toString('latin1', this.start, this.end);
    const whole = Buffer.allocUnsafe(this.end - this.start - STAND_IN + p.length);
    this.buf.copy(whole, 0, this.start, this.payloadAt);
    p.copy(0, p.length, whole, this.payloadAt - this.start);
    this.buf.copy(whole, this.payloadAt - this.start + p.length, this.payloadAt + STAND_IN, this.end);
    return whole.toString('latin1');
  }

  /** The line contains a double space (the collapsed retry can differ from the plain split). */
  hasDoubleSpace(): boolean {
    const { buf, end } = this;
    for (let i = this.start + 1; i < end; i++) if (buf[i] === SPACE && buf[i - 1] === SPACE) return true;
    return false;
  }
}
