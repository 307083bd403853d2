/**
 * Payload codecs of the qtest protocol with QEMU 10.2.2's exact leniency: the `write` hex decoder
 * (hex2nib: two characters skipped unconditionally, invalid digits count as -1) and glib's base64
 * (g_base64_encode, and g_base64_decode_inplace, which skips characters outside the alphabet and
 * leaves the undecoded tail of the text in the buffer). They read the payload as bytes, in place
 * in the received line. Pure.
 */
import type { Payload } from './payload.js';

/** hex2nib of every byte value (-1 for a non-digit). */
export const NIB = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let c = 48; c <= 57; c++) t[c] = c - 48;
  for (let c = 97; c <= 102; c++) t[c] = c - 87;
  for (let c = 65; c <= 70; c++) t[c] = c - 55;
  return t;
})();

/**
 * Bytes [offset, offset+out.length) of `write ADDR LEN DATA`, DATA being src[start, end): byte i
 * comes from DATA[2+2i], DATA[3+2i]; bytes with no two digits left are 0.
 */
export function decodeWriteHexInto(src: Uint8Array, start: number, end: number, offset: number, out: Uint8Array): void {
  const len = end - start;
  const n = out.length;
  // Byte i exists while 2i+4 <= len.
  const avail = Math.max(0, Math.min(n, Math.floor((len - 4) / 2) + 1 - offset));
  let p = start + 2 + offset * 2;
  for (let i = 0; i < avail; i++, p += 2) out[i] = ((NIB[src[p]] << 4) & 0xff) | (NIB[src[p + 1]] & 0xff);
  if (avail < n) out.fill(0, avail, n);
}

/** decodeWriteHexInto for a payload that may lie in several chunks (read a piece at a time). */
export function decodeWriteHexPayload(p: Payload, offset: number, out: Uint8Array): void {
  const n = out.length;
  const from = 2 + 2 * offset;
  let avail = 0;
  if (from < p.length) {
    const v = p.view(from, Math.min(p.length, from + 2 * n));
    avail = Math.min(n, v.length >> 1);
    for (let i = 0, q = 0; i < avail; i++, q += 2) out[i] = ((NIB[v[q]] << 4) & 0xff) | (NIB[v[q + 1]] & 0xff);
  }
  if (avail < n) out.fill(0, avail, n);
}

/** Bytes of `write ADDR LEN DATA` (DATA as a latin1 string). */
export function decodeWriteHex(data: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const src = Buffer.from(data, 'latin1');
  decodeWriteHexInto(src, 0, src.length, 0, out);
  return out;
}

/** Base64 alphabet rank of every byte value ('=' counts 0), -1 outside it. */
export const B64_RANK = (() => {
  const table = new Int16Array(256).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  table['='.charCodeAt(0)] = 0;
  return table;
})();
const EQ = 61;

/**
 * src[start, end) is canonical base64: only the alphabet, a length that is a multiple of 4, and
 * `=` only as one or two final padding characters. Such text decodes identically by glib and by
 * Node, and independently per group of 4 characters.
 */
export function isCanonicalBase64(src: Uint8Array, start: number, end: number): boolean {
  const len = end - start;
  if (len % 4 !== 0) return false;
  let stop = end;
  if (len >= 4 && src[end - 1] === EQ) stop = src[end - 2] === EQ ? end - 2 : end - 1;
  return inAlphabet(src, start, stop);
}

/** 1 for every byte value that is not a base64 alphabet character (`=` included), else 0. */
const NOT_B64 = (() => {
  const t = new Uint8Array(256).fill(1);
  for (let c = 0; c < 256; c++) if (B64_RANK[c] >= 0 && c !== EQ) t[c] = 0;
  return t;
})();

/**
 * Every byte of src[start, end) is a base64 alphabet character (not `=`). Sixteen table lookups
 * OR-ed per test (no branch per byte): about half the CPU of a test per byte on a 1 MiB payload.
 */
function inAlphabet(src: Uint8Array, start: number, end: number): boolean {
  const t = NOT_B64;
  let i = start;
  for (; i + 16 <= end; i += 16) {
    const bad =
      t[src[i]] | t[src[i + 1]] | t[src[i + 2]] | t[src[i + 3]] | t[src[i + 4]] | t[src[i + 5]] | t[src[i + 6]] | t[src[i + 7]] |
      t[src[i + 8]] | t[src[i + 9]] | t[src[i + 10]] | t[src[i + 11]] | t[src[i + 12]] | t[src[i + 13]] | t[src[i + 14]] | t[src[i + 15]];
    if (bad) return false;
  }
  for (; i < end; i++) if (t[src[i]]) return false;
  return true;
}

/** isCanonicalBase64 of a payload that may lie in several chunks. */
export function isCanonicalBase64Payload(p: Payload): boolean {
  const len = p.length;
  if (len % 4 !== 0) return false;
  let stop = len;
  if (len >= 4 && p.byteAt(len - 1) === EQ) stop = p.byteAt(len - 2) === EQ ? len - 2 : len - 1;
  return p.every(0, stop, inAlphabet);
}

/** decodeBase64InPlace of a payload that may lie in several chunks (copied once into the result). */
export function decodeBase64Payload(p: Payload): { decodedLength: number; buffer: Uint8Array } {
  const buffer = new Uint8Array(p.length + 1);
  p.copy(0, p.length, buffer, 0);
  return { decodedLength: decodeInPlace(buffer, p.length), buffer };
}

/**
 * glib's in-place base64 decode of src[start, end). Returns the decoded length and the buffer as
 * it stands afterwards: decoded bytes, then the untouched rest of the text, then a NUL.
 */
export function decodeBase64InPlace(
  src: Uint8Array | string,
  start = 0,
  end = typeof src === 'string' ? src.length : src.length,
): { decodedLength: number; buffer: Uint8Array } {
  const bytes = typeof src === 'string' ? Buffer.from(src, 'latin1') : src;
  const len = end - start;
  const buffer = new Uint8Array(len + 1);
  buffer.set(bytes.subarray(start, end));
  return { decodedLength: decodeInPlace(buffer, len), buffer };
}

/** glib's in-place decode of buffer[0, len): returns the decoded length. */
function decodeInPlace(buffer: Uint8Array, len: number): number {
  let out = 0;
  let v = 0;
  let n = 0;
  let last0 = 0;
  let last1: number;
  for (let i = 0; i < len; i++) {
    const c = buffer[i];
    const rank = B64_RANK[c];
    if (rank < 0) continue;
    last1 = last0;
    last0 = c;
    v = ((v << 6) | rank) & 0xffffff;
    if (++n === 4) {
      buffer[out++] = (v >> 16) & 0xff;
      if (last1 !== EQ) buffer[out++] = (v >> 8) & 0xff;
      if (last0 !== EQ) buffer[out++] = v & 0xff;
      n = 0;
    }
  }
  return out;
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
}
