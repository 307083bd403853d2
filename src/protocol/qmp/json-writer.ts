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

/** Whether a UTF-16 unit is printed as itself: printable ASCII but `"` and `\`. */
function plain(unit: number): boolean {
  return unit >= 0x20 && unit < 0x7f && unit !== 0x22 && unit !== 0x5c;
}

/**
 * Puts the JSON text of values, in order, as a series of strings of about `limit` characters
 * (a run of plain characters may end a piece past it by at most `limit`): a large message is
 * never one string. `text()` gives what was put since the last piece.
 */
export class JsonTextWriter {
  private acc = '';

  constructor(
    private readonly limit = Infinity,
    private readonly piece: (text: string) => void = () => {},
  ) {}

  put(text: string): void {
    this.acc += text;
    if (this.acc.length >= this.limit) {
      this.piece(this.acc);
      this.acc = '';
    }
  }

  /** What was put since the last piece, and starts over. */
  text(): string {
    const t = this.acc;
    this.acc = '';
    return t;
  }

  string(s: string): void {
    this.put('"');
    const n = s.length;
    let i = 0;
    while (i < n) {
      // A run of characters printed as themselves, in slices of at most `limit`.
      let j = i;
      const stop = Math.min(n, i + (this.limit === Infinity ? n : this.limit));
      while (j < stop && plain(s.charCodeAt(j))) j++;
      if (j > i) {
        this.put(i === 0 && j === n ? s : s.slice(i, j));
        i = j;
        continue;
      }
      const unit = s.charCodeAt(i);
      const short = SHORT_ESCAPES[unit];
      if (short !== undefined) {
        this.put(short);
      } else if (unit < 0xd800 || unit > 0xdfff) {
        this.put(hex4(unit >= 0x7f && isNoncharacter(unit) ? 0xfffd : unit));
      } else {
        const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          const cp = 0x10000 + ((unit - 0xd800) << 10) + (next - 0xdc00);
          this.put(isNoncharacter(cp) ? hex4(0xfffd) : hex4(unit) + hex4(next));
          i++;
        } else {
          this.put(hex4(0xfffd));
        }
      }
      i++;
    }
    this.put('"');
  }

  value(v: JsonValue): void {
    switch (typeof v) {
      case 'string':
        return this.string(v);
      case 'bigint':
        return this.put(v.toString());
      case 'number':
        return this.put(formatDouble(v));
      case 'boolean':
        return this.put(v ? 'true' : 'false');
      default:
        break;
    }
    if (v === null) return this.put('null');
    if (Array.isArray(v)) {
      this.put('[');
      for (let i = 0; i < v.length; i++) {
        if (i > 0) this.put(', ');
        this.value(v[i]);
      }
      return this.put(']');
    }
    let first = true;
    this.put('{');
    for (const key of qdictKeyOrder(Object.keys(v))) {
      const member = v[key];
      if (member === undefined) continue;
      if (!first) this.put(', ');
      first = false;
      this.string(key);
      this.put(': ');
      this.value(member);
    }
    this.put('}');
  }
}

export function writeJsonString(s: string): string {
  const w = new JsonTextWriter();
  w.string(s);
  return w.text();
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
  const w = new JsonTextWriter();
  w.value(v);
  return w.text();
}
