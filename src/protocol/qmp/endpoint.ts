/**
 * QmpEndpoint: one QMP monitor connection. Sends the greeting on construction, feeds input through
 * the JSON stream, keeps the capabilities-negotiation state, dispatches each request through the
 * registry inside the layer's single error boundary, and forwards host events (with a wall-clock
 * timestamp) once negotiation is complete. Every message is one line of QEMU-style JSON + CRLF.
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
  private negotiated = false;
  private oobEnabled = false;
  private closed = false;

  constructor(options: QmpEndpointOptions) {
    this.host = options.host;
    this.sink = options.sink;
    this.sinkBytes = options.sinkBytes;
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
    for (const item of this.stream.push(chunk)) {
      if (this.closed) return;
      this.handle(item);
    }
  }

  /** The client went away: stop sending, drop partial input. */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.stream.reset();
  }

  private send(message: JsonValue): void {
    if (this.closed) return;
    const bytes = this.sinkBytes;
    if (!bytes) {
      this.sink(frame(message));
      return;
    }
    let long = false;
    const rest = frameInPieces(message, PIECE_CHARS, (text) => {
      long = true;
      bytes(Buffer.from(text, 'latin1'));
    });
    if (long) bytes(Buffer.from(rest, 'latin1'));
    else this.sink(rest);
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
