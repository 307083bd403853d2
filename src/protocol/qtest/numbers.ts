/**
 * Number parsing exactly as QEMU's qemu_strtou64/qemu_strtoul/qemu_strtoi64/qemu_strtoi do it on
 * glibc with base 0 and no end pointer: optional leading whitespace, optional sign, `0x`/`0X` hex,
 * leading `0` octal, otherwise decimal; negative values wrap for the unsigned forms; the whole
 * token must be consumed; overflow is an error. Where QEMU would then assert, we report why.
 */

export type NumberKind = 'u64' | 'i64' | 'i32';

export type ParsedNumber = { ok: true; value: bigint } | { ok: false; reason: 'invalid' | 'range' };

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const I32_MIN = -(1n << 31n);
const I32_MAX = (1n << 31n) - 1n;
const INVALID: ParsedNumber = Object.freeze({ ok: false, reason: 'invalid' }) as ParsedNumber;
const RANGE: ParsedNumber = Object.freeze({ ok: false, reason: 'range' }) as ParsedNumber;

/** Value of a digit character code in any base up to 36; 99 for anything else (and NaN). */
function digitValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 122) return code - 87;
  if (code >= 65 && code <= 90) return code - 55;
  return 99;
}

/** Leading digits accumulated in a double before switching to bigint: all exact (< 2^53). */
function exactDigits(base: number): number {
  return base === 16 ? 13 : base === 10 ? 15 : 17;
}

export function parseQemuNumber(token: string, kind: NumberKind): ParsedNumber {
  const len = token.length;
  let i = 0;
  let c = token.charCodeAt(0); // NaN past the end
  // isspace() in the C locale: ' ', \t, \n, \v, \f, \r.
  while (c === 32 || (c >= 9 && c <= 13)) c = token.charCodeAt(++i);
  let negative = false;
  if (c === 43 || c === 45) {
    negative = c === 45;
    c = token.charCodeAt(++i);
  }
  let base = 10;
  if (c === 48) {
    const x = token.charCodeAt(i + 1);
    if ((x === 120 || x === 88) && digitValue(token.charCodeAt(i + 2)) < 16) {
      base = 16;
      i += 2;
    } else base = 8;
  }
  const start = i;
  const exact = start + exactDigits(base);
  let small = 0;
  let magnitude: bigint | undefined;
  for (; i < len; i++) {
    const d = digitValue(token.charCodeAt(i));
    if (d >= base) break;
    if (i < exact) small = small * base + d;
    else magnitude = (magnitude ?? BigInt(small)) * BigInt(base) + BigInt(d);
  }
  if (i === start || i !== len) return INVALID;
  const m = magnitude ?? BigInt(small);
  if (kind === 'u64') {
    if (m > U64_MAX) return RANGE;
    return { ok: true, value: negative ? BigInt.asUintN(64, -m) : m };
  }
  const value = negative ? -m : m;
  if (kind === 'i64' ? value < I64_MIN || value > I64_MAX : value < I32_MIN || value > I32_MAX) return RANGE;
  return { ok: true, value };
}
