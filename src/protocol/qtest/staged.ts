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

/** Block size (a multiple of the bulk piece, 48 KiB: a RAM piece of a transfer lies in one block). */
export const STAGE_BLOCK = 16 * 48 * 1024;
/** Characters decoded natively at once (a latin1 string below V8's large-object size). */
const NATIVE_RUN = 64 * 1024;

/** hex2nib of every byte value (-1 for a non-digit). */
const NIB = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let c = 48; c <= 57; c++) t[c] = c - 48;
  for (let c = 97; c <= 102; c++) t[c] = c - 87;
  for (let c = 65; c <= 70; c++) t[c] = c - 55;
  return t;
})();

/** Base64 alphabet rank of every byte value ('=' counts 0), -1 outside it. */
const B64_RANK = (() => {
  const table = new Int16Array(256).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  table[61] = 0; // '='
  return table;
})();
/** 1 for every byte value outside the alphabet (`=` included), else 0. */
const NOT_B64 = (() => {
  const t = new Uint8Array(256).fill(1);
  for (let c = 0; c < 256; c++) if (B64_RANK[c] >= 0 && c !== 61) t[c] = 0;
  return t;
})();

/** Index of the first byte of src[from, to) outside the alphabet (`=` included), or `to`. */
function alphabetRun(src: Uint8Array, from: number, to: number): number {
  const t = NOT_B64;
  let i = from;
  for (; i + 8 <= to; i += 8) {
    if (t[src[i]] | t[src[i + 1]] | t[src[i + 2]] | t[src[i + 3]] | t[src[i + 4]] | t[src[i + 5]] | t[src[i + 6]] | t[src[i + 7]])
      break;
  }
  while (i < to && !t[src[i]]) i++;
  return i;
}

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
      // unwritten bytes must read 0: a fresh block is zeroed
      b = Buffer.alloc(Math.min(STAGE_BLOCK, this.cap - k * STAGE_BLOCK));
      this.blocks[k] = b;
    }
    return b;
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
      for (let j = off, e = off + n; j < e; j++, q += 2) b[j] = ((NIB[src[q]] << 4) & 0xff) | (NIB[src[q + 1]] & 0xff);
      i += n;
    }
    p += 2 * pairs;
    if (p < to) this.nib = NIB[src[p]];
    this.length += to - first;
  }

  private addB64(src: Buffer, from: number, to: number): void {
    let p = from;
    while (p < to) {
      if (this.n !== 0) {
        this.b64Char(src[p++]);
        continue;
      }
      // a run of whole groups of alphabet characters decodes natively (as glib: 4 → 3)
      const run = alphabetRun(src, p, Math.min(to, p + NATIVE_RUN));
      const chars = (run - p) & ~3;
      if (chars >= 64) {
        this.nativeRun(src, p, p + chars);
        p += chars;
        continue;
      }
      // a short run: through it and the character that ended it, one by one
      for (const stop = Math.min(to, run + 1); p < stop; ) this.b64Char(src[p++]);
    }
  }

  private nativeRun(src: Buffer, from: number, to: number): void {
    const pos = this.length;
    const out = this.decodedLength;
    const text = src.toString('latin1', from, to);
    const bytes = SCRATCH.write(text, 0, 'base64');
    // decoded bytes [out, out+bytes); the text past them is kept for a payload that ends early
    this.put(out, SCRATCH, 0, bytes);
    const keepFrom = Math.max(pos, out + bytes);
    if (keepFrom < this.cap && keepFrom < pos + (to - from)) this.put(keepFrom, src, from + (keepFrom - pos), to);
    this.decodedLength = out + bytes;
    this.length = pos + (to - from);
    const c = src[to - 1];
    this.last1 = src[to - 2];
    this.last0 = c;
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
