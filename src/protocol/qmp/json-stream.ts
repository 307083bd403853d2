/**
 * Streaming JSON reader for QMP input: bytes in, complete top-level values or error texts out, with
 * QEMU 10.2.2's lexer, recovery and error messages (protocol/qmp.md §JSON input).
 *
 * Three layers, as in QEMU, in one pass (the lexer and framing here, the parser in json-parser.ts,
 * token values in json-token.ts):
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
import type { JsonValue } from './json-value.js';
import { JsonParser } from './json-parser.js';
import { CH, isDigit, Tok } from './json-token.js';
import { decodeLenient } from './utf8.js';

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

const STRUCTURAL: Record<number, Tok> = {
  [CH.lbrace]: Tok.LBrace,
  [CH.rbrace]: Tok.RBrace,
  [CH.lbracket]: Tok.LBracket,
  [CH.rbracket]: Tok.RBracket,
  [CH.colon]: Tok.Colon,
  [CH.comma]: Tok.Comma,
};

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

export class JsonStream {
  private lex = Lex.Start;
  private readonly token = new TokenBytes();
  private tokenOverflow = false;

  // message framing
  private braces = 0;
  private brackets = 0;
  private messageBytes = 0;
  private messageTokens = 0;

  private readonly parser = new JsonParser();

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

    this.parser.token(kind, bytes);

    if (this.braces < 0 || this.brackets < 0 || (this.braces === 0 && this.brackets === 0)) {
      const { failure, result } = this.parser;
      if (failure !== undefined) {
        this.emit({ kind: 'error', message: `JSON parse error, ${failure}` });
      } else if (result !== undefined) {
        this.emit({ kind: 'value', value: result });
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
    this.parser.reset();
  }

  private emit(item: JsonStreamItem): void {
    this.out.push(item);
  }
}
