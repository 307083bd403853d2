/**
 * SlicedQtest: what stands between a service connection and its qtest endpoint so that a request
 * whose device work runs in slices (memory/work-meter.ts) neither blocks the process nor becomes
 * observable half-done. Input goes to the endpoint a line at a time; when a line leaves a job
 * pending, its reply (and the connection's later input) is held, the job runs a slice per turn of
 * the event loop, and then the reply is released — or, if the job was cut short by the work
 * budget, replaced by `FAIL …`. IRQ lines the job raises go out before the reply, as when it runs
 * at once. The replies of the lines of one chunk are sent together, as the endpoint would.
 *
 * Sessions sharing the process take turns: a turn is one slice of a job (WorkMeter: SLICE_UNITS
 * or SLICE_MS), or lines run for at most SLICE_MS (a flood of small requests); the rest waits for
 * the next turn of the event loop, behind every other session's turn (setImmediate runs them in
 * order), so a small request of an idle session waits about one turn per busy session. A job that
 * writes its own reply (a bulk read) runs only while the peer takes it: at most STREAM_AHEAD_BYTES
 * past the point where the socket refused output, then it waits for 'drain' — a slow reader of a
 * 16 MiB `read` holds about that much of its reply here, not all of it.
 *
 * The peer leaving drops whatever it sent that has not run yet (the service never runs requests
 * for nobody). A peer that only ends its input (a half-close) still reads: what it sent runs, as
 * QEMU runs it, and the connection closes after the last reply.
 */
import { LimitError } from '../base/limits.js';
import type { Logger } from '../base/log.js';
import { SLICE_MS } from '../memory/work-meter.js';
import type { WorkMeter } from '../memory/work-meter.js';
import { endInput } from '../protocol/link.js';
import type { Endpoint, Link } from '../protocol/link.js';

const NL = 0x0a;
/** A streaming job goes on this far past the socket's refusal, then waits for 'drain'. */
export const STREAM_AHEAD_BYTES = 1 << 20;

export class SlicedQtest implements Endpoint {
  /** The link to give the endpoint: its output comes through here. */
  readonly link: Link;
  private endpoint?: Endpoint;
  private readonly queue: Buffer[] = [];
  /** Output of the lines of the current chunk, sent together; the line being run starts at lineStart. */
  private batch: Buffer[] = [];
  private lineStart = 0;
  private realPaused = false;
  /** Output of the line whose job is pending, and what the job wrote meanwhile (IRQ lines). */
  private held?: { reply: Buffer[]; during: Buffer[]; streams: boolean };
  private peerFull = false;
  /** Bytes handed to the peer since it last refused output (reset by drained()). */
  private ahead = 0;
  /** A streaming job waits for 'drain' (it ran STREAM_AHEAD_BYTES past a refusal). */
  private parked = false;
  /** The lines still queued wait for this session's next turn (a setImmediate is scheduled). */
  private turnWaiting = false;
  private endpointPaused = false;
  private gone = false;
  private feeding = false;
  /** The peer ended its input: call this once the queue is empty and no job is held. */
  private inputDone?: () => void;
  /** quiesce(): nothing more runs; this is called once the held request's reply is out. */
  private quiet?: () => void;
  private stopped = false;

  constructor(
    private readonly real: Link,
    private readonly work: WorkMeter,
    private readonly log: Logger,
    /** Called once a held request completed (the session's other endpoints may go on). */
    private readonly onIdle: () => void,
  ) {
    this.link = {
      write: (text) => this.out(Buffer.from(text, 'latin1')),
      writeBytes: (data) => this.out(data),
      pause: () => {
        this.endpointPaused = true;
        this.setPaused(true);
      },
      resume: () => {
        this.endpointPaused = false;
        if (!this.holding) this.setPaused(false);
      },
      close: () => this.real.close(),
    };
  }

  attach(endpoint: Endpoint): void {
    this.endpoint = endpoint;
  }

  private get holding(): boolean {
    return this.held !== undefined || this.peerFull || this.queue.length > 0;
  }

  private setPaused(paused: boolean): void {
    if (paused === this.realPaused) return;
    this.realPaused = paused;
    if (paused) this.real.pause();
    else this.real.resume();
  }

  private out(data: Buffer): boolean {
    if (this.gone) return true;
    if (this.held?.streams) {
      // a job that writes its own reply after its side effects: its bytes go out as they come
      this.batch.push(data);
      this.flush();
      return !this.peerFull;
    }
    if (this.held) this.held.during.push(data);
    else if (this.feeding) this.batch.push(data);
    else {
      // written outside a line we handed over (a reply the endpoint finishes later)
      this.batch.push(data);
      this.flush();
      return !this.peerFull;
    }
    return true;
  }

  input(chunk: Buffer): void {
    if (this.gone || this.stopped || chunk.length === 0) return;
    this.queue.push(chunk);
    this.feed();
  }

  drained(): void {
    this.peerFull = false;
    this.ahead = 0;
    this.endpoint?.drained();
    if (this.parked) {
      this.parked = false;
      setImmediate(() => this.slice());
    }
    this.feed();
  }

  inputEnded(done: () => void): void {
    this.inputDone = done;
    this.finishInput();
  }

  /** After the end of input, the last reply is out: let the transport close. */
  private finishInput(): void {
    if (!this.inputDone || this.gone || this.held || this.queue.length > 0) return;
    const done = this.inputDone;
    this.inputDone = undefined;
    this.flush();
    if (this.endpoint) endInput(this.endpoint, done);
    else done();
  }

  /**
   * The connection is being shut down: drop the lines not run yet, and call `done` once the
   * request in flight (a job held in slices), if any, has its whole reply out — so that a last
   * line written after it (`FAIL shutting down`) never cuts a reply short.
   */
  quiesce(done: () => void): void {
    this.stopped = true;
    this.queue.length = 0;
    this.inputDone = undefined;
    if (this.held && !this.gone) {
      this.quiet = done;
      return;
    }
    this.flush();
    done();
  }

  end(): void {
    this.inputDone = undefined;
    // a shutdown waiting for the request in flight goes on (its connection closes)
    const quiet = this.quiet;
    this.quiet = undefined;
    if (quiet) queueMicrotask(quiet);
    this.gone = true;
    this.queue.length = 0;
    this.parked = false;
    if (!this.held) return;
    // its job is dropped too: left pending, it would hold the meter and QMP (whenIdle) forever
    this.held = undefined;
    this.work.abandon();
    this.onIdle();
  }

  /**
   * Hand lines to the endpoint until input runs out, a job is pending, the peer is full or the
   * turn is over (SLICE_MS: the rest runs in this session's next turn).
   */
  private feed(turn = false): void {
    if (this.feeding || (this.turnWaiting && !turn)) return;
    this.turnWaiting = false;
    this.feeding = true;
    const endAt = performance.now() + SLICE_MS;
    try {
      while (!this.gone && !this.held && !this.peerFull && this.queue.length > 0) {
        const chunk = this.queue[0]!;
        const nl = chunk.indexOf(NL);
        let piece = chunk;
        if (nl >= 0 && nl < chunk.length - 1) {
          piece = chunk.subarray(0, nl + 1);
          this.queue[0] = chunk.subarray(nl + 1);
        } else this.queue.shift();
        this.lineStart = this.batch.length;
        this.endpoint!.input(piece);
        if (this.work.pending) {
          const streams = this.work.pendingStreams;
          this.held = { reply: streams ? [] : this.batch.splice(this.lineStart), during: [], streams };
          this.setPaused(true);
          setImmediate(() => this.slice());
        }
        if (this.held || this.queue.length === 0 || this.batch.length > 64) this.flush();
        if (!this.held && this.queue.length > 0 && performance.now() >= endAt) {
          this.flush();
          this.turnWaiting = true;
          setImmediate(() => this.feed(true));
          break;
        }
      }
    } finally {
      this.feeding = false;
    }
    this.setPaused(this.holding || this.endpointPaused);
    this.finishInput();
  }

  private flush(): void {
    const parts = this.batch;
    if (parts.length === 0) return;
    this.batch = [];
    if (this.gone) return;
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (!this.real.writeBytes(data)) this.peerFull = true;
    if (this.peerFull) this.ahead += data.length;
  }

  /** One slice of the pending job; when it ends, release (or replace) the held reply. */
  private slice(): void {
    const held = this.held;
    if (this.gone || !held) return;
    // a streaming job's slice ends once the peer has that much of its output waiting
    const parkable = held.streams;
    try {
      this.work.runSlice(parkable ? () => this.peerFull && this.ahead >= STREAM_AHEAD_BYTES : undefined);
    } catch (e) {
      // runSlice keeps the job's own errors; anything here is ours
      this.log.error({ err: e }, 'internal error while running a job in slices');
    }
    if (this.work.pending) {
      if (parkable && this.peerFull && this.ahead >= STREAM_AHEAD_BYTES) this.parked = true;
      else setImmediate(() => this.slice());
      return;
    }
    this.held = undefined;
    const failure = this.work.takeFailure();
    this.work.begin();
    const reply = Buffer.concat(held.reply);
    // the reply is the last line of what the request wrote; IRQ lines the job raised go before it
    // (a streaming job wrote its reply itself: nothing is held)
    const lastStart = held.streams ? 0 : reply.lastIndexOf(NL, reply.length - 2) + 1;
    this.batch.push(reply.subarray(0, lastStart), ...held.during);
    if (failure) {
      let text = failure.message;
      if (!(failure instanceof LimitError)) {
        this.log.error({ err: failure }, 'internal error in a job run in slices');
        text = `internal error: ${text}`;
      }
      this.batch.push(Buffer.from(`FAIL ${text}\n`, 'latin1'));
    } else this.batch.push(reply.subarray(lastStart));
    this.flush();
    this.onIdle();
    const quiet = this.quiet;
    this.quiet = undefined;
    if (quiet) quiet();
    else this.feed();
  }
}
