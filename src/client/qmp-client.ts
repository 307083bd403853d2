/**
 * Typed QMP client (protocol/qmp.md §1, §3): reads the greeting, negotiates capabilities, sends
 * commands with an `id` and matches replies by `id` (oldest first when the server does not echo
 * it), and delivers events as 'event' emissions, async iterators and waitEvent() (which, like
 * libqtest, first looks at events that arrived before it was called). Input framing is streaming
 * JSON, so objects may be split across chunks or share one. Does not reconnect or use OOB.
 */
import { EventEmitter } from 'node:events';
import { JsonStreamFramer } from './json-stream.js';
import {
  connectTcpSocket,
  connectUnixSocket,
  connectWebSocketTransport,
  withQmpToken,
  socketTransport,
  withRequestTimeout,
} from './transport.js';
import type { ClientTransport, TransportChunk } from './transport.js';
import type { QmpArgList, QmpCommandName, QmpEvent, QmpGreeting, QmpReturn } from './qmp-types.js';

/** A QMP `{"error": {...}}` reply. */
export class QmpError extends Error {
  constructor(
    readonly errorClass: string,
    readonly desc: string,
    readonly command: string,
  ) {
    super(`QMP ${command}: ${errorClass}: ${desc}`);
    this.name = 'QmpError';
  }
}

/** Connection loss, timeouts and protocol violations. */
export class QmpConnectionError extends Error {
  override name = 'QmpConnectionError';
}

export interface QmpClientOptions {
  /** Put an `id` on every command (default true). */
  sendIds?: boolean;
  /** Events kept for waitEvent() while nobody waits (default 1024; oldest dropped). */
  eventBacklog?: number;
  /** Reject a command with QmpConnectionError when its reply has not come after this many ms (default: never). */
  requestTimeoutMs?: number;
  /**
   * qtestd, WebSocket: the session's QMP token (`QtestClient#qmpToken`), added to the URL as
   * `token=`; qtestd refuses a QMP attach without it (403).
   */
  token?: string;
}

interface PendingCommand {
  command: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export interface QmpClientEvents {
  event: [event: QmpEvent];
  close: [error: Error | undefined];
  protocolError: [text: string, reason: string];
}

interface EventWaiter {
  match(e: QmpEvent): boolean;
  resolve(e: QmpEvent): void;
  reject(e: Error): void;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export class QmpClient extends EventEmitter<QmpClientEvents> {
  private readonly framer = new JsonStreamFramer();
  private readonly pending = new Map<number | string, PendingCommand>();
  private nextId = 1;
  private readonly backlog: QmpEvent[] = [];
  private readonly waiters = new Set<EventWaiter>();
  private readonly iterators = new Set<{ push(e: QmpEvent | null): void }>();
  private greetingValue: QmpGreeting | undefined;
  private readonly greetingPromise: Promise<QmpGreeting>;
  private resolveGreeting!: (g: QmpGreeting) => void;
  private rejectGreeting!: (e: Error) => void;
  private closedError: QmpConnectionError | undefined;
  private readonly sendIds: boolean;
  private readonly backlogLimit: number;
  private readonly requestTimeoutMs: number | undefined;

  constructor(
    private readonly transport: ClientTransport,
    options: QmpClientOptions = {},
  ) {
    super();
    this.sendIds = options.sendIds ?? true;
    this.backlogLimit = options.eventBacklog ?? 1024;
    this.requestTimeoutMs = options.requestTimeoutMs;
    this.greetingPromise = new Promise<QmpGreeting>((resolve, reject) => {
      this.resolveGreeting = resolve;
      this.rejectGreeting = reject;
    });
    this.greetingPromise.catch(() => undefined); // observed through greeting()
    transport.onData((c) => this.onData(c));
    transport.onClose?.((e) => this.onClosed(e));
  }

  static async connectUnix(path: string, options?: QmpClientOptions): Promise<QmpClient> {
    return new QmpClient(socketTransport(await connectUnixSocket(path)), options);
  }

  static async connectTcp(host: string, port: number, options?: QmpClientOptions): Promise<QmpClient> {
    return new QmpClient(socketTransport(await connectTcpSocket(host, port)), options);
  }

  /** One JSON object per text message in each direction. */
  static async connectWebSocket(url: string, options?: QmpClientOptions): Promise<QmpClient> {
    return new QmpClient(await connectWebSocketTransport(withQmpToken(url, options?.token), '\n'), options);
  }

  /** The server's greeting (the first non-event object). */
  greeting(): Promise<QmpGreeting> {
    return this.greetingPromise;
  }

  /** Wait for the greeting and send qmp_capabilities (optionally enabling capabilities). */
  async negotiate(enable?: string[]): Promise<QmpGreeting> {
    const g = await this.greetingPromise;
    await this.execute('qmp_capabilities', enable === undefined ? undefined : { enable });
    return g;
  }

  /** Run a typed command; rejects with QmpError on an error reply. */
  execute<K extends QmpCommandName>(command: K, ...args: QmpArgList<K>): Promise<QmpReturn<K>> {
    return this.executeRaw(command, args[0] as Record<string, unknown> | undefined) as Promise<QmpReturn<K>>;
  }

  /** Run any command by name, untyped. */
  executeRaw(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closedError) return Promise.reject(new QmpConnectionError(this.closedError.message));
    const msg: Record<string, unknown> = { execute: command };
    if (args !== undefined) msg.arguments = args;
    const key = this.sendIds ? this.nextId++ : `#${this.nextId++}`;
    if (this.sendIds) msg.id = key;
    const reply = new Promise((resolve, reject) => {
      this.pending.set(key, { command, resolve, reject });
      this.transport.write(JSON.stringify(msg) + '\n');
    });
    return withRequestTimeout(
      reply,
      this.requestTimeoutMs,
      () => new QmpConnectionError(`QMP ${command}: no reply within ${this.requestTimeoutMs} ms`),
    );
  }

  /** Send raw text (for negative tests); replies to it are matched like any command's. */
  sendRaw(text: string, command = '(raw)'): Promise<unknown> {
    if (this.closedError) return Promise.reject(new QmpConnectionError(this.closedError.message));
    const key = `#${this.nextId++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(key, { command, resolve, reject });
      this.transport.write(text);
    });
  }

  /**
   * Resolve with the first event named `name` (and matching `filter`), looking first at events
   * that arrived earlier and were not yet taken by another waitEvent; that event is removed from
   * the backlog. Rejects after `timeoutMs` or on connection loss.
   */
  waitEvent(
    name: string,
    timeoutMs = 10_000,
    filter?: (data: Record<string, unknown> | undefined) => boolean,
  ): Promise<QmpEvent> {
    const match = (e: QmpEvent) => e.event === name && (!filter || filter(e.data));
    const idx = this.backlog.findIndex(match);
    if (idx >= 0) return Promise.resolve(this.backlog.splice(idx, 1)[0]);
    if (this.closedError) return Promise.reject(new QmpConnectionError(this.closedError.message));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new QmpConnectionError(`timed out after ${timeoutMs} ms waiting for QMP event ${name}`));
      }, timeoutMs);
      const w: EventWaiter = {
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.add(w);
    });
  }

  /** Events received so far and not taken by waitEvent (oldest first); clears the backlog. */
  drainEvents(): QmpEvent[] {
    return this.backlog.splice(0);
  }

  /** An async iterator over events arriving from now on; ends when the connection closes. */
  events(): AsyncIterableIterator<QmpEvent> {
    const queue: (QmpEvent | null)[] = [];
    let wake: (() => void) | undefined;
    const sink = {
      push: (e: QmpEvent | null) => {
        queue.push(e);
        wake?.();
      },
    };
    this.iterators.add(sink);
    if (this.closedError) sink.push(null);
    const done = (): IteratorResult<QmpEvent> => {
      this.iterators.delete(sink);
      return { value: undefined, done: true };
    };
    const it: AsyncIterableIterator<QmpEvent> = {
      next: async () => {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const e = queue.shift()!;
        return e === null ? done() : { value: e, done: false };
      },
      return: async () => done(),
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  close(): void {
    this.transport.close();
    this.onClosed(undefined);
  }

  // ---- input -----------------------------------------------------------------------------

  private onData(chunk: TransportChunk): void {
    for (const f of this.framer.push(chunk)) {
      if (!f.ok) {
        this.emit('protocolError', f.text, `JSON parse error: ${f.error}`);
        continue;
      }
      this.dispatch(f.value, f.text);
    }
  }

  private dispatch(v: unknown, text: string): void {
    if (!isObject(v)) {
      this.emit('protocolError', text, 'not a JSON object');
      return;
    }
    if (typeof v.event === 'string') {
      this.onEvent(v as unknown as QmpEvent);
      return;
    }
    if (this.greetingValue === undefined && 'QMP' in v) {
      this.greetingValue = v as unknown as QmpGreeting;
      this.resolveGreeting(this.greetingValue);
      return;
    }
    if (!('return' in v) && !('error' in v)) {
      this.emit('protocolError', text, 'neither return, error nor event');
      return;
    }
    let key: number | string | undefined;
    if ('id' in v && (typeof v.id === 'number' || typeof v.id === 'string') && this.pending.has(v.id)) key = v.id;
    else if ('id' in v && this.sendIds) {
      this.emit('protocolError', text, 'reply id matches no pending command');
      return;
    } else key = this.pending.keys().next().value;
    if (key === undefined) {
      this.emit('protocolError', text, 'reply with no command pending');
      return;
    }
    const p = this.pending.get(key)!;
    this.pending.delete(key);
    if ('error' in v) {
      const err = isObject(v.error) ? v.error : {};
      p.reject(new QmpError(String(err.class ?? 'GenericError'), String(err.desc ?? ''), p.command));
    } else p.resolve(v.return);
  }

  private onEvent(e: QmpEvent): void {
    this.emit('event', e);
    for (const it of this.iterators) it.push(e);
    for (const w of this.waiters) {
      if (w.match(e)) {
        this.waiters.delete(w);
        w.resolve(e);
        return;
      }
    }
    this.backlog.push(e);
    if (this.backlog.length > this.backlogLimit) this.backlog.shift();
  }

  private onClosed(error: Error | undefined): void {
    if (this.closedError) return;
    this.closedError = new QmpConnectionError(`QMP connection closed${error ? `: ${error.message}` : ''}`);
    const msg = this.closedError.message;
    this.rejectGreeting(new QmpConnectionError(msg));
    for (const p of this.pending.values()) p.reject(new QmpConnectionError(`${msg} (waiting for ${p.command})`));
    this.pending.clear();
    for (const w of this.waiters) w.reject(new QmpConnectionError(msg));
    this.waiters.clear();
    for (const it of this.iterators) it.push(null);
    this.emit('close', error);
  }
}
