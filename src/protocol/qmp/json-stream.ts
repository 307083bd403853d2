/**
 * Streaming JSON reader for QMP input: bytes in, complete top-level values or error texts out, with
 * QEMU 10.2.2's lexer, recovery and error messages (protocol/qmp.md §JSON input).
 *
 * Three layers, as in QEMU, but written as one pass:
 * - a byte-level lexer (QEMU's JSON dialect: also 'single-quoted' strings; whitespace is only
 *   space, TAB, CR, LF; any escape character is lexically fine; raw control characters and the bytes
 *   0xFE/0xFF are not). A lexical error produces `JSON parse error, stray '<token so far>'`, throws
 *   away the message being collected and skips input until a structural character (`{}[]:,`), a
 *   control character other than TAB, or 0xFE/0xFF — that character is then lexed normally;
 * - message framing by counting braces and brackets: a message ends when both counts are back to
 *   zero or either one goes negative (so a stray `}` is a message of its own);
 * - a push-down parser that builds the value token by token and remembers the first grammar error,
 *   which is reported (`JSON parse error, expecting value`, `... missing : in object pair`, ...)
 *   when the message ends — exactly what QEMU's parse of the collected token list reports.
 * Limits: nesting depth, bytes of tokens per message and tokens per message; exceeding one reports
 * `JSON nesting depth limit exceeded` / `JSON token size limit exceeded` / `JSON token count limit
 * exceeded` and starts a new message at the next token.
 */
import { emptyJsonObject, hasKey, type JsonObject, type JsonValue } from './json-value.js';
import { decodeLenient, decodeUnit, isNoncharacter } from './utf8.js';

export type JsonStreamItem = { kind: 'value'; value: JsonValue } | { kind: 'error'; message: string };

export interface JsonStreamLimits {
  /** Deepest nesting of objects and arrays (QEMU: 1024). */
  maxDepth: number;
  /** Sum of token bytes in one message (QEMU: 64 MiB). */
  maxMessageBytes: number;
  /** Tokens in one message (QEMU: 2 Mi). */
  maxTokens: number;
}

/** QEMU 10.2.2's own limits (json-streamer.c), for callers that want them. */
export const QEMU_JSON_LIMITS: Readonly<JsonStreamLimits> = Object.freeze({
  maxDepth: 1024,
  maxMessageBytes: 64 * 1024 * 1024,
  maxTokens: 2 * 1024 * 1024,
});

const enum Lex {
  Start,
  Recovery,
  Keyword,
  Neg,
  Zero,
  Nonzero,
  Dot,
  Mantissa,
  Exp,
  ExpSign,
  ExpDigits,
  DqString,
  DqEscape,
  SqString,
  SqEscape,
}

const enum Tok {
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

const CH = {
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

const STRUCTURAL: Record<number, Tok> = {
  [CH.lbrace]: Tok.LBrace,
  [CH.rbrace]: Tok.RBrace,
  [CH.lbracket]: Tok.LBracket,
  [CH.rbracket]: Tok.RBracket,
  [CH.colon]: Tok.Colon,
  [CH.comma]: Tok.Comma,
};

const isDigit = (b: number): boolean => b >= CH.zero && b <= CH.nine;
const isExpMark = (b: number): boolean => b === CH.lowerE || b === CH.upperE;
/** Bytes that may never appear inside a string token (the lexer rejects them). */
const isStringBreaker = (b: number): boolean => b < 0x20 || b >= 0xfe;
/** Where lexical error recovery stops (the byte is then lexed from the start state). */
const endsRecovery = (b: number): boolean =>
  (b < 0x20 && b !== CH.tab) || b >= 0xfe || STRUCTURAL[b] !== undefined;

/** Growable byte buffer for the token being lexed. */
class TokenBytes {
  private buf = new Uint8Array(64);
  length = 0;

  push(b: number): void {
    if (this.length === this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = b;
  }

  take(): Uint8Array {
    const out = this.buf.slice(0, this.length);
    this.length = 0;
    if (this.buf.length > 4096) this.buf = new Uint8Array(64);
    return out;
  }

  clear(): void {
    this.length = 0;
  }
}

// ---- token payload conversion (the parser's scalar rules) ----

type Scalar = { ok: true; value: JsonValue } | { ok: false; message: string };

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

function scalarValue(kind: Tok, bytes: Uint8Array): Scalar {
  if (kind === Tok.String) return stringValue(bytes);
  const text = Buffer.from(bytes).toString('latin1');
  if (kind === Tok.Integer) return { ok: true, value: integerValue(text) };
  if (kind === Tok.Float) return { ok: true, value: Number(text) };
  if (text === 'true') return { ok: true, value: true };
  if (text === 'false') return { ok: true, value: false };
  if (text === 'null') return { ok: true, value: null };
  return { ok: false, message: `invalid keyword '${text}'` };
}

// ---- push-down parser state ----

const enum Expect {
  /** A value (top level, array element, object key or object member value). */
  Value,
  /** Right after `[` or `{`: the closing bracket or a value. */
  ValueOrClose,
  /** After an object key: `:`. */
  Colon,
  /** After an element or member: `,` or the closing bracket. */
  SeparatorOrClose,
}

interface ArrayFrame {
  array: true;
  value: JsonValue[];
}

interface ObjectFrame {
  array: false;
  value: JsonObject;
  /** The key whose value is being parsed, or undefined while the key itself is parsed. */
  key: string | undefined;
}

type Frame = ArrayFrame | ObjectFrame;

export class JsonStream {
  private lex = Lex.Start;
  private readonly token = new TokenBytes();
  private tokenOverflow = false;

  // message framing
  private braces = 0;
  private brackets = 0;
  private messageBytes = 0;
  private messageTokens = 0;

  // parser
  private frames: Frame[] = [];
  private expect = Expect.Value;
  private failure: string | undefined;
  private result: JsonValue | undefined;

  private out: JsonStreamItem[] = [];

  constructor(private readonly limits: JsonStreamLimits) {}

  /** Feed bytes; returns every item completed by them, in order. */
  push(chunk: Uint8Array): JsonStreamItem[] {
    for (let i = 0; i < chunk.length; i++) this.step(chunk[i]);
    const items = this.out;
    this.out = [];
    return items;
  }

  /** Forget any partial token or message (end of input). */
  reset(): void {
    this.lex = Lex.Start;
    this.token.clear();
    this.tokenOverflow = false;
    this.resetMessage();
  }

  // ---- lexer ----

  private append(b: number): void {
    if (this.tokenOverflow) return;
    if (this.messageBytes + this.token.length + 1 > this.limits.maxMessageBytes) {
      this.tokenOverflow = true;
      this.token.clear();
      return;
    }
    this.token.push(b);
  }

  private step(b: number): void {
    switch (this.lex) {
      case Lex.Start:
        return this.start(b);
      case Lex.Recovery:
        if (endsRecovery(b)) {
          this.lex = Lex.Start;
          this.start(b);
        }
        return;
      case Lex.Keyword:
        if (b >= CH.lowerA && b <= CH.lowerZ) return this.append(b);
        return this.finishThenStart(Tok.Keyword, b);
      case Lex.Neg:
        if (b === CH.zero) return this.advance(Lex.Zero, b);
        if (isDigit(b)) return this.advance(Lex.Nonzero, b);
        return this.lexError(b);
      case Lex.Zero:
        if (b === CH.dot) return this.advance(Lex.Dot, b);
        if (isExpMark(b)) return this.advance(Lex.Exp, b);
        if (isDigit(b)) return this.lexError(b);
        return this.finishThenStart(Tok.Integer, b);
      case Lex.Nonzero:
        if (isDigit(b)) return this.append(b);
        if (b === CH.dot) return this.advance(Lex.Dot, b);
        if (isExpMark(b)) return this.advance(Lex.Exp, b);
        return this.finishThenStart(Tok.Integer, b);
      case Lex.Dot:
        return isDigit(b) ? this.advance(Lex.Mantissa, b) : this.lexError(b);
      case Lex.Mantissa:
        if (isDigit(b)) return this.append(b);
        if (isExpMark(b)) return this.advance(Lex.Exp, b);
        return this.finishThenStart(Tok.Float, b);
      case Lex.Exp:
        if (b === CH.plus || b === CH.minus) return this.advance(Lex.ExpSign, b);
        return isDigit(b) ? this.advance(Lex.ExpDigits, b) : this.lexError(b);
      case Lex.ExpSign:
        return isDigit(b) ? this.advance(Lex.ExpDigits, b) : this.lexError(b);
      case Lex.ExpDigits:
        if (isDigit(b)) return this.append(b);
        return this.finishThenStart(Tok.Float, b);
      case Lex.DqString:
      case Lex.SqString: {
        if (isStringBreaker(b)) return this.lexError(b);
        this.append(b);
        const quote = this.lex === Lex.DqString ? CH.dquote : CH.squote;
        if (b === quote) return this.finish(Tok.String);
        if (b === CH.backslash) this.lex = this.lex === Lex.DqString ? Lex.DqEscape : Lex.SqEscape;
        return;
      }
      case Lex.DqEscape:
      case Lex.SqEscape:
        if (isStringBreaker(b)) return this.lexError(b);
        return this.advance(this.lex === Lex.DqEscape ? Lex.DqString : Lex.SqString, b);
    }
  }

  private start(b: number): void {
    if (b === CH.space || b === CH.tab || b === CH.cr || b === CH.lf) return;
    const structural = STRUCTURAL[b];
    if (structural !== undefined) {
      this.append(b);
      return this.finish(structural);
    }
    if (b === CH.dquote) return this.advance(Lex.DqString, b);
    if (b === CH.squote) return this.advance(Lex.SqString, b);
    if (b === CH.minus) return this.advance(Lex.Neg, b);
    if (b === CH.zero) return this.advance(Lex.Zero, b);
    if (isDigit(b)) return this.advance(Lex.Nonzero, b);
    if (b >= CH.lowerA && b <= CH.lowerZ) return this.advance(Lex.Keyword, b);
    this.lexError(b);
  }

  private advance(next: Lex, b: number): void {
    this.append(b);
    this.lex = next;
  }

  private finishThenStart(kind: Tok, b: number): void {
    this.finish(kind);
    this.start(b);
  }

  private finish(kind: Tok): void {
    this.lex = Lex.Start;
    const overflow = this.tokenOverflow;
    this.tokenOverflow = false;
    const bytes = this.token.take();
    if (overflow) return this.limitError('JSON token size limit exceeded');
    this.onToken(kind, bytes);
  }

  private lexError(b: number): void {
    this.append(b);
    this.lex = Lex.Recovery;
    const overflow = this.tokenOverflow;
    this.tokenOverflow = false;
    const bytes = this.token.take();
    if (overflow) return this.limitError('JSON token size limit exceeded');
    // QEMU prints the token with %s: a NUL byte ends the text.
    const nul = bytes.indexOf(0);
    this.emit({ kind: 'error', message: `JSON parse error, stray '${decodeLenient(nul >= 0 ? bytes.subarray(0, nul) : bytes)}'` });
    this.resetMessage();
  }

  // ---- framing ----

  private onToken(kind: Tok, bytes: Uint8Array): void {
    this.messageBytes += bytes.length;
    this.messageTokens++;
    if (this.messageBytes > this.limits.maxMessageBytes) return this.limitError('JSON token size limit exceeded');
    if (this.messageTokens > this.limits.maxTokens) return this.limitError('JSON token count limit exceeded');

    if (kind === Tok.LBrace) this.braces++;
    else if (kind === Tok.RBrace) this.braces--;
    else if (kind === Tok.LBracket) this.brackets++;
    else if (kind === Tok.RBracket) this.brackets--;

    if (this.failure === undefined) this.parse(kind, bytes);

    if (this.braces < 0 || this.brackets < 0 || (this.braces === 0 && this.brackets === 0)) {
      if (this.failure !== undefined) {
        this.emit({ kind: 'error', message: `JSON parse error, ${this.failure}` });
      } else if (this.result !== undefined) {
        this.emit({ kind: 'value', value: this.result });
      } else {
        this.emit({ kind: 'error', message: 'JSON parse error, expecting value' });
      }
      return this.resetMessage();
    }
    if (this.braces + this.brackets > this.limits.maxDepth) this.limitError('JSON nesting depth limit exceeded');
  }

  private limitError(message: string): void {
    this.emit({ kind: 'error', message });
    this.resetMessage();
  }

  private resetMessage(): void {
    this.braces = 0;
    this.brackets = 0;
    this.messageBytes = 0;
    this.messageTokens = 0;
    this.frames = [];
    this.expect = Expect.Value;
    this.failure = undefined;
    this.result = undefined;
  }

  private emit(item: JsonStreamItem): void {
    this.out.push(item);
  }

  // ---- parser ----

  private fail(message: string): void {
    this.failure = message;
  }

  private parse(kind: Tok, bytes: Uint8Array): void {
    const top = this.frames[this.frames.length - 1];
    switch (this.expect) {
      case Expect.Colon:
        if (kind === Tok.Colon) this.expect = Expect.Value;
        else this.fail('missing : in object pair');
        return;
      case Expect.SeparatorOrClose:
        if (top.array) {
          if (kind === Tok.Comma) this.expect = Expect.Value;
          else if (kind === Tok.RBracket) this.closeFrame();
          else this.fail('expected separator in list');
        } else {
          if (kind === Tok.Comma) this.expect = Expect.Value;
          else if (kind === Tok.RBrace) this.closeFrame();
          else this.fail('expected separator in dict');
        }
        return;
      case Expect.ValueOrClose:
        if ((top.array && kind === Tok.RBracket) || (!top.array && kind === Tok.RBrace)) return this.closeFrame();
        return this.parseValueStart(kind, bytes);
      case Expect.Value:
        return this.parseValueStart(kind, bytes);
    }
  }

  private parseValueStart(kind: Tok, bytes: Uint8Array): void {
    switch (kind) {
      case Tok.LBrace:
        this.frames.push({ array: false, value: emptyJsonObject(), key: undefined });
        this.expect = Expect.ValueOrClose;
        return;
      case Tok.LBracket:
        this.frames.push({ array: true, value: [] });
        this.expect = Expect.ValueOrClose;
        return;
      case Tok.String:
      case Tok.Integer:
      case Tok.Float:
      case Tok.Keyword: {
        const scalar = scalarValue(kind, bytes);
        if (!scalar.ok) return this.fail(scalar.message);
        return this.completeValue(scalar.value);
      }
      default:
        return this.fail('expecting value');
    }
  }

  private closeFrame(): void {
    const frame = this.frames.pop() as Frame;
    this.completeValue(frame.value);
  }

  private completeValue(value: JsonValue): void {
    const top = this.frames[this.frames.length - 1];
    if (top === undefined) {
      this.result = value;
      return;
    }
    if (top.array) {
      top.value.push(value);
      this.expect = Expect.SeparatorOrClose;
      return;
    }
    if (top.key === undefined) {
      if (typeof value !== 'string') return this.fail('key is not a string in object');
      top.key = value;
      this.expect = Expect.Colon;
      return;
    }
    if (hasKey(top.value, top.key)) return this.fail('duplicate key');
    top.value[top.key] = value;
    top.key = undefined;
    this.expect = Expect.SeparatorOrClose;
  }
}
