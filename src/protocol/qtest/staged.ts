/**
 * Staged: the bytes a `write`/`b64write` payload decodes to, decoded as the payload's chunks
 * arrive (long-line.ts), so that a long line is never held as text. Bytes [0, cap) of what QEMU
 * 10.2.2's buffer holds once it decoded the whole payload (cap: the command's SIZE), in blocks
 * allocated as they are first written: what it holds never exceeds what was received. Bytes never
 * written read as 0.
 *
 * The two decoders reproduce qtest.c's (protocol/qtest.md "write", "b64write"):
 * - hex: the first two characters are skipped whatever they are; byte i is made of characters
 *   2+2i and 3+2i (hex2nib: a non-digit counts as -1, so its nibble is all ones) while both
 *   exist, else it is 0;
 * - base64 (glib's in-place decode): characters outside the alphabet are skipped, `=` counts as
 *   0 and drops the bytes it stands for; decoded byte k overwrites text character k, so past the
 *   decoded bytes the buffer still holds the text, then a NUL (and past that, heap bytes in
 *   QEMU: zeros here, protocol/deviations.md).
 * The decoded byte k of base64 is always written after text character k arrived (k < position of
 * the character that completes its group), so copying each character to its position, then
 * writing decoded bytes over, gives the in-place result at every moment.
 */

import { B64_RANK, NIB } from './codecs.js';

/**
 * Block size: the bulk piece (48 KiB), so a RAM piece of a transfer is one block; below the C
 * library's threshold for mapping fresh pages (128 KiB), so blocks reuse freed heap memory, as
 * the socket's chunks do (768 KiB blocks, fresh zeroed pages each time, cost 1.5× the CPU).
 */
export const STAGE_BLOCK = 48 * 1024;
/** Characters decoded natively at once (a latin1 string below V8's large-object size). */
const NATIVE_RUN = 64 * 1024;

/** Runs of fewer bytes (hex) or characters (base64) than these are decoded in JS (a native call costs more). */
const NATIVE_HEX_MIN = 64;
const NATIVE_B64_MIN = 64;

/**
 * Blocks of finished payloads, for the next ones (up to POOL_BLOCKS: 16 MiB, held only once a
 * payload that large was sent). Reused blocks are warm in the caches and cost no allocation; a
 * payload past the pool allocates the rest. Fresh blocks are freed only when the GC gets to them,
 * so a payload past the pool takes part of its memory from the kernel again: with a 2.25 MiB
 * pool, a 16 MiB `b64write` faulted 220-380 pages per request (1.2-1.4x the CPU per byte of an
 * 8 MiB one, which faulted none); with 16 MiB, neither faults.
 */
const POOL: Buffer[] = [];
const POOL_BLOCKS = Math.ceil((16 << 20) / STAGE_BLOCK);

/** Scratch for natively decoded runs (3/4 of NATIVE_RUN). */
const SCRATCH = Buffer.allocUnsafeSlow((NATIVE_RUN / 4) * 3);

export class Staged {
  private readonly blocks: Buffer[] = [];
  /** Payload characters seen. */
  length = 0;
  /** base64: bytes decoded so far (glib's out_len once the payload ended). */
  decodedLength = 0;
  // decoder state: hex — the pending high nibble (-2: none); base64 — glib's accumulator
  private nib = -2;
  private v = 0;
  private n = 0;
  private last0 = 0;
  private last1 = 0;

  /** `cap`: the command's SIZE (nothing past it is kept). */
  constructor(
    readonly kind: 'hex' | 'b64',
    readonly cap: number,
  ) {}

  /** The next characters of the payload: src[from, to). */
  add(src: Buffer, from: number, to: number): void {
    if (from >= to) return;
    if (this.kind === 'hex') this.addHex(src, from, to);
    else this.addB64(src, from, to);
  }

  private block(k: number): Buffer {
    let b = this.blocks[k];
    if (!b) {
      // bytes are written in order from 0: end() zeroes what follows them
      const whole = POOL.pop() ?? Buffer.allocUnsafeSlow(STAGE_BLOCK);
      const size = this.cap - k * STAGE_BLOCK;
      b = size < STAGE_BLOCK ? whole.subarray(0, size) : whole;
      this.blocks[k] = b;
    }
    return b;
  }

  /** The bytes were used: the blocks go back to the pool (this reads as zeros from now on). */
  release(): void {
    for (const b of this.blocks) {
      if (b && POOL.length < POOL_BLOCKS) POOL.push(b.length === STAGE_BLOCK ? b : Buffer.from(b.buffer, b.byteOffset, STAGE_BLOCK));
    }
    this.blocks.length = 0;
  }

  /** Write bytes src[from, to) at `pos` (clipped to cap). */
  private put(pos: number, src: Uint8Array, from: number, to: number): void {
    const end = Math.min(this.cap, pos + (to - from));
    while (pos < end) {
      const k = Math.floor(pos / STAGE_BLOCK);
      const off = pos - k * STAGE_BLOCK;
      const n = Math.min(end - pos, STAGE_BLOCK - off);
      this.block(k).set(src.subarray(from, from + n), off);
      pos += n;
      from += n;
    }
  }

  private putByte(pos: number, value: number): void {
    if (pos >= this.cap) return;
    const k = Math.floor(pos / STAGE_BLOCK);
    this.block(k)[pos - k * STAGE_BLOCK] = value;
  }

  private addHex(src: Buffer, from: number, to: number): void {
    let p = from;
    if (this.length < 2) {
      // the first two characters of the payload are skipped
      const skip = Math.min(2 - this.length, to - p);
      this.length += skip;
      p += skip;
      if (p >= to) return;
    }
    const first = p;
    // character 2+2i is the high nibble of byte i, 3+2i completes it
    let i = (this.length - 2) >> 1;
    if (this.nib !== -2) {
      this.putByte(i, ((this.nib << 4) & 0xff) | (NIB[src[p]] & 0xff));
      this.nib = -2;
      p++;
      i++;
    }
    const pairs = (to - p) >> 1;
    // bytes [i, i + pairs) from the pairs, straight into their blocks
    const stop = Math.min(i + pairs, this.cap);
    let q = p;
    while (i < stop) {
      const k = Math.floor(i / STAGE_BLOCK);
      const off = i - k * STAGE_BLOCK;
      const n = Math.min(stop - i, STAGE_BLOCK - off);
      const b = this.block(k);
      // Node's native decoder gives the same bytes up to the first pair that is not two hex
      // digits (where it stops); from there on, hex2nib's rule byte by byte
      const native = n >= NATIVE_HEX_MIN ? b.write(src.toString('latin1', q, q + 2 * n), off, n, 'hex') : 0;
      q += 2 * native;
      for (let j = off + native, e = off + n; j < e; j++, q += 2) b[j] = ((NIB[src[q]] << 4) & 0xff) | (NIB[src[q + 1]] & 0xff);
      i += n;
    }
    p += 2 * pairs;
    if (p < to) this.nib = NIB[src[p]];
    this.length += to - first;
  }

  private addB64(src: Buffer, from: number, to: number): void {
    let p = from;
    while (p < to) {
      // at a group boundary, a run of whole groups is tried natively
      let chars = this.n === 0 ? Math.min(to - p, NATIVE_RUN) & ~3 : 0;
      // a final group with padding is left to the loop below
      if (chars > 0 && src[p + chars - 1] === 61) chars -= 4;
      if (chars >= NATIVE_B64_MIN && this.nativeRun(src, p, p + chars)) {
        p += chars;
        continue;
      }
      // character by character: a run that is not all alphabet, the next character until a group
      // boundary, or a short rest
      const stop = chars >= NATIVE_B64_MIN ? p + chars : this.n !== 0 ? p + 1 : to;
      while (p < stop) this.b64Char(src[p++]);
    }
  }

  /**
   * Decode src[from, to) (whole groups) natively if it is all alphabet characters (then Node's
   * decoder and glib's agree: 4 characters → 3 bytes); false (nothing changed) otherwise. Node
   * skips characters outside its alphabet and stops at `=`, so fewer bytes than 3 per 4 characters
   * means the run was not all alphabet; Node also takes `-` and `_` (base64url), which glib skips:
   * those are looked for first.
   */
  private nativeRun(src: Buffer, from: number, to: number): boolean {
    const url1 = src.indexOf(0x2d, from);
    const url2 = src.indexOf(0x5f, from);
    if ((url1 >= 0 && url1 < to) || (url2 >= 0 && url2 < to)) return false;
    const bytes = SCRATCH.write(src.toString('latin1', from, to), 0, 'base64');
    if (bytes !== ((to - from) >> 2) * 3) return false;
    const pos = this.length;
    const out = this.decodedLength;
    // decoded bytes [out, out+bytes); the text past them is kept for a payload that ends early
    this.put(out, SCRATCH, 0, bytes);
    const keepFrom = Math.max(pos, out + bytes);
    if (keepFrom < this.cap && keepFrom < pos + (to - from)) this.put(keepFrom, src, from + (keepFrom - pos), to);
    this.decodedLength = out + bytes;
    this.length = pos + (to - from);
    this.last1 = src[to - 2];
    this.last0 = src[to - 1];
    return true;
  }

  /** The next character (glib's loop body, after its copy at its own position). */
  private b64Char(c: number): void {
    this.putByte(this.length++, c);
    const rank = B64_RANK[c];
    if (rank < 0) return;
    this.last1 = this.last0;
    this.last0 = c;
    this.v = ((this.v << 6) | rank) & 0xffffff;
    if (++this.n === 4) {
      const v = this.v;
      this.putByte(this.decodedLength++, (v >> 16) & 0xff);
      if (this.last1 !== 61) this.putByte(this.decodedLength++, (v >> 8) & 0xff);
      if (this.last0 !== 61) this.putByte(this.decodedLength++, v & 0xff);
      this.n = 0;
    }
  }

  /**
   * The payload ended: base64 — the NUL after the text (when within cap); hex — nothing (bytes
   * without two characters stay 0).
   */
  end(): void {
    if (this.kind === 'b64') this.putByte(this.length, 0);
    // Bytes [0, filled) were written (hex: one per pair of characters; base64: a character or
    // a decoded byte at every position up to the NUL); the rest of their last block reads 0.
    const filled = Math.min(this.cap, this.kind === 'hex' ? Math.max(0, (this.length - 2) >> 1) : this.length + 1);
    const k = Math.floor(filled / STAGE_BLOCK);
    this.blocks[k]?.fill(0, filled - k * STAGE_BLOCK);
  }

  /**
   * Bytes [from, from+n) (n ≤ STAGE_BLOCK) as one array, valid until the next call: a block's
   * subarray when they lie in one block, else a copy into `scratch` (n bytes or more).
   */
  view(from: number, n: number, scratch: Uint8Array): Uint8Array {
    const k = Math.floor(from / STAGE_BLOCK);
    const off = from - k * STAGE_BLOCK;
    const b = this.blocks[k];
    if (b && off + n <= b.length) return b.subarray(off, off + n);
    for (let done = 0; done < n; ) {
      const pos = from + done;
      const kk = Math.floor(pos / STAGE_BLOCK);
      const o = pos - kk * STAGE_BLOCK;
      const m = Math.min(n - done, STAGE_BLOCK - o);
      const blk = this.blocks[kk];
      const got = blk ? Math.max(0, Math.min(m, blk.length - o)) : 0;
      if (got > 0) scratch.set(blk!.subarray(o, o + got), done);
      scratch.fill(0, done + got, done + m);
      done += m;
    }
    return scratch.subarray(0, n);
  }
}
