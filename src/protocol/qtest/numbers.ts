/**
 * Number parsing exactly as QEMU's qemu_strtou64/qemu_strtoul/qemu_strtoi64/qemu_strtoi do it on
 * glibc with base 0 and no end pointer: optional leading whitespace, optional sign, `0x`/`0X` hex,
 * leading `0` octal, otherwise decimal; negative values wrap for the unsigned forms; the whole
 * token must be consumed; overflow is an error. Where QEMU would then assert, we report why.
 */

export type NumberKind = 'u64' | 'i64' | 'i32';

export type ParsedNumber = { ok: true; value: bigint } | { ok: false; reason: 'invalid' | 'range' };

const SPACE = new Set([' ', '\t', '\n', '\v', '\f', '\r']);

function digitValue(c: string): number {
  const code = c.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 122) return code - 87;
  if (code >= 65 && code <= 90) return code - 55;
  return 99;
}

export function parseQemuNumber(token: string, kind: NumberKind): ParsedNumber {
  let i = 0;
  while (i < token.length && SPACE.has(token[i])) i++;
  let negative = false;
  if (token[i] === '+' || token[i] === '-') {
    negative = token[i] === '-';
    i++;
  }
  let base = 10;
  if (token[i] === '0') {
    if ((token[i + 1] === 'x' || token[i + 1] === 'X') && digitValue(token[i + 2] ?? '') < 16) {
      base = 16;
      i += 2;
    } else base = 8;
  }
  const start = i;
  let magnitude = 0n;
  const big = BigInt(base);
  while (i < token.length && digitValue(token[i]) < base) {
    magnitude = magnitude * big + BigInt(digitValue(token[i]));
    i++;
  }
  if (i === start) return { ok: false, reason: 'invalid' };
  if (i !== token.length) return { ok: false, reason: 'invalid' };
  if (kind === 'u64') {
    if (magnitude > 0xffff_ffff_ffff_ffffn) return { ok: false, reason: 'range' };
    return { ok: true, value: negative ? BigInt.asUintN(64, -magnitude) : magnitude };
  }
  const value = negative ? -magnitude : magnitude;
  const bits = kind === 'i64' ? 64n : 32n;
  const min = -(1n << (bits - 1n));
  const max = (1n << (bits - 1n)) - 1n;
  if (value < min || value > max) return { ok: false, reason: 'range' };
  return { ok: true, value };
}
