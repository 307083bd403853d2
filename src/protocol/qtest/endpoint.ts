// Over 400 lines: one connection's whole qtest state machine (lines, flow control, jobs, borrowed input).
/**
 * QtestEndpoint: the qtest server for one connection. Splits input into lines exactly as QEMU
 * 10.2.2 does (LF only, CR kept, single-space tokens) without making strings of them, runs each
 * line through the command table, writes IRQ lines before the reply they belong to, logs in
 * QEMU's -qtest-log format, and is the one error boundary of the protocol: anything thrown becomes
 * one `FAIL …` line. Replies are bytes gathered in a ReplyWriter and handed to the link as Buffers
 * once per batch of input (and in pieces within a large reply). Applies backpressure: while the
 * peer is not reading replies, no further requests are processed.
 *
 * Handlers write into the reply writer only after their side effects (IRQ lines they cause are
 * written first), so a reply is never interleaved with another line.
 */
import { LimitError } from '../../base/limits.js';
import type { Logger } from '../../base/log.js';
import type { Endpoint, Link } from '../link.js';
import { QemuWouldAbort, runQtestCommand } from './commands.js';
import type { QtestSessionState } from './commands.js';
import { Args, PENDING, WROTE } from './grammar.js';
import type { Reply } from './grammar.js';
import { ChunkQueue, indexOfNL } from './chunk-queue.js';
import { QtestLine } from './line.js';
import { LongLine } from './long-line.js';
import { ReplyWriter } from './reply.js';
import type { QtestLog } from './qtest-log.js';
import type { QtestTarget } from './target.js';
import type { WorkJob } from '../../memory/work-meter.js';

export interface QtestEndpointOptions {
  target: QtestTarget;
  link: Link;
  log?: QtestLog;
  logger?: Logger;
  maxLineBytes: number;
  maxTransferBytes: number;
  /** QtestSessionState.beforeTransfer (the service's memory budget). */
  beforeTransfer?: (command: string, size: number) => void;
  /**
   * Called once per processed line with the reply kind and the seconds it took to run (-1 for a
   * line refused before it ran) — the service's metrics; the clock is read only when it is set.
   */
  onRequest?: (kind: 'ok' | 'fail' | 'err', seconds: number) => void;
  /** Called once per processed line, after its reply is made (no clock is read for it). */
  afterRequest?: () => void;
  /** An internal error (a bug, not bad input) was caught and answered `FAIL internal error`. */
  onInternalError?: () => void;
  /**
   * Interception state that outlives one connection (QEMU keeps the intercepted device for the
   * life of the process; a reconnecting client only gets its IRQ levels reset). The endpoint
   * takes it over: IRQ lines go to this connection from now on.
   */
  shared?: QtestSessionState;
}

const NL = 0x0a;
/**
 * A stream job goes on producing this many bytes after the link refused output before it parks:
 * each wait for a drain costs a few turns of the event loop, so a longer wait for fewer of them
 * (the bytes queued in the process stay bounded by about this).
 */
const STREAM_AHEAD_BYTES = 1 << 20;
/** Gathered replies are handed to the link early once they reach this many bytes. */
const FLUSH_BYTES = 32 * 1024;

export class QtestEndpoint implements Endpoint {
  /** Received chunks not yet scanned. */
  private readonly queue = new ChunkQueue();
  /** The start of the current line, when it spans chunks. */
  private long = new LongLine();
  private blocked = false;
  private discardingLongLine = false;
  private closed = false;
  /** The peer closed: remaining input is still processed, output is dropped. */
  private peerGone = false;
  /** Inside pump(): replies are gathered and handed over when it returns. */
  private pumping = false;
  /** The `[S …]` log prefix of the line being flushed was written. */
  private stamped = false;
  private readonly state: QtestSessionState;
  private readonly line = new QtestLine();
  private readonly args = new Args();
  private readonly out: ReplyWriter;
  /** A line's handler left a job running (PENDING): when it started, or -1 without metrics. */
  private awaiting?: number;
  /** Inside a handler: a finish() there is its reply (the job ended within its first slice). */
  private inHandler = false;
  private finishedEarly?: { reply: typeof WROTE | string | undefined };
  /**
   * A bulk read whose reply is produced as the peer takes it (state.streamJobs): parked while the
   * link refuses output, resumed by drained(). Its request's later input waits (`awaiting`), and
   * nothing else of the launcher writes guest RAM, so the reply is that of one read.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one job of any result type
  private stream?: WorkJob<any>;
  /** What cut the stream job short: its request is answered `FAIL …` with it. */
  private streamFailure?: string;
  /** Bytes handed to the link since it last refused output (reset by drained()). */
  private ahead = 0;
  /** The peer ended its input (inputEnded): called once every complete line sent is answered. */
  private inputDone?: () => void;

  constructor(private readonly opts: QtestEndpointOptions) {
    this.state = opts.shared ?? {
      target: opts.target,
      emit: () => {},
      finish: () => {},
      irqLevels: new Map(),
      logNote: () => {},
      maxTransferBytes: opts.maxTransferBytes,
      beforeTransfer: opts.beforeTransfer,
    };
    // A log sink may keep the Buffers it is given: with a log, slabs are never reused.
    this.out = new ReplyWriter(
      (piece) => this.sendPiece(piece),
      () => !opts.log && !this.peerGone && (opts.link.sent?.() ?? false),
    );
    this.state.emit = (line) => this.emitLine(line);
    this.state.finish = (reply) => this.finishLine(reply);
    this.state.logNote = (text) => opts.log?.sent(text);
    this.state.streamJobs = { run: (job) => this.runStream(job) };
    this.state.irqLevels.clear();
    if (this.state.partialLine) {
      // QEMU's input buffer outlives a connection: an unfinished line continues on the next one.
      this.long = this.state.partialLine;
      this.state.partialLine = undefined;
    }
    opts.log?.connectionOpened();
  }

  /** The interception state this endpoint uses (to hand to the next connection). */
  get sharedState(): QtestSessionState {
    return this.state;
  }

  /** Borrowed chunks are copied only where kept (queued, an unfinished line, a pending line). */
  readonly acceptsBorrowed = true;
  private borrowed?: Buffer;

  input(chunk: Buffer, borrowed = false): void {
    if (this.closed || chunk.length === 0) return;
    this.queue.push(chunk);
    if (!borrowed) return this.pump();
    this.borrowed = chunk;
    try {
      this.pump();
    } finally {
      this.borrowed = undefined;
      this.queue.own(chunk);
      if (this.awaiting !== undefined || this.stream) this.line.own(chunk.buffer);
    }
  }

  drained(): void {
    this.blocked = false;
    this.ahead = 0;
    if (this.stream) this.stepStream();
    // a job that ended went on with the input itself (finishLine)
    else this.pump();
  }

  inputEnded(done: () => void): void {
    this.inputDone = done;
    this.answeredAll();
  }

  /** After the end of input: every complete line is answered (an unfinished one never is). */
  private answeredAll(): void {
    const done = this.inputDone;
    if (!done || this.stream || this.awaiting !== undefined || !this.queue.empty) return;
    this.inputDone = undefined;
    done();
  }

  end(): void {
    this.inputDone = undefined;
    if (this.closed) return;
    // Like QEMU, run what was received but not yet processed (its replies go nowhere), and keep
    // an unfinished last line for the next connection.
    this.peerGone = true;
    this.blocked = false;
    if (this.stream) this.stepStream();
    this.pump();
    this.closed = true;
    this.state.partialLine = this.long.bytes ? this.long : undefined;
    this.opts.log?.connectionClosed();
  }

  private sendPiece(piece: Buffer): void {
    const log = this.opts.log;
    if (log) {
      if (!this.stamped) log.sentStamp();
      this.stamped = true;
      log.sentBytes(piece);
    }
    if (this.peerGone) return;
    if (this.blocked) this.ahead += piece.length;
    if (!this.opts.link.writeBytes(piece)) this.blocked = true;
  }

  /** A complete line (reply or IRQ) is in the writer: with a log, each line is flushed alone. */
  private lineDone(): void {
    if (this.opts.log || !this.pumping) {
      this.out.flush();
      this.stamped = false;
    } else if (this.out.pending >= FLUSH_BYTES) this.out.flush();
  }

  private emitLine(text: string): void {
    this.out.text(text);
    this.out.byte(NL);
    this.lineDone();
  }

  /** Process complete lines until input runs out or the peer stops reading. */
  private pump(): void {
    const nested = this.pumping;
    if (!nested) this.out.rewind();
    this.pumping = true;
    try {
      this.pumpLines();
    } finally {
      this.pumping = nested;
      if (!nested) this.out.flush();
      // a parked stream's reply line goes on later: its log prefix is written
      if (!this.stream) this.stamped = false;
    }
    if (this.peerGone) return;
    if (this.blocked) this.opts.link.pause();
    else this.opts.link.resume();
    if (!nested) this.answeredAll();
  }

  private pumpLines(): void {
    const max = this.opts.maxLineBytes;
    while (!this.blocked && !this.closed && this.awaiting === undefined && this.queue.head !== undefined) {
      const head = this.queue.head;
      const from = this.queue.offset;
      const nl = indexOfNL(head, from);
      if (nl < 0) {
        this.keepPartial(head.subarray(from), head === this.borrowed);
        this.queue.shift();
        continue;
      }
      this.queue.advance(nl + 1);
      if (this.discardingLongLine) {
        this.discardingLongLine = false;
      } else if (this.long.bytes === 0) {
        if (nl - from > max) this.replyText(`FAIL line longer than ${max} bytes`);
        else this.processLine(head, from, nl);
      } else this.endLongLine(head.subarray(from, nl));
    }
  }

  /** The LF of a line that spans chunks came after `last`. */
  private endLongLine(last: Buffer): void {
    const total = this.long.bytes + last.length;
    if (total > this.opts.maxLineBytes) {
      this.long.clear();
      return this.replyText(`FAIL line longer than ${this.opts.maxLineBytes} bytes`);
    }
    // A long write payload was decoded as it arrived (long-line.ts); other lines are still the
    // received chunks: setParts keeps a payload in them; with a log the line is joined (text).
    const parts = this.long.finish(last, this.line);
    if (parts === true) this.runLine();
    else if (!this.opts.log && this.line.setParts(parts, total)) this.runLine();
    else this.processLine(Buffer.concat(parts, total), 0, total);
  }

  /** Keep bytes of a line whose newline has not arrived (`borrowed`: copied where kept); enforce the line limit. */
  private keepPartial(bytes: Buffer, borrowed: boolean): void {
    if (this.discardingLongLine || bytes.length === 0) return;
    this.long.add(bytes, !this.opts.log, borrowed);
    if (this.long.bytes > this.opts.maxLineBytes) {
      this.long.clear();
      this.discardingLongLine = true;
      this.replyText(`FAIL line longer than ${this.opts.maxLineBytes} bytes; discarded up to the next newline`);
    }
  }

  /** A line was answered (its reply starts `reply`): the hooks; only onRequest reads the clock. */
  private requestDone(reply: string, startedAt: number): void {
    this.opts.afterRequest?.();
    const on = this.opts.onRequest;
    if (!on) return;
    on(reply.startsWith('OK') ? 'ok' : reply.startsWith('ERR') ? 'err' : 'fail', startedAt < 0 ? -1 : (performance.now() - startedAt) / 1000);
  }

  private replyText(line: string, startedAt = -1): void {
    this.requestDone(line, startedAt);
    this.out.text(line);
    this.out.byte(NL);
    this.lineDone();
  }

  private processLine(buf: Buffer, start: number, end: number): void {
    this.line.set(buf, start, end);
    this.runLine();
  }

  /** Run the line in `this.line`. */
  private runLine(): void {
    const line = this.line;
    this.opts.log?.received(line.text());
    // QEMU 10.2.2: a blank line produces no reply.
    if (line.start === line.end) return;
    const startedAt = this.opts.onRequest ? performance.now() : -1;
    let reply: Reply;
    this.inHandler = true;
    this.finishedEarly = undefined;
    try {
      reply = this.run();
      if (reply === PENDING) {
        // set by finishLine() when the job ended inside run()
        const early = this.finishedEarly as { reply: typeof WROTE | string | undefined } | undefined;
        if (!early) {
          this.awaiting = startedAt;
          return;
        }
        // A job cut short in its first slice throws; one that finished there left its reply.
        reply = early.reply ?? 'FAIL internal error: a job ended without a reply';
      }
    } catch (e) {
      reply = this.failure(e);
    } finally {
      this.inHandler = false;
    }
    this.complete(reply as typeof WROTE | string, startedAt);
  }

  /** The reply to a request whose handler (or job) threw. */
  private failure(e: unknown): string {
    if (e instanceof QemuWouldAbort || e instanceof LimitError) return `FAIL ${e.message}`;
    this.opts.logger?.error({ err: e, line: this.line.text().slice(0, 200) }, 'internal error while running a qtest command');
    this.opts.onInternalError?.();
    return `FAIL internal error: ${(e as Error)?.message ?? String(e)}`;
  }

  /** Run a stream job (state.streamJobs) as far as the link takes its output. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one job of any result type
  private runStream(job: WorkJob<any>): void {
    this.stream = job;
    this.stepStream();
  }

  private stepStream(): void {
    const job = this.stream;
    if (!job) return;
    let result: { value: unknown } | undefined;
    try {
      while (!this.blocked || this.ahead < STREAM_AHEAD_BYTES) {
        const r = job.steps.next();
        if (r.done) {
          result = { value: r.value };
          break;
        }
        // what the step wrote goes to the link now: a refusal parks the job before more is made
        this.out.flush();
      }
    } catch (e) {
      this.stream = undefined;
      this.streamFailure = this.failure(e);
      job.settle();
      return;
    }
    if (!result) return; // parked until drained()
    this.stream = undefined;
    job.done(result.value);
  }

  private complete(reply: typeof WROTE | string, startedAt: number): void {
    if (reply === WROTE) {
      this.requestDone('OK', startedAt);
      this.out.byte(NL);
      this.lineDone();
    } else this.replyText(reply, startedAt);
  }

  /** A PENDING line's job ended (reply undefined: cut short, the session answers for it). */
  private finishLine(reply: typeof WROTE | string | undefined): void {
    if (reply === undefined && this.streamFailure !== undefined) reply = this.streamFailure;
    this.streamFailure = undefined;
    if (this.inHandler) {
      this.finishedEarly = { reply };
      return;
    }
    const startedAt = this.awaiting;
    if (startedAt === undefined) return;
    this.awaiting = undefined;
    if (reply === undefined) {
      this.requestDone('FAIL', startedAt);
      this.out.flush();
    } else this.complete(reply, startedAt);
    if (!this.closed) this.pump();
  }

  private run(): Reply {
    const line = this.line;
    if (line.hasNul()) {
      // QEMU never finds the end of a line that contains NUL and stops answering for good.
      throw new QemuWouldAbort('NUL byte in command line');
    }
    try {
      return runQtestCommand(line, this.state, this.args, this.out);
    } catch (e) {
      // Where QEMU's single-space split would assert, treat runs of spaces as one (newer QEMU).
      if (e instanceof QemuWouldAbort && line.length(0) > 0 && line.hasDoubleSpace()) {
        return runQtestCommand(line.collapse(), this.state, this.args, this.out);
      }
      throw e;
    }
  }
}
