/**
 * Serialises a JsonValue byte-for-byte as QEMU 10.2.2's JSON writer does (compact mode).
 *
 * - separators `", "` and `": "`, no newlines; members in QDict order (qdict-order.ts);
 * - strings: `\"` `\\` `\b` `\f` `\n` `\r` `\t`; other C0 controls and everything from U+007F up as
 *   `\uXXXX` with upper-case hex (astral characters as a surrogate pair); `/` and `'` are literal;
 *   noncharacters and lone surrogates print as `\uFFFD`;
 * - bigint as a decimal integer; number as C's `%.17g` (so 0.1 is `0.10000000000000001`, 1e17 is
 *   `1e+17`, -0.0 is `-0`, infinities `inf`/`-inf` — QEMU emits those even though they are not JSON).
 * All verified against the oracle (protocol/qmp.md §Serialisation).
 */
import type { JsonValue } from './json-value.js';
import { qdictKeyOrder } from './qdict-order.js';
import { isNoncharacter } from './utf8.js';

const SHORT_ESCAPES: Record<number, string> = {
  0x22: '\\"',
  0x5c: '\\\\',
  0x08: '\\b',
  0x0c: '\\f',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
};

function hex4(unit: number): string {
  return '\\u' + unit.toString(16).toUpperCase().padStart(4, '0');
}

export function writeJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    const short = SHORT_ESCAPES[unit];
    if (short !== undefined) {
      out += short;
    } else if (unit >= 0x20 && unit < 0x7f) {
      out += s[i];
    } else if (unit < 0xd800 || unit > 0xdfff) {
      out += hex4(unit >= 0x7f && isNoncharacter(unit) ? 0xfffd : unit);
    } else {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((unit - 0xd800) << 10) + (next - 0xdc00);
        out += isNoncharacter(cp) ? hex4(0xfffd) : hex4(unit) + hex4(next);
        i++;
      } else {
        out += hex4(0xfffd);
      }
    }
  }
  return out + '"';
}

/** C's `printf("%.17g", x)`. */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mantissa, expText] = x.toExponential(16).split('e');
  const exp = Number(expText);
  if (exp < -4 || exp >= 17) {
    const digits = stripZeros(mantissa);
    const sign = exp < 0 ? '-' : '+';
    return `${digits}e${sign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return stripZeros(x.toFixed(16 - exp));
}

function stripZeros(s: string): string {
  if (!s.includes('.')) return s;
  return s.replace(/0+$/, '').replace(/\.$/, '');
}

export function writeJson(v: JsonValue): string {
  switch (typeof v) {
    case 'string':
      return writeJsonString(v);
    case 'bigint':
      return v.toString();
    case 'number':
      return formatDouble(v);
    case 'boolean':
      return v ? 'true' : 'false';
    default:
      break;
  }
  if (v === null) return 'null';
  if (Array.isArray(v)) return '[' + v.map(writeJson).join(', ') + ']';
  const parts: string[] = [];
  for (const key of qdictKeyOrder(Object.keys(v))) {
    const member = v[key];
    if (member === undefined) continue;
    parts.push(writeJsonString(key) + ': ' + writeJson(member));
  }
  return '{' + parts.join(', ') + '}';
}
