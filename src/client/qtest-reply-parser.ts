/**
 * Splits the qtest server's byte stream into messages: reply lines and asynchronous
 * `IRQ raise|lower N` lines (protocol/qtest.md#framing, docs/libqtest.md#reply-parsing). Accepts chunks split anywhere; keeps
 * the partial line. The protocol is ASCII, so bytes map 1:1 to characters (latin1). Pure; does
 * not interpret reply words.
 */

export type QtestMessage =
  | { kind: 'reply'; line: string }
  | { kind: 'irq'; n: number; level: boolean; line: string }
  /** A line starting with `IRQ` that is not `IRQ raise|lower <decimal>` (libqtest would assert). */
  | { kind: 'bad-irq'; line: string };

const IRQ_RE = /^IRQ (raise|lower) (\d+)$/;

/** Classify one complete line (without its '\n'). */
export function classifyLine(line: string): QtestMessage {
  if (line === 'IRQ' || line.startsWith('IRQ ')) {
    const m = IRQ_RE.exec(line);
    if (!m) return { kind: 'bad-irq', line };
    return { kind: 'irq', n: Number(m[2]), level: m[1] === 'raise', line };
  }
  return { kind: 'reply', line };
}

function chunkText(chunk: string | Uint8Array): string {
  if (typeof chunk === 'string') return chunk;
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
}

export class QtestReplyParser {
  private partial = '';

  /** Feed a chunk; returns the messages completed by it, in order. */
  push(chunk: string | Uint8Array): QtestMessage[] {
    const text = this.partial + chunkText(chunk);
    const out: QtestMessage[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl >= 0; nl = text.indexOf('\n', start)) {
      out.push(classifyLine(text.slice(start, nl)));
      start = nl + 1;
    }
    this.partial = text.slice(start);
    return out;
  }

  /** Bytes of an unterminated line still buffered. */
  get pendingLength(): number {
    return this.partial.length;
  }
}
