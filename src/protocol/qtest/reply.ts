/**
 * ReplyWriter: qtest replies are written as bytes into a slab (128 KiB, reused until full) and
 * handed to the transport as Buffers — one per flush, not one string per reply. Bulk payloads
 * (hex, base64) are encoded straight into the slab piece by piece, so a reply of any size costs
 * the same per byte and never becomes one big string. A flushed piece is written again only
 * once the sink says everything handed to it has left the process (`reusable`, e.g. a socket
 * that took the bytes at once): the slab then starts over, so its pages stay mapped and warm;
 * otherwise the next reply continues after it and a full slab is replaced by a fresh one (fresh
 * memory per reply costs page faults and GC work several times the encoding itself).
 */

/**
 * Room for a whole 64 KiB hex `read` reply (`OK 0x`, 128 KiB of digits, LF, alignment): the
 * reply QEMU writes in one call goes to the socket in one piece too (two pieces of 64 KiB cost
 * 1.3× the server CPU and 1.35× the wall time per request). Larger replies go in pieces of this
 * size, which the kernel's socket buffer (~208 KiB) takes at once when the peer keeps up.
 */
const SLAB_BYTES = 128 * 1024 + 64;
/**
 * A reply larger than what the socket takes at once fills several slabs; once the sink has
 * consumed them they are kept for the next such reply (of any writer of the process: the pool
 * is bounded per process, 2 MiB, a 1 MiB hex `read`'s reply) instead of fresh memory, whose page
 * faults cost a 1 MiB `b64read` 1.4× the server CPU.
 */
const MAX_SPARE_SLABS = 16;
const SPARE: Buffer[] = [];

/** Lowercase hex digits of every byte value: HEX[2b], HEX[2b+1]. */
const HEX = (() => {
  const t = new Uint8Array(512);
  const digits = '0123456789abcdef';
  for (let b = 0; b < 256; b++) {
    t[2 * b] = digits.charCodeAt(b >> 4);
    t[2 * b + 1] = digits.charCodeAt(b & 15);
  }
  return t;
})();

/** The two hex digits of every byte value as one little-endian 16-bit word (first digit low). */
const HEX16 = (() => {
  const t = new Uint16Array(256);
  for (let b = 0; b < 256; b++) t[b] = HEX[2 * b] | (HEX[2 * b + 1] << 8);
  return t;
})();

/**
 * The four hex digits of every pair of bytes b0 | b1 << 8 as one little-endian 32-bit word: bulk
 * hex is stored four digits at a time (twice the speed of two). 256 KiB, built on first use.
 */
let hex32: Uint32Array | undefined;
function hex32Table(): Uint32Array {
  if (hex32) return hex32;
  const t = new Uint32Array(65536);
  for (let w = 0; w < 65536; w++) t[w] = HEX16[w & 0xff] | (HEX16[w >> 8] << 16);
  return (hex32 = t);
}
/** Runs shorter than this use the small table (a short read never builds the big one). */
const HEX32_MIN = 512;
/**
 * Typed-array views use the host's byte order: the aligned hex path (16-bit loads, 32-bit stores,
 * 1.3× the speed of DataView stores at any offset) is taken on little-endian hosts only.
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class ReplyWriter {
  private slab: Buffer = Buffer.allocUnsafeSlow(SLAB_BYTES);
  /** The slab as a DataView: hex digits are stored two at a time, at any alignment. */
  private view = new DataView(this.slab.buffer, this.slab.byteOffset, this.slab.length);
  /** The slab as 32-bit words (its length is a multiple of 4 and it starts its own buffer). */
  private words = new Uint32Array(this.slab.buffer, this.slab.byteOffset, this.slab.length >> 2);
  private pos = 0;
  /** Full slabs handed to the sink and not yet known consumed. */
  private readonly retired: Buffer[] = [];
  /** Start of the bytes not yet flushed. */
  private from = 0;
  /** The last piece flushed from the slab's start, and whether the sink has consumed it since. */
  private head: Buffer | undefined;
  private headFree = false;

  constructor(
    private readonly sink: (piece: Buffer) => void,
    /** Everything flushed so far has been consumed: the slab may be written from its start. */
    private readonly reusable: () => boolean = () => false,
  ) {}

  /**
   * Between batches of input: with nothing pending and everything flushed consumed, start the
   * slab over (a bulk reply finds whole slabs; serial short replies stay in the slab's first
   * cache line and reuse one piece Buffer).
   */
  rewind(): void {
    if (this.pos === this.from && this.pos > 0 && this.consumed()) {
      this.pos = 0;
      this.from = 0;
      this.headFree = true;
    }
  }

  /** Bytes written and not yet flushed. */
  get pending(): number {
    return this.pos - this.from;
  }

  /** Hand what was written since the last flush to the sink. */
  flush(): void {
    const { from, pos } = this;
    if (pos === from) return;
    this.from = pos;
    let piece: Buffer;
    if (from !== 0) piece = this.slab.subarray(from, pos);
    else if (this.headFree && this.head !== undefined && this.head.length === pos) {
      // The same bytes of the slab as last time, consumed since: the same Buffer.
      piece = this.head;
      this.headFree = false;
    } else {
      piece = this.head = this.slab.subarray(0, pos);
      this.headFree = false;
    }
    this.sink(piece);
  }

  /**
   * Everything flushed has been consumed (the sink's word): the slab may start over and the
   * retired slabs are free again (spares of the process, up to MAX_SPARE_SLABS).
   */
  private consumed(): boolean {
    if (!this.reusable()) return false;
    const retired = this.retired;
    while (retired.length > 0) {
      const slab = retired.pop()!;
      if (SPARE.length < MAX_SPARE_SLABS) SPARE.push(slab);
    }
    return true;
  }

  /** Make `n` contiguous bytes available (n ≤ the slab size). */
  private room(n: number): void {
    if (this.slab.length - this.pos >= n) return;
    this.flush();
    if (this.slab.length >= n && this.consumed()) {
      this.pos = 0;
      this.from = 0;
      this.headFree = true;
      return;
    }
    this.head = undefined;
    this.headFree = false;
    // The full slab is still being sent: it waits among the retired (at most as many as may
    // become spares: a sink that never reports consumption, a qtest log, holds no more); a spare
    // one takes over.
    if (this.slab.length === SLAB_BYTES && this.retired.length < MAX_SPARE_SLABS) this.retired.push(this.slab);
    const spare = n <= SLAB_BYTES ? SPARE.pop() : undefined;
    this.slab = spare ?? Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, (n + 3) & ~3));
    this.view = new DataView(this.slab.buffer, this.slab.byteOffset, this.slab.length);
    this.words = new Uint32Array(this.slab.buffer, this.slab.byteOffset, this.slab.length >> 2);
    this.pos = 0;
    this.from = 0;
  }

  /**
   * A bulk reply starts: with nothing pending and everything flushed consumed, the slab starts
   * over (a reply that fits the slab then goes out in one piece); the next `prefix` bytes (its
   * `OK …` head) are placed so that what follows starts at a multiple of 4 bytes in the slab,
   * where hex is stored a word at a time. Skipped bytes are never sent: what is pending is
   * flushed before the skip.
   */
  beginBulk(prefix: number): void {
    if (this.pos === this.from && this.pos > 0 && this.consumed()) {
      this.pos = 0;
      this.from = 0;
    }
    const skip = (4 - ((this.pos + prefix) & 3)) & 3;
    if (skip === 0 || this.slab.length - this.pos < skip + prefix + 4) return;
    this.flush();
    this.pos += skip;
    this.from = this.pos;
  }

  byte(c: number): void {
    this.room(1);
    this.slab[this.pos++] = c;
  }

  /** Latin1 text (short: protocol words and error lines; any length is accepted). */
  text(s: string): void {
    if (s.length > 64) {
      // Long text fills the slab to its end and continues in the next.
      let i = 0;
      while (i < s.length) {
        this.room(1);
        const n = Math.min(s.length - i, this.slab.length - this.pos);
        this.pos += this.slab.write(i === 0 && n === s.length ? s : s.slice(i, i + n), this.pos, 'latin1');
        i += n;
      }
      return;
    }
    this.room(s.length);
    // Short protocol words: a byte loop is cheaper than a call into the native string writer.
    const slab = this.slab;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) slab[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** `OK 0x` + 16 hex digits of the little-endian value in bytes[0..width). */
  okHex16LE(bytes: Uint8Array, width: number): void {
    this.room(21);
    const s = this.slab;
    let p = this.pos;
    s[p++] = 0x4f; // O
    s[p++] = 0x4b; // K
    s[p++] = 0x20;
    s[p++] = 0x30; // 0
    s[p++] = 0x78; // x
    for (let i = 7; i >= 0; i--) {
      const b = i < width ? bytes[i] : 0;
      s[p++] = HEX[2 * b];
      s[p++] = HEX[2 * b + 1];
    }
    this.pos = p;
  }

  /** Lowercase hex of src[start, end), in memory order, in slab-sized pieces. */
  hex(src: Uint8Array, start: number, end: number): void {
    let i = start;
    while (i < end) {
      this.room(2);
      const v = this.view;
      let p = this.pos;
      const stop = Math.min(end, i + ((this.slab.length - p) >> 1));
      if (stop - i >= HEX32_MIN) {
        const t = hex32Table();
        if ((p & 3) === 2) {
          v.setUint16(p, HEX16[src[i]], true);
          i++;
          p += 2;
        }
        const n = (stop - i) >> 1;
        if (LITTLE_ENDIAN && (p & 3) === 0 && ((src.byteOffset + i) & 1) === 0) {
          // Byte pairs as 16-bit loads, four digits as one aligned 32-bit store.
          const pairs = new Uint16Array(src.buffer, src.byteOffset + i, n);
          const words = this.words;
          const w = p >> 2;
          for (let k = 0; k < n; k++) words[w + k] = t[pairs[k]];
          i += 2 * n;
          p += 4 * n;
        } else {
          const last = i + 2 * n;
          for (; i < last; i += 2, p += 4) v.setUint32(p, t[src[i] | (src[i + 1] << 8)], true);
        }
      }
      for (; i < stop; i++, p += 2) v.setUint16(p, HEX16[src[i]], true);
      this.pos = p;
    }
  }

  /**
   * Base64 of src[start, end), encoded in runs of whole 3-byte groups that fit the slab's free
   * space (each run a short-lived string of at most the slab's size); the caller cuts a long
   * payload at multiples of 3 bytes.
   */
  base64(src: Buffer, start: number, end: number): void {
    let i = start;
    while (i < end) {
      this.room(4);
      const groups = (this.slab.length - this.pos) >> 2;
      const stop = Math.min(end, i + groups * 3);
      this.pos += this.slab.write(src.toString('base64', i, stop), this.pos, 'latin1');
      i = stop;
    }
  }
}
