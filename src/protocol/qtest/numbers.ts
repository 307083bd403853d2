/**
 * Number parsing exactly as QEMU's qemu_strtou64/qemu_strtoul/qemu_strtoi64/qemu_strtoi do it on
 * glibc with base 0 and no end pointer: optional leading whitespace, optional sign, `0x`/`0X` hex,
 * leading `0` octal, otherwise decimal; negative values wrap for the unsigned forms; the whole
 * token must be consumed; overflow is an error. Where QEMU would then assert, we report why.
 *
 * The parser reads bytes (a word of a received line, in place); the value lands in a
 * NumberResult the caller owns: `small` when it is exact in a double (|v| < 2^53), else `big`.
 * No string and, for values below 2^53, no bigint is made.
 */

export type NumberKind = 'u64' | 'i64' | 'i32';

export type ParsedNumber = { ok: true; value: bigint } | { ok: false; reason: 'invalid' | 'range' };

/** Where parseNumberAt leaves its value (reused by the caller: no allocation per parse). */
export interface NumberResult {
  /** The value when `big` is undefined (exact: |value| < 2^53). */
  small: number;
  big: bigint | undefined;
}

export const PARSE_OK = 0;
export const PARSE_INVALID = 1;
export const PARSE_RANGE = 2;

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;
const EXACT = 2 ** 53;

/** Value of a digit byte in any base up to 36; 99 for anything else (and undefined). */
const DIGIT = (() => {
  const t = new Uint8Array(256).fill(99);
  for (let c = 48; c <= 57; c++) t[c] = c - 48;
  for (let c = 97; c <= 122; c++) t[c] = c - 87;
  for (let c = 65; c <= 90; c++) t[c] = c - 55;
  return t;
})();

/** Leading digits accumulated in a double before switching to bigint: all exact (< 2^53). */
function exactDigits(base: number): number {
  return base === 16 ? 13 : base === 10 ? 15 : 17;
}

/**
 * Parse bytes [start, end) of `buf`. Returns PARSE_OK (value in `out`), PARSE_INVALID or
 * PARSE_RANGE.
 */
export function parseNumberAt(buf: Uint8Array, start: number, end: number, kind: NumberKind, out: NumberResult): number {
  let i = start;
  let c = i < end ? buf[i] : -1;
  // isspace() in the C locale: ' ', \t, \n, \v, \f, \r.
  while (c === 32 || (c >= 9 && c <= 13)) c = ++i < end ? buf[i] : -1;
  let negative = false;
  if (c === 43 || c === 45) {
    negative = c === 45;
    c = ++i < end ? buf[i] : -1;
  }
  let base = 10;
  if (c === 48) {
    const x = i + 1 < end ? buf[i + 1] : -1;
    if ((x === 120 || x === 88) && i + 2 < end && DIGIT[buf[i + 2]] < 16) {
      base = 16;
      i += 2;
    } else base = 8;
  }
  const digits = i;
  const exact = digits + exactDigits(base);
  let small = 0;
  let magnitude: bigint | undefined;
  for (; i < end; i++) {
    const d = DIGIT[buf[i]];
    if (d >= base) break;
    if (i < exact) small = small * base + d;
    else magnitude = (magnitude ?? BigInt(small)) * BigInt(base) + BigInt(d);
  }
  if (i === digits || i !== end) return PARSE_INVALID;
  if (magnitude !== undefined && magnitude < EXACT) {
    small = Number(magnitude);
    magnitude = undefined;
  }
  if (magnitude === undefined) {
    if (kind === 'i32') {
      const v = negative ? -small : small;
      if (v < I32_MIN || v > I32_MAX) return PARSE_RANGE;
      out.small = v;
      out.big = undefined;
      return PARSE_OK;
    }
    if (!negative || small === 0) {
      out.small = small;
      out.big = undefined;
    } else if (kind === 'i64') {
      out.small = -small;
      out.big = undefined;
    } else {
      out.big = BigInt.asUintN(64, -BigInt(small));
    }
    return PARSE_OK;
  }
  if (kind === 'u64') {
    if (magnitude > U64_MAX) return PARSE_RANGE;
    out.big = negative ? BigInt.asUintN(64, -magnitude) : magnitude;
    return PARSE_OK;
  }
  const value = negative ? -magnitude : magnitude;
  if (kind === 'i32' || value < I64_MIN || value > I64_MAX) return PARSE_RANGE;
  out.big = value;
  return PARSE_OK;
}

/** The value a successful parseNumberAt left in `r`, as a bigint. */
export function resultBigInt(r: NumberResult): bigint {
  return r.big ?? BigInt(r.small);
}

/** parseNumberAt over a string (latin1), for callers that have one. */
export function parseQemuNumber(token: string, kind: NumberKind): ParsedNumber {
  const bytes = Buffer.from(token, 'latin1');
  const r: NumberResult = { small: 0, big: undefined };
  const code = parseNumberAt(bytes, 0, bytes.length, kind, r);
  if (code === PARSE_OK) return { ok: true, value: resultBigInt(r) };
  return { ok: false, reason: code === PARSE_RANGE ? 'range' : 'invalid' };
}
