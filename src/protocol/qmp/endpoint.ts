/**
 * QmpEndpoint: one QMP monitor connection. Sends the greeting on construction, feeds input through
 * the JSON stream, keeps the capabilities-negotiation state, dispatches each request through the
 * registry inside the layer's single error boundary, and forwards host events (with a wall-clock
 * timestamp) once negotiation is complete. Every message is one line of QEMU-style JSON + CRLF.
 *
 * Flow: commands run one at a time, in order. When the transport refuses output (a sink returned
 * false: its queue is over its high-water mark) the endpoint stops after that reply and takes the
 * next command only at `drained()`, so a client that pipelines commands and does not read holds
 * about one reply in the process, not one per command (protocol/deviations.md). Events are sent
 * when they happen, as QEMU does, whatever the state of the queue.
 */
import type { Logger } from 'pino';
import { LimitError, DEFAULT_LIMITS, type Limits } from '../../base/limits.js';
import { builtinRegistry } from './commands/index.js';
import { C_INT_MEMBERS } from './data/c-int-types.js';
import { PRECONFIG_COMMANDS } from './data/preconfig.js';
import { QEMU_VERSION, QMP_CAPABILITIES } from './data/version.js';
import type { QmpErrorBody, QmpEvent, QmpHost } from './host.js';
import { JsonStream, QEMU_JSON_LIMITS, type JsonStreamItem } from './json-stream.js';
import type { JsonValue } from './json-value.js';
import { errorMessage, eventMessage, frame, frameInPieces, greetingMessage, QmpError, returnMessage, type WallTime } from './messages.js';
import type { CommandContext, CommandRegistry, QmpExtension } from './registry.js';
import { SchemaInputVisitor } from './schema/input-visitor.js';
import { notSupported } from './commands/fixed.js';
import { parseRequest, requestId, type QmpRequest } from './request.js';

export type Sink = (text: string) => boolean;

/**
 * Messages longer than this many characters (query-qmp-schema's ~230 KB, `info mtree`,
 * qom-list-types) go to `sinkBytes` as Buffers of about this size, never as one string.
 */
const PIECE_CHARS = 64 * 1024;

export interface QmpEndpointOptions {
  readonly host: QmpHost;
  /** Receives each outgoing message (one line, CRLF-terminated). `false` = back off (transport's job). */
  readonly sink: Sink;
  /**
   * Optional: receives a long message (over PIECE_CHARS) as Buffers in order, the last ending in
   * CRLF (never split from it); the bytes are ASCII (the writer escapes everything else). Without
   * it every message goes to `sink` whole.
   */
  readonly sinkBytes?: (piece: Buffer) => boolean;
  /**
   * Optional: told `true` when the endpoint stops taking commands until `drained()` (its output is
   * backed up) and `false` when it goes on; the transport may stop reading meanwhile.
   */
  readonly holdInput?: (held: boolean) => void;
  /** Wall clock for event timestamps (QEMU uses host real time). */
  readonly now: () => WallTime;
  readonly limits?: Pick<Limits, 'maxQmpMessageBytes' | 'maxJsonDepth'>;
  readonly logger?: Logger;
  /** The host's `x-qtestd-*` command rows, added after the built-in commands. */
  readonly extensions?: readonly QmpExtension[];
  /** Defaults to the built-in command set plus `extensions`. */
  readonly registry?: CommandRegistry;
  /**
   * A monitor limited to some commands (the service's read-only inspector monitor): any other
   * command answers GenericError `The command X is not allowed on this monitor`. Default: all.
   */
  readonly allow?: (command: string) => boolean;
  /** The caller already sent the greeting (a monitor made on its first input: session/qmp-attach.ts). */
  readonly greeted?: boolean;
}

export class QmpEndpoint {
  private readonly host: QmpHost;
  private readonly sink: Sink;
  private readonly sinkBytes?: (piece: Buffer) => boolean;
  private readonly now: () => WallTime;
  private readonly logger: Logger | undefined;
  /** Made on the first command (the greeting needs none: a monitor that never runs one costs less). */
  private registryMade?: CommandRegistry;
  private readonly makeRegistry: () => CommandRegistry;
  private readonly allow?: (command: string) => boolean;
  private readonly stream: JsonStream;
  /** Made on the first command that needs it (the schema is parsed then: see CommandRegistry). */
  private visitor: SchemaInputVisitor | undefined;
  private readonly unsubscribe: () => void;
  private readonly holdInput?: (held: boolean) => void;
  /** Parsed input not handled yet (a chunk's commands after a refused reply), from `next` on. */
  private queue: (JsonStreamItem | undefined)[] = [];
  private next = 0;
  /** A write was refused since the last `drained()`: the next command waits. */
  private backedUp = false;
  /** `holdInput(true)` was told last. */
  private held = false;
  /** Handling input now (input() or drained() further up the stack). */
  private running = false;
  /** `whenAnswered`'s callback: everything received so far has been answered. */
  private onAnswered: (() => void) | undefined;
  private negotiated = false;
  private oobEnabled = false;
  private closed = false;

  constructor(options: QmpEndpointOptions) {
    this.host = options.host;
    this.sink = options.sink;
    this.sinkBytes = options.sinkBytes;
    this.holdInput = options.holdInput;
    this.now = options.now;
    this.logger = options.logger;
    this.makeRegistry = () => options.registry ?? builtinRegistry(options.extensions);
    this.allow = options.allow;
    const limits = options.limits ?? DEFAULT_LIMITS;
    this.stream = new JsonStream({
      maxDepth: limits.maxJsonDepth,
      maxMessageBytes: limits.maxQmpMessageBytes,
      maxTokens: QEMU_JSON_LIMITS.maxTokens,
    });
    if (!options.greeted) this.send(greetingMessage(QEMU_VERSION, QMP_CAPABILITIES));
    this.unsubscribe = this.host.subscribe((event) => this.onEvent(event));
  }

  private get registry(): CommandRegistry {
    return (this.registryMade ??= this.makeRegistry());
  }

  /** Bytes from the client. */
  input(chunk: Uint8Array): void {
    if (this.closed) return;
    const items = this.stream.push(chunk);
    if (items.length === 0) return;
    if (this.next === this.queue.length) {
      this.queue = items;
      this.next = 0;
    } else for (const item of items) this.queue.push(item);
    this.run();
  }

  /** The transport's output queue drained after a refused write: take the next commands. */
  drained(): void {
    if (this.closed || !this.backedUp) return;
    this.backedUp = false;
    this.run();
  }

  /** Whether every command received so far has been answered (none waits for `drained()`). */
  get answered(): boolean {
    return this.next === this.queue.length;
  }

  /** Call `done` once every command received so far is answered (at once if it is; never once ended). */
  whenAnswered(done: () => void): void {
    if (this.closed) return;
    if (this.answered) done();
    else this.onAnswered = done;
  }

  /** The client went away: stop sending, drop partial input and unanswered commands. */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.stream.reset();
    this.queue = [];
    this.next = 0;
    this.onAnswered = undefined;
  }

  /** Handle queued commands in order until the queue is empty or the output is backed up. */
  private run(): void {
    if (this.running) return; // a reply's write re-entered us (a link that drains synchronously)
    this.running = true;
    try {
      while (!this.closed && !this.backedUp && this.next < this.queue.length) {
        const item = this.queue[this.next]!;
        this.queue[this.next++] = undefined; // handled: let it go
        this.handle(item);
      }
    } finally {
      this.running = false;
    }
    if (this.next === this.queue.length) {
      this.queue = [];
      this.next = 0;
    }
    if (this.closed) return;
    const hold = !this.answered;
    if (hold || this.held) {
      this.held = hold;
      this.holdInput?.(hold);
    }
    if (!hold && this.onAnswered) {
      const done = this.onAnswered;
      this.onAnswered = undefined;
      done();
    }
  }

  private send(message: JsonValue): void {
    if (this.closed) return;
    const bytes = this.sinkBytes;
    if (!bytes) {
      if (!this.sink(frame(message))) this.backedUp = true;
      return;
    }
    let long = false;
    let ok = true;
    const rest = frameInPieces(message, PIECE_CHARS, (text) => {
      long = true;
      if (!bytes(Buffer.from(text, 'latin1'))) ok = false;
    });
    if (!(long ? bytes(Buffer.from(rest, 'latin1')) : this.sink(rest))) ok = false;
    if (!ok) this.backedUp = true;
  }

  private onEvent(event: QmpEvent): void {
    // Monitors still in capabilities negotiation get no events (observed on 10.2.2).
    if (!this.negotiated) return;
    this.send(eventMessage(event, this.now()));
  }

  private handle(item: JsonStreamItem): void {
    if (item.kind === 'error') {
      this.send(errorMessage({ class: 'GenericError', desc: item.message }, undefined));
      return;
    }
    const id = requestId(item.value);
    // The layer's one error boundary: whatever a request does, it gets exactly one reply.
    try {
      const request = parseRequest(item.value, this.oobEnabled);
      const result = this.dispatch(request);
      this.send(returnMessage(result, id));
    } catch (err) {
      this.send(errorMessage(this.toErrorBody(err), id));
    }
    this.host.afterReply?.();
  }

  private dispatch(request: QmpRequest): JsonValue {
    if (!this.negotiated && request.name !== 'qmp_capabilities') {
      throw new QmpError('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'");
    }
    if (!this.registry.has(request.name)) {
      throw new QmpError('CommandNotFound', `The command ${request.name} has not been found`);
    }
    if (this.allow && request.name !== 'qmp_capabilities' && !this.allow(request.name)) {
      throw QmpError.generic(`The command ${request.name} is not allowed on this monitor`);
    }
    const command = this.registry.get(request.name);
    const declared = this.registry.schema?.command(request.name);
    const allowOob = declared !== undefined ? declared['allow-oob'] === true : (command?.allowOob ?? false);
    if (request.oob && !allowOob) {
      throw QmpError.generic(`The command ${request.name} does not support OOB`);
    }
    if (this.host.inPreconfig?.() === true && !PRECONFIG_COMMANDS.has(request.name)) {
      throw QmpError.generic(`The command '${request.name}' is permitted only after machine initialization has completed`);
    }
    // Commands QEMU declares `'gen': false` (device_add) check their arguments by hand.
    if (declared !== undefined && command?.openArgs !== true) {
      this.visitor ??= new SchemaInputVisitor(this.registry.schema!);
      this.visitor.checkArguments(declared['arg-type']!, request.args, C_INT_MEMBERS[request.name]);
    }
    if (command === undefined) throw notSupported(request.name);
    return command.execute(request.args, this.context());
  }

  private context(): CommandContext {
    return {
      host: this.host,
      registry: this.registry,
      negotiation: {
        complete: this.negotiated,
        finish: (enabled) => {
          this.negotiated = true;
          this.oobEnabled = enabled.includes('oob');
        },
      },
    };
  }

  private toErrorBody(err: unknown): QmpErrorBody {
    if (err instanceof QmpError) return { class: err.errorClass, desc: err.desc };
    if (err instanceof LimitError) return { class: 'GenericError', desc: err.message };
    const message = err instanceof Error ? err.message : String(err);
    this.logger?.error({ err }, 'QMP command failed with an internal error');
    return { class: 'GenericError', desc: `internal error: ${message}` };
  }
}
