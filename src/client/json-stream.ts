/**
 * Streaming JSON framing for QMP (protocol/qmp.md §1): finds complete top-level JSON values in
 * a byte stream split anywhere (inside strings, escapes or multi-byte UTF-8 characters), several
 * per chunk, separated by any whitespace (QEMU ends each with CRLF). Each value is parsed with
 * JSON.parse; a parse error is returned as a value and the framer resynchronises after it. Pure.
 */
import { StringDecoder } from 'node:string_decoder';

export type JsonFrame = { ok: true; value: unknown; text: string } | { ok: false; error: string; text: string };

export class JsonStreamFramer {
  private readonly decoder = new StringDecoder('utf8');
  private buf = '';
  /** Scan position inside buf, and the scanner state there. */
  private pos = 0;
  private start = -1;
  private depth = 0;
  private inString = false;
  private escape = false;

  constructor(private readonly maxValueChars = 64 * 1024 * 1024) {}

  push(chunk: string | Uint8Array): JsonFrame[] {
    this.buf +=
      typeof chunk === 'string'
        ? chunk
        : this.decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    const out: JsonFrame[] = [];
    const s = this.buf;
    let i = this.pos;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (this.start < 0) {
        // between values: skip whitespace; anything else starts a value
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
        this.start = i;
        if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
          this.depth = 1;
          continue;
        }
        if (c === 0x22 /* " */) {
          this.inString = true;
          this.depth = 0;
          continue;
        }
        // a scalar or garbage: runs to the next whitespace or bracket
        this.depth = 0;
        continue;
      }
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === 0x5c /* \ */) this.escape = true;
        else if (c === 0x22) {
          this.inString = false;
          if (this.depth === 0) out.push(this.take(s, i + 1));
        }
        continue;
      }
      if (this.depth === 0) {
        // inside a top-level scalar
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x7b || c === 0x5b || c === 0x22) {
          out.push(this.take(s, i));
          i--; // rescan this character as the start of what follows
        }
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        if (--this.depth === 0) out.push(this.take(s, i + 1));
      }
    }
    this.pos = i;
    if (this.start < 0) {
      this.buf = '';
      this.pos = 0;
    } else if (this.start > 0) {
      this.buf = this.buf.slice(this.start);
      this.pos -= this.start;
      this.start = 0;
    }
    if (this.buf.length > this.maxValueChars) {
      out.push({
        ok: false,
        error: `JSON value longer than ${this.maxValueChars} characters`,
        text: this.buf.slice(0, 80),
      });
      this.reset();
    }
    return out;
  }

  private take(s: string, end: number): JsonFrame {
    const text = s.slice(this.start, end);
    this.start = -1;
    this.depth = 0;
    this.inString = false;
    this.escape = false;
    try {
      return { ok: true, value: JSON.parse(text), text };
    } catch (e) {
      return { ok: false, error: (e as Error).message, text };
    }
  }

  private reset(): void {
    this.buf = '';
    this.pos = 0;
    this.start = -1;
    this.depth = 0;
    this.inString = false;
    this.escape = false;
  }
}
