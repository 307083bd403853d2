/**
 * QtestEndpoint: the qtest server for one connection. Splits input into lines exactly as QEMU
 * 10.2.2 does (LF only, CR kept, single-space tokens), runs each line through the command table,
 * writes IRQ lines before the reply they belong to, logs in QEMU's -qtest-log format, and is the
 * one error boundary of the protocol: anything thrown becomes one `FAIL …` line. Applies
 * backpressure: while the peer is not reading replies, no further requests are processed.
 */
import { LimitError } from '../../base/limits.js';
import type { Logger } from '../../base/log.js';
import type { Endpoint, Link } from '../link.js';
import { QemuWouldAbort, runQtestCommand } from './commands.js';
import type { QtestSessionState } from './commands.js';
import type { QtestLog } from './qtest-log.js';
import type { QtestTarget } from './target.js';

export interface QtestEndpointOptions {
  target: QtestTarget;
  link: Link;
  log?: QtestLog;
  logger?: Logger;
  maxLineBytes: number;
  maxTransferBytes: number;
  /** Called once per processed line with the reply kind (metrics). */
  onRequest?: (kind: 'ok' | 'fail' | 'err') => void;
  /**
   * Interception state that outlives one connection (QEMU keeps the intercepted device for the
   * life of the process; a reconnecting client only gets its IRQ levels reset). The endpoint
   * takes it over: IRQ lines go to this connection from now on.
   */
  shared?: QtestSessionState;
}

const NL = 0x0a;

export class QtestEndpoint implements Endpoint {
  /** Received chunks not yet scanned (the head is scanned from `headOffset`). */
  private queue: Buffer[] = [];
  private headOffset = 0;
  /** The start of the current line, when it spans chunks. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private blocked = false;
  private discardingLongLine = false;
  private closed = false;
  /** The peer closed: remaining input is still processed, output is dropped. */
  private peerGone = false;
  private readonly state: QtestSessionState;

  constructor(private readonly opts: QtestEndpointOptions) {
    this.state = opts.shared ?? {
      target: opts.target,
      emit: () => {},
      irqLevels: new Map(),
      logNote: () => {},
      maxTransferBytes: opts.maxTransferBytes,
    };
    this.state.emit = (line) => this.send(line + '\n');
    this.state.logNote = (text) => opts.log?.sent(text);
    this.state.irqLevels.clear();
    if (this.state.partialLine) {
      // QEMU's input buffer outlives a connection: an unfinished line continues on the next one.
      this.partial = [this.state.partialLine];
      this.partialBytes = this.state.partialLine.length;
      this.state.partialLine = undefined;
    }
    opts.log?.connectionOpened();
  }

  /** The interception state this endpoint uses (to hand to the next connection). */
  get sharedState(): QtestSessionState {
    return this.state;
  }

  input(chunk: Buffer): void {
    if (this.closed || chunk.length === 0) return;
    this.queue.push(chunk);
    this.pump();
  }

  drained(): void {
    this.blocked = false;
    this.pump();
  }

  end(): void {
    if (this.closed) return;
    // Like QEMU, run what was received but not yet processed (its replies go nowhere), and keep
    // an unfinished last line for the next connection.
    this.peerGone = true;
    this.blocked = false;
    this.pump();
    this.closed = true;
    this.state.partialLine = this.partialBytes ? Buffer.concat(this.partial, this.partialBytes) : undefined;
    this.opts.log?.connectionClosed();
  }

  private send(text: string): void {
    this.opts.log?.sent(text);
    if (this.peerGone) return;
    if (!this.opts.link.write(text)) this.blocked = true;
  }

  /** Process complete lines until input runs out or the peer stops reading. */
  private pump(): void {
    while (!this.blocked && !this.closed && this.queue.length > 0) {
      const head = this.queue[0];
      const nl = head.indexOf(NL, this.headOffset);
      if (nl < 0) {
        this.keepPartial(head.subarray(this.headOffset));
        this.queue.shift();
        this.headOffset = 0;
        continue;
      }
      let line: string | undefined;
      if (this.discardingLongLine) {
        this.discardingLongLine = false;
      } else if (this.partialBytes === 0) {
        if (nl - this.headOffset > this.opts.maxLineBytes) this.reply(`FAIL line longer than ${this.opts.maxLineBytes} bytes`, 'fail');
        else line = head.toString('latin1', this.headOffset, nl);
      } else {
        const total = this.partialBytes + nl - this.headOffset;
        if (total > this.opts.maxLineBytes) this.reply(`FAIL line longer than ${this.opts.maxLineBytes} bytes`, 'fail');
        else line = Buffer.concat([...this.partial, head.subarray(this.headOffset, nl)], total).toString('latin1');
        this.partial = [];
        this.partialBytes = 0;
      }
      this.headOffset = nl + 1;
      if (this.headOffset >= head.length) {
        this.queue.shift();
        this.headOffset = 0;
      }
      if (line !== undefined) this.processLine(line);
    }
    if (this.peerGone) return;
    if (this.blocked) this.opts.link.pause();
    else this.opts.link.resume();
  }

  /** Keep bytes of a line whose newline has not arrived; enforce the line limit. */
  private keepPartial(bytes: Buffer): void {
    if (this.discardingLongLine || bytes.length === 0) return;
    this.partial.push(bytes);
    this.partialBytes += bytes.length;
    if (this.partialBytes > this.opts.maxLineBytes) {
      this.partial = [];
      this.partialBytes = 0;
      this.discardingLongLine = true;
      this.reply(`FAIL line longer than ${this.opts.maxLineBytes} bytes; discarded up to the next newline`, 'fail');
    }
  }

  private reply(line: string, kind: 'ok' | 'fail' | 'err'): void {
    this.opts.onRequest?.(kind);
    this.send(line + '\n');
  }

  private processLine(line: string): void {
    this.opts.log?.received(line);
    // QEMU 10.2.2: a blank line produces no reply.
    if (line === '') return;
    let reply: string;
    try {
      reply = this.run(line);
    } catch (e) {
      if (e instanceof QemuWouldAbort || e instanceof LimitError) reply = `FAIL ${e.message}`;
      else {
        this.opts.logger?.error({ err: e, line: line.slice(0, 200) }, 'internal error while running a qtest command');
        reply = `FAIL internal error: ${(e as Error)?.message ?? String(e)}`;
      }
    }
    this.reply(reply, reply.startsWith('OK') ? 'ok' : reply.startsWith('ERR') ? 'err' : 'fail');
  }

  private run(line: string): string {
    if (line.includes('\0')) {
      // QEMU never finds the end of a line that contains NUL and stops answering for good.
      throw new QemuWouldAbort('NUL byte in command line');
    }
    const words = splitSpaces(line);
    try {
      return runQtestCommand(words, this.state);
    } catch (e) {
      // Where QEMU's single-space split would assert, treat runs of spaces as one (newer QEMU).
      if (e instanceof QemuWouldAbort && / {2}/.test(line) && words[0] !== '') {
        const collapsed = line.split(/ +/);
        if (collapsed[collapsed.length - 1] === '') collapsed.pop();
        return runQtestCommand(collapsed, this.state);
      }
      throw e;
    }
  }
}

/** Exactly `line.split(' ')`, about twice as fast for the short lines qtest is made of. */
export function splitSpaces(line: string): string[] {
  const words: string[] = [];
  let from = 0;
  for (;;) {
    const sp = line.indexOf(' ', from);
    if (sp < 0) {
      words.push(from === 0 ? line : line.slice(from));
      return words;
    }
    words.push(line.slice(from, sp));
    from = sp + 1;
  }
}
