/**
 * LongLine: the bytes of a qtest line received so far whose LF has not arrived. A line is held as
 * the chunks it arrived in, except a long `write`-family line (`write`, `write_space`,
 * `write_secure`, `b64write`): once its header (`CMD ADDR SIZE `) is in, its payload is decoded as
 * it arrives (staged.ts) and its chunks are let go, so a 16 MiB `write` holds its 16 MiB of data,
 * not 32 MiB of text. Nothing is written to memory before the LF: QEMU 10.2.2 parses a line only
 * once it is complete (a line that never ends, or turns out too long or to hold a NUL, writes
 * nothing). Words after the payload are kept as received. When the LF comes, the line is handed
 * to QtestLine as its header and trailing words with a stand-in for the payload (line.ts).
 *
 * Borrowed bytes (a direct socket's read buffer, reused after the call) are copied only where they
 * are kept, into one buffer of the LongLine's own that every line reuses (`hold`): a kept part in
 * fresh memory each request cost page faults (a 32 KiB `write`, a 65,563-byte line read as 64 KiB
 * + 27 bytes, faulted ~5 pages per request: 1.3-1.9x the server CPU per byte of a 16 KiB one,
 * more than a 64 KiB one in absolute terms). Payload bytes decoded as they arrive are never kept
 * (they used to be copied too). What a finished line's parts hold stays valid
 * until the next add() (the endpoint runs a line, or waits for its job, before reading on).
 *
 * A LongLine outlives its connection (QEMU's input buffer does): an unfinished line continues on
 * the next connection of the same session.
 */
import type { QtestLine } from './line.js';
import { parseNumberAt, PARSE_OK } from './numbers.js';
import type { NumberResult } from './numbers.js';
import { Staged } from './staged.js';

const SPACE = 0x20;
/** Payload decoders of the commands whose word 3 is a payload (the `_space`/`_secure` forms are hex). */
const KINDS: Record<string, 'hex' | 'b64'> = { write: 'hex', write_space: 'hex', write_secure: 'hex', b64write: 'b64' };
/**
 * A line is decoded as it arrives once this much of it is held; shorter lines are joined as usual
 * (at 32 KiB, 64-128 KiB writes measured 1.15-1.2x the server CPU per byte of the joined path in a
 * sweep A/B; at 128 KiB, the same as it).
 */
const STREAM_FROM = 128 * 1024;
/** A header not complete within this many bytes is not a payload header: the line is held. */
const HEADER_MAX = 256;
/** Bytes of the payload the line's buffer holds in its place (its first bytes). */
const STAND_IN = 3;
/** The reused memory for kept borrowed bytes starts this big and doubles up to HOLD_MAX. */
const HOLD_MIN = 64 * 1024;
/**
 * Bytes of one line kept in reused memory at most (a line decoded as it arrives keeps about
 * STREAM_FROM plus one read); further kept bytes of a longer line are copied to fresh memory.
 */
const HOLD_MAX = 256 * 1024;

export class LongLine {
  /** Bytes of the line received (held or decoded). */
  bytes = 0;
  /** Bytes held as received (before decoding started, or for a line that is not decoded). */
  private parts: Buffer[] = [];
  /** A header was looked for and the line is not decoded as it arrives. */
  private declined = false;
  /** Decoding: the line's bytes before its payload. */
  private head?: Buffer;
  private staged?: Staged;
  /** The payload's first bytes (the stand-in). */
  private readonly first = Buffer.alloc(STAND_IN);
  /** The payload holds a NUL byte. */
  private nul = false;
  /** Bytes from the space that ended the payload on, as received. */
  private tail?: Buffer[];
  private tailBytes = 0;
  private readonly num: NumberResult = { small: 0, big: undefined };
  /** Reused memory for kept borrowed bytes: [0, held) is in use by the current line. */
  private hold?: Buffer;
  private held = 0;

  /**
   * More of the line; `decode`: it may be decoded as it arrives (no qtest log wants its text);
   * `borrowed`: the bytes' memory is reused after the call (what is kept of them is copied).
   */
  add(bytes: Buffer, decode: boolean, borrowed = false): void {
    this.bytes += bytes.length;
    if (this.staged) return this.feed(bytes, borrowed);
    this.parts.push(borrowed ? this.keep(bytes) : bytes);
    if (decode && !this.declined && this.bytes >= STREAM_FROM) this.start();
  }

  /** A copy of `bytes` that stays valid until the line is cleared. */
  private keep(bytes: Buffer): Buffer {
    const n = bytes.length;
    let hold = this.hold;
    let at = this.held;
    if (!hold || at + n > hold.length) {
      if (at + n > HOLD_MAX) return Buffer.from(bytes);
      let size = hold ? hold.length : HOLD_MIN;
      while (size < at + n) size *= 2;
      // The parts kept so far stay in the old memory (they keep it alive until the line ends);
      // the next lines reuse the new one.
      hold = this.hold = Buffer.allocUnsafeSlow(size);
      at = 0;
    }
    bytes.copy(hold, at);
    this.held = at + n;
    return hold.subarray(at, at + n);
  }

  /** Drop everything (the line was refused, or ended). */
  clear(): void {
    this.bytes = 0;
    this.parts = [];
    this.declined = false;
    this.head = undefined;
    this.staged = undefined;
    this.nul = false;
    this.tail = undefined;
    this.tailBytes = 0;
    this.held = 0;
  }

  /**
   * The LF came after `last`: a decoded line is set in `line` (true); otherwise the held bytes,
   * `last` included, are returned for the caller to split (the LongLine is cleared either way).
   */
  finish(last: Buffer, line: QtestLine): true | Buffer[] {
    if (!this.staged) {
      const parts = this.parts;
      parts.push(last);
      this.clear();
      return parts;
    }
    this.feed(last);
    const staged = this.staged;
    const head = this.head!;
    const tail = this.tail ?? [];
    const nul = this.nul;
    const standIn = Math.min(STAND_IN, staged.length);
    const buf = Buffer.allocUnsafe(head.length + standIn + this.tailBytes);
    head.copy(buf, 0);
    this.first.copy(buf, head.length, 0, standIn);
    let at = head.length + standIn;
    for (const t of tail) {
      t.copy(buf, at);
      at += t.length;
    }
    this.clear();
    if (staged.length <= STAND_IN) {
      // the payload is all in the buffer: an ordinary line
      line.set(buf, 0, buf.length);
      return true;
    }
    staged.end();
    line.setStaged(buf, head.length, staged, nul);
    return true;
  }

  /** Look for a payload header in the held bytes; decode from there on, or decline for good. */
  private start(): void {
    const spaces: number[] = [];
    let base = 0;
    for (const part of this.parts) {
      let from = 0;
      while (spaces.length < 3) {
        const sp = part.indexOf(SPACE, from);
        if (sp < 0 || base + sp >= HEADER_MAX) break;
        spaces.push(base + sp);
        from = sp + 1;
      }
      base += part.length;
      if (spaces.length === 3 || base >= HEADER_MAX) break;
    }
    if (spaces.length < 3) {
      this.declined = true;
      return;
    }
    const [s0, s1, s2] = spaces;
    // single spaces up to the payload (a double space takes QEMU's other paths)
    const header = Buffer.concat(this.parts, Math.min(this.bytes, s2 + 1));
    const kind = Object.hasOwn(KINDS, header.toString('latin1', 0, s0)) ? KINDS[header.toString('latin1', 0, s0)] : undefined;
    this.declined = true;
    if (kind === undefined || s0 === 0 || s1 === s0 + 1 || s2 === s1 + 1) return;
    // SIZE bounds what is kept (a SIZE QEMU would refuse: the line is held, and refused as usual)
    if (parseNumberAt(header, s1 + 1, s2, 'u64', this.num) !== PARSE_OK || this.num.big !== undefined) return;
    this.declined = false;
    this.head = header;
    this.staged = new Staged(kind, this.num.small);
    this.tail = undefined;
    this.tailBytes = 0;
    const parts = this.parts;
    this.parts = [];
    let skip = s2 + 1;
    for (const part of parts) {
      if (skip >= part.length) {
        skip -= part.length;
        continue;
      }
      this.feed(skip > 0 ? part.subarray(skip) : part);
      skip = 0;
    }
  }

  /** Bytes of the payload, or after it (`borrowed`: what is kept of them is copied). */
  private feed(bytes: Buffer, borrowed = false): void {
    if (this.tail) {
      this.tail.push(borrowed ? this.keep(bytes) : bytes);
      this.tailBytes += bytes.length;
      return;
    }
    const staged = this.staged!;
    const sp = bytes.indexOf(SPACE);
    const end = sp < 0 ? bytes.length : sp;
    if (!this.nul && bytes.subarray(0, end).indexOf(0) >= 0) this.nul = true;
    const had = staged.length;
    if (had < STAND_IN) bytes.copy(this.first, had, 0, Math.min(end, STAND_IN - had));
    staged.add(bytes, 0, end);
    if (sp >= 0) {
      this.tail = [borrowed ? this.keep(bytes.subarray(sp)) : bytes.subarray(sp)];
      this.tailBytes = bytes.length - sp;
    }
  }
}
