import t from 'tap';
import { decodeBase64InPlace, decodeWriteHex, encodeBase64, isCanonicalBase64 } from '../../../src/protocol/qtest/codecs.js';

import { bytesHex as hex } from '../../helpers/bytes.js';

t.test('write payload decoding as QEMU 10.2.2 (qtest-oddities.txt)', async (t) => {
  t.equal(hex(decodeWriteHex('0x1122', 8)), '1122000000000000', 'missing bytes are zero');
  t.equal(hex(decodeWriteHex('0x123', 4)), '12000000', 'odd trailing nibble dropped');
  t.equal(hex(decodeWriteHex('1122', 2)), '2200', 'first two characters skipped unconditionally');
  t.equal(hex(decodeWriteHex('0xzz11', 2)), 'ff11', 'invalid digits: zz → ff');
  t.equal(hex(decodeWriteHex('0x1z', 1)), 'ff', '1z → ff');
  t.equal(hex(decodeWriteHex('0xz1', 1)), 'f1', 'z1 → f1');
  t.equal(hex(decodeWriteHex('0x11223344', 2)), '1122', 'extra digits ignored');
  t.equal(hex(decodeWriteHex('0xAbCd', 2)), 'abcd', 'uppercase accepted');
});

t.test('glib base64 in-place decode', async (t) => {
  const r = decodeBase64InPlace('QUJD');
  t.equal(r.decodedLength, 3);
  // Decoded ABC, then the untouched 4th character of the text, then NUL (qtest-b64write-short.txt).
  t.equal(hex(r.buffer.subarray(0, 5)), '4142434400');
  t.equal(decodeBase64InPlace('QUI=').decodedLength, 2);
  t.equal(decodeBase64InPlace('QQ==').decodedLength, 1);
  t.equal(decodeBase64InPlace('Q U J D').decodedLength, 3, 'characters outside the alphabet are skipped');
  t.equal(encodeBase64(new Uint8Array([0x78, 0x56, 0x34, 0x12])), 'eFY0Eg==');
  t.equal(encodeBase64(new Uint8Array(0)), '');
});

t.test('isCanonicalBase64: any stray byte at any position of a canonical text is found', (t) => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const text = Buffer.from(Buffer.alloc(60, 0xa5).toString('base64'));
  t.equal(isCanonicalBase64(text, 0, text.length), true);
  let wrong = 0;
  for (let c = 0; c < 256; c++) {
    for (let at = 0; at < text.length; at++) {
      const bytes = Buffer.from(text);
      bytes[at] = c;
      // a final `=` is padding
      const ok = alphabet.includes(String.fromCharCode(c)) || (c === 0x3d && at === text.length - 1);
      if (isCanonicalBase64(bytes, 0, bytes.length) !== ok) wrong++;
    }
  }
  t.equal(wrong, 0, 'every byte value at every position of an 80-character text');
  const padded = Buffer.from(Buffer.alloc(31, 1).toString('base64'));
  t.equal(isCanonicalBase64(padded, 0, padded.length), true, 'one or two final `=` are padding');
  t.equal(isCanonicalBase64(padded, 1, padded.length), false, 'a length that is not a multiple of 4');
  t.end();
});
