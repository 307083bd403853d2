/**
 * The push-down half of the QMP JSON reader: builds a value token by token and remembers the first
 * grammar error, which json-stream.ts reports when the message ends (`expecting value`, `missing :
 * in object pair`, `duplicate key`, ...), as QEMU's parse of the collected token list would.
 */
import { emptyJsonObject, hasKey, type JsonObject, type JsonValue } from './json-value.js';
import { scalarValue, Tok } from './json-token.js';

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

export class JsonParser {
  private frames: Frame[] = [];
  private expect = Expect.Value;
  /** The first grammar error of the message, if any (later tokens are then ignored). */
  failure: string | undefined;
  /** The complete top-level value, once there is one. */
  result: JsonValue | undefined;

  /** Start a new message. */
  reset(): void {
    this.frames = [];
    this.expect = Expect.Value;
    this.failure = undefined;
    this.result = undefined;
  }

  /** One token of the message; ignored after a failure. */
  token(kind: Tok, bytes: Uint8Array): void {
    if (this.failure === undefined) this.parse(kind, bytes);
  }

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
