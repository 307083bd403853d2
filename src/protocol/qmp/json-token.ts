/**
 * QMP JSON tokens: the kinds the lexer (json-stream.ts) produces, the byte constants it and the
 * scalar rules share, and the conversion of a scalar token's bytes to a value with QEMU 10.2.2's
 * rules and error texts (integers that fit int64/uint64 stay exact, `\u` escapes, UTF-8 checks).
 */
import type { JsonValue } from './json-value.js';
import { decodeLenient, decodeUnit, isNoncharacter } from './utf8.js';

export const enum Tok {
  LBrace,
  RBrace,
  LBracket,
  RBracket,
  Colon,
  Comma,
  String,
  Integer,
  Float,
  Keyword,
}

export const CH = {
  tab: 0x09,
  lf: 0x0a,
  cr: 0x0d,
  space: 0x20,
  dquote: 0x22,
  squote: 0x27,
  comma: 0x2c,
  minus: 0x2d,
  plus: 0x2b,
  dot: 0x2e,
  zero: 0x30,
  nine: 0x39,
  colon: 0x3a,
  upperE: 0x45,
  lbracket: 0x5b,
  backslash: 0x5c,
  rbracket: 0x5d,
  lowerA: 0x61,
  lowerE: 0x65,
  lowerZ: 0x7a,
  lbrace: 0x7b,
  rbrace: 0x7d,
} as const;

export const isDigit = (b: number): boolean => b >= CH.zero && b <= CH.nine;

export type Scalar = { ok: true; value: JsonValue } | { ok: false; message: string };

const INT64_MIN = -(1n << 63n);
const UINT64_MAX = (1n << 64n) - 1n;

function integerValue(text: string): JsonValue {
  const n = BigInt(text);
  return n >= INT64_MIN && n <= UINT64_MAX ? n : Number(text);
}

function hexValue(bytes: Uint8Array, at: number, end: number): number {
  if (at + 4 > end) return -1;
  let v = 0;
  for (let i = at; i < at + 4; i++) {
    const b = bytes[i];
    const d = isDigit(b) ? b - CH.zero : b >= 0x61 && b <= 0x66 ? b - 0x57 : b >= 0x41 && b <= 0x46 ? b - 0x37 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

const SIMPLE_ESCAPES: Record<number, string> = {
  [CH.dquote]: '"',
  [CH.squote]: "'",
  [CH.backslash]: '\\',
  0x2f: '/',
  0x62: '\b',
  0x66: '\f',
  0x6e: '\n',
  0x72: '\r',
  0x74: '\t',
};

/** Decode a string token (quotes included) the way QEMU's parser does. */
function stringValue(bytes: Uint8Array): Scalar {
  const end = bytes.length - 1;
  let out = '';
  for (let i = 1; i < end; ) {
    const b = bytes[i];
    if (b === CH.backslash) {
      const esc = bytes[i + 1];
      const simple = SIMPLE_ESCAPES[esc];
      if (simple !== undefined) {
        out += simple;
        i += 2;
        continue;
      }
      if (esc !== 0x75) return { ok: false, message: 'invalid escape sequence in string' };
      const bad: Scalar = {
        ok: false,
        message: `${decodeLenient(bytes, i, Math.min(i + 6, bytes.length))} is not a valid Unicode character`,
      };
      let cp = hexValue(bytes, i + 2, bytes.length);
      if (cp < 0 || (cp >= 0xdc00 && cp <= 0xdfff)) return bad;
      let consumed = 6;
      if (cp >= 0xd800 && cp <= 0xdbff) {
        const low = bytes[i + 6] === CH.backslash && bytes[i + 7] === 0x75 ? hexValue(bytes, i + 8, bytes.length) : -1;
        if (low < 0xdc00 || low > 0xdfff) return bad;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        consumed = 12;
      }
      if (isNoncharacter(cp)) return bad;
      out += String.fromCodePoint(cp);
      i += consumed;
      continue;
    }
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    const unit = decodeUnit(bytes, i, end);
    if (unit.codePoint < 0) return { ok: false, message: 'invalid UTF-8 sequence in string' };
    out += String.fromCodePoint(unit.codePoint);
    i += unit.length;
  }
  return { ok: true, value: out };
}

/** The value of a String, Integer, Float or Keyword token, or the parser's error text. */
export function scalarValue(kind: Tok, bytes: Uint8Array): Scalar {
  if (kind === Tok.String) return stringValue(bytes);
  const text = Buffer.from(bytes).toString('latin1');
  if (kind === Tok.Integer) return { ok: true, value: integerValue(text) };
  if (kind === Tok.Float) return { ok: true, value: Number(text) };
  if (text === 'true') return { ok: true, value: true };
  if (text === 'false') return { ok: true, value: false };
  if (text === 'null') return { ok: true, value: null };
  return { ok: false, message: `invalid keyword '${text}'` };
}
