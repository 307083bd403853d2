/**
 * QEMU's "modified UTF-8" decoding rules, as one function with two uses: the JSON parser rejects
 * what it cannot decode ("invalid UTF-8 sequence in string"), the JSON writer prints U+FFFD for it.
 *
 * Rules (observed on QEMU 10.2.2, transcripts in protocol/qmp.md §JSON): C0 80 is U+0000; every other
 * overlong form, encoded surrogates, code points above U+10FFFF and the noncharacters (U+FDD0..U+FDEF
 * and U+xxFFFE/U+xxFFFF) are invalid. An invalid sequence counts as one unit: the lead byte plus the
 * continuation bytes that follow it (at most length-1 of them); a stray continuation byte, 0xFE or
 * 0xFF is a unit of its own.
 */

export function isNoncharacter(cp: number): boolean {
  return (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe;
}

/** One decoded unit: a code point, or -1 for an invalid sequence; `length` bytes were consumed. */
export interface Utf8Unit {
  codePoint: number;
  length: number;
}

function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead < 0xc0) return 0;
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  if (lead < 0xf8) return 4;
  if (lead < 0xfc) return 5;
  if (lead < 0xfe) return 6;
  return 0;
}

const MIN_FOR_LENGTH = [0, 0, 0x80, 0x800, 0x10000, 0x200000, 0x4000000];

export function decodeUnit(bytes: Uint8Array, start: number, end: number): Utf8Unit {
  const lead = bytes[start];
  const len = sequenceLength(lead);
  if (len === 1) return { codePoint: lead, length: 1 };
  if (len === 0) return { codePoint: -1, length: 1 };
  let cp = lead & (0x7f >> len);
  let i = 1;
  for (; i < len; i++) {
    const at = start + i;
    if (at >= end || (bytes[at] & 0xc0) !== 0x80) return { codePoint: -1, length: i };
    cp = cp * 64 + (bytes[at] & 0x3f);
  }
  if (len === 2 && cp === 0) return { codePoint: 0, length: 2 };
  if (cp < MIN_FOR_LENGTH[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || isNoncharacter(cp)) {
    return { codePoint: -1, length: len };
  }
  return { codePoint: cp, length: len };
}

/** Decode for display: invalid units become U+FFFD (what the writer prints for raw bytes). */
export function decodeLenient(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let out = '';
  for (let i = start; i < end; ) {
    const u = decodeUnit(bytes, i, end);
    out += u.codePoint < 0 ? '\ufffd' : String.fromCodePoint(u.codePoint);
    i += u.length;
  }
  return out;
}
