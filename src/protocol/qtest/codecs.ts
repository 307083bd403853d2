/**
 * Payload codecs of the qtest protocol with QEMU 10.2.2's exact leniency: the `write` hex decoder
 * (hex2nib: two characters skipped unconditionally, invalid digits count as -1) and glib's base64
 * (g_base64_encode, and g_base64_decode_inplace, which skips characters outside the alphabet and
 * leaves the undecoded tail of the text in the buffer). Pure.
 */

function hex2nib(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  if (code >= 65 && code <= 70) return code - 55;
  return -1;
}

/** Bytes of `write ADDR LEN DATA`: byte i from DATA[2+2i], DATA[3+2i]; missing bytes are 0. */
export function decodeWriteHex(data: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length && i * 2 + 4 <= data.length; i++) {
    const hi = hex2nib(data.charCodeAt(i * 2 + 2));
    const lo = hex2nib(data.charCodeAt(i * 2 + 3));
    out[i] = ((hi << 4) & 0xff) | (lo & 0xff);
  }
  return out;
}

const CANONICAL_B64 = /^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const B64_RANK = (() => {
  const table = new Int16Array(256).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  table['='.charCodeAt(0)] = 0;
  return table;
})();

/**
 * glib's in-place base64 decode of `text` (latin1 string). Returns the decoded length and the
 * buffer as it stands afterwards: decoded bytes, then the untouched rest of the text, then a NUL.
 */
export function decodeBase64InPlace(text: string): { decodedLength: number; buffer: Uint8Array } {
  if (text.length % 4 === 0 && CANONICAL_B64.test(text)) {
    // Canonical text: glib and Node decode it identically, and natively is much faster. The
    // buffer holds the text (latin1), then its decoded bytes are written over the front.
    const buffer = Buffer.allocUnsafe(text.length + 1);
    buffer.write(text, 0, text.length, 'latin1');
    buffer[text.length] = 0;
    const decodedLength = buffer.write(text, 0, text.length, 'base64');
    return { decodedLength, buffer };
  }
  const buffer = new Uint8Array(text.length + 1);
  for (let i = 0; i < text.length; i++) buffer[i] = text.charCodeAt(i) & 0xff;
  let out = 0;
  let v = 0;
  let n = 0;
  let last0 = 0;
  let last1: number;
  for (let i = 0; i < text.length; i++) {
    const c = buffer[i];
    const rank = B64_RANK[c];
    if (rank < 0) continue;
    last1 = last0;
    last0 = c;
    v = ((v << 6) | rank) & 0xffffff;
    if (++n === 4) {
      buffer[out++] = (v >> 16) & 0xff;
      if (last1 !== 61) buffer[out++] = (v >> 8) & 0xff;
      if (last0 !== 61) buffer[out++] = v & 0xff;
      n = 0;
    }
  }
  return { decodedLength: out, buffer };
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
}
