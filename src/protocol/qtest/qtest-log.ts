/**
 * The `-qtest-log` writer in QEMU's format: `[I 0.000000] OPENED`, `[R +s.us] words`,
 * `[S +s.us] reply`, `[I +s.us] CLOSED`, seconds since the connection opened with six decimals.
 * Writes synchronously to a file descriptor so that log order equals protocol order.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export class QtestLog {
  private openedAt = process.hrtime.bigint();
  private opened = false;

  private constructor(
    private readonly sink: (bytes: Buffer) => void,
    private readonly closeSink: () => void = () => {},
  ) {}

  /** A log whose bytes go to `write` (e.g. relayed to another process's stderr). */
  static toSink(write: (bytes: Buffer) => void): QtestLog {
    return new QtestLog(write);
  }

  /**
   * `none` → no log; undefined → stderr (QEMU's default); `/dev/fd/2` and `/dev/stderr` reuse
   * fd 2 (no truncation); anything else is opened like fopen(path, "w+").
   */
  static open(spec: string | undefined): QtestLog | undefined {
    if (spec === 'none') return undefined;
    if (spec === undefined || spec === '/dev/fd/2' || spec === '/dev/stderr') return new QtestLog((b) => writeSync(2, b));
    if (spec === '/dev/null') return undefined;
    const fd = openSync(spec, 'w+');
    return new QtestLog(
      (b) => writeSync(fd, b),
      () => closeSync(fd),
    );
  }

  private stamp(): string {
    const us = (process.hrtime.bigint() - this.openedAt) / 1000n;
    const s = us / 1_000_000n;
    return `${s}.${(us % 1_000_000n).toString().padStart(6, '0')}`;
  }

  private put(text: string): void {
    try {
      this.sink(Buffer.from(text, 'latin1'));
    } catch {
      // This is the log, so there is nowhere to report its own failure (EPIPE, ENOSPC, ...); a
      // failing log must never take the session down, so the line is dropped.
    }
  }

  connectionOpened(): void {
    this.openedAt = process.hrtime.bigint();
    this.opened = true;
    this.put(`[I ${this.stamp()}] OPENED\n`);
  }

  connectionClosed(): void {
    this.put(`[I +${this.stamp()}] CLOSED\n`);
    this.opened = false;
  }

  /** A received line, logged as QEMU logs the words of g_strsplit(line, " "). */
  received(line: string): void {
    this.put(`[R +${this.stamp()}]${line === '' ? '' : ' ' + line}\n`);
  }

  /** The `[S +s.us] ` prefix of a line sent as bytes (sentBytes follows with the line). */
  sentStamp(): void {
    if (this.opened) this.put(`[S +${this.stamp()}] `);
  }

  /** Bytes of a line sent (reply or IRQ), after sentStamp(); the last piece ends with its newline. */
  sentBytes(bytes: Buffer): void {
    if (!this.opened) return;
    try {
      this.sink(bytes);
    } catch {
      // As in put(): a failing log must never take the session down, so the bytes are dropped.
    }
  }

  /** A line sent (reply or IRQ), including its newline. */
  sent(text: string): void {
    if (this.opened) this.put(`[S +${this.stamp()}] ${text}`);
  }

  close(): void {
    try {
      this.closeSink();
    } catch {
      // Only fails if the fd is already closed (EBADF): nothing is left to release.
    }
  }
}
