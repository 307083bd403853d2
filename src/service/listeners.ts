/**
 * Serving qtest connections in a worker (or the in-process host): raw TCP / UNIX sockets (greeted
 * for an optional `#!qtestd` line) and WebSocket upgrades on /qtest (options in the URL query),
 * as the accepting process handed them over after checking the limits. Each gets a session from
 * the registry, an idle timer, and is tracked so that stop() can shut every connection down in
 * an orderly way; `done` tells the accepting process the connection is over.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Logger } from '../base/log.js';
import { bindSocket } from '../transport/socket-link.js';
import type { Link } from '../protocol/link.js';
import { queryToWords, splitWords } from '../config/session-options.js';
import { Greeter } from './greeter.js';
import { bindWebSocket } from './websocket-link.js';
import { gated, lineWatch } from './endpoint-wrappers.js';
import { memoryBudgetRefusal } from './budgets.js';
import { formatMiB } from '../memory/memory-budget.js';
import { resumeReading } from './first-line.js';
import { QMP_TOKEN_HEADER, QMP_TOKEN_OPTION, QmpTokens, takeQmpToken } from './qmp-token.js';
import type { LiveSession, SessionRegistry } from './session-registry.js';
import type { CloseReason } from './metrics.js';

/** Let `live`'s qtest connection finish its request in flight (none: at once), then `done`. */
function quiesce(live: LiveSession | undefined, done: () => void): Promise<void> {
  return new Promise((resolve) => {
    const finish = (): void => {
      done();
      resolve();
    };
    if (live) live.session.quiesceQtest(finish);
    else finish();
  });
}

/** An unfinished qtest line longer than this is checked against the memory budget as it grows. */
const UNFINISHED_LINE_CHECK_BYTES = 1024 * 1024;
import type { ServiceOptions } from './service-options.js';

/**
 * A qtest connection (raw socket or WebSocket, with or without a session yet) as stop() sees it:
 * `shutdown` stops feeding input to the session (what was received and answered is flushed,
 * later input is read and discarded so that the close is an orderly one, not a reset) and
 * closes our side; `closed` settles when the peer is gone; `destroy` is the last resort.
 */
interface Connection {
  /**
   * `line`: a last line (qtest: `FAIL …`) sent after what was already answered, once the request
   * in flight has its reply out (resolves then).
   */
  shutdown(code?: number, line?: string): Promise<void>;
  destroy(): void;
  closed: Promise<void>;
  /** Bytes this connection holds in memory: its unfinished line and its queued replies. */
  bufferedBytes(): number;
}

export class Listeners {
  private readonly connections = new Set<Connection>();
  /** The QMP tokens of this host's sessions (qmp-token.ts). */
  readonly qmpTokens = new QmpTokens();
  /** The token told in a /qtest WebSocket handshake, until its session exists (or why it is bad). */
  private readonly handshakeTokens = new WeakMap<object, { token: string } | { error: string }>();

  constructor(
    private readonly opts: ServiceOptions,
    private readonly registry: SessionRegistry,
    /** Why new connections are turned away now (this host is stopping), or undefined. */
    private readonly refuse: () => string | undefined,
  ) {}

  private get log(): Logger {
    return this.opts.log;
  }

  private track(conn: Connection): Connection {
    this.connections.add(conn);
    const uncount = this.registry.memory.addSource(conn.bufferedBytes);
    void conn.closed.then(() => {
      this.connections.delete(conn);
      uncount();
    });
    return conn;
  }

  /**
   * Tell every connection to shut down with a last `line` (`code` is the WebSocket close code);
   * resolves once every one has finished its request in flight and sent that line.
   */
  async shutdownAll(code: number, line: string): Promise<void> {
    await Promise.all([...this.connections].map((c) => c.shutdown(code, line)));
  }

  /** Wait at most `graceMs` for every connection to close, then drop the rest. */
  async settle(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.connections].map((c) => c.closed)),
      new Promise<void>((r) => (timer = setTimeout(r, graceMs))),
    ]);
    clearTimeout(timer);
    if (this.connections.size)
      this.log.warn(
        { event: 'shutdown-forced', connections: this.connections.size },
        'dropping connections that did not close in time',
      );
    for (const c of this.connections) c.destroy();
  }

  /**
   * A WebSocket handshake is about to be answered (the `ws` server's 'headers' event): a /qtest
   * session's creator learns its QMP token in a response header (its own `qmp-token=` from the
   * query, or a fresh one).
   */
  handshakeHeaders(headers: string[], req: IncomingMessage): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/qtest') return;
    const chosen = url.searchParams.get(QMP_TOKEN_OPTION);
    const taken = takeQmpToken(chosen === null ? [] : [`${QMP_TOKEN_OPTION}=${chosen}`]);
    if ('error' in taken) return void this.handshakeTokens.set(req, taken);
    const token = taken.token ?? this.qmpTokens.fresh();
    this.handshakeTokens.set(req, { token });
    headers.push(`${QMP_TOKEN_HEADER}: ${token}`);
  }

  /** Why a new session is refused for memory (this host is at its share of the budget), or undefined. */
  private memoryRefusal(): string | undefined {
    return memoryBudgetRefusal(this.registry.memory);
  }

  /** May `token` attach to `live`'s QMP? */
  qmpTokenOk(live: LiveSession, token: string | null): boolean {
    return this.qmpTokens.check(live, token);
  }

  /** `head`: bytes already read from the socket (the accepting process read the first line). */
  acceptRaw(socket: Socket, transport: 'tcp' | 'unix', done: () => void = () => {}, head?: Buffer): void {
    // the first line comes first, as sent (nothing can start the socket flowing before this)
    if (head?.length) socket.unshift(head);
    // ECONNRESET / EPIPE from a peer that went away: 'close' follows and ends the session
    socket.on('error', (err) => this.log.debug({ err, transport }, 'qtest connection error'));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    void closed.then(done);
    let open = true;
    let unfinished = 0; // bytes since the last newline: the line being buffered
    let live: LiveSession | undefined;
    const conn = this.track({
      shutdown: (_code, line) => {
        if (!open) return Promise.resolve();
        open = false;
        socket.resume(); // keep reading (and discarding) until the peer closes too
        // the request in flight ends first: the last line never cuts its reply short
        return quiesce(live, () => {
          if (line !== undefined && !socket.destroyed) socket.write(`${line}\n`);
          socket.end();
        });
      },
      destroy: () => socket.destroy(),
      closed,
      bufferedBytes: () => unfinished + socket.writableLength,
    });
    const refusal = this.refuse();
    if (refusal) {
      open = false;
      socket.resume(); // discard whatever the peer sends, so that the close is orderly
      socket.end(`FAIL ${refusal}\n`);
      return;
    }
    const peer = transport === 'tcp' ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix';
    const fatal = (why: string, kind: CloseReason): void => {
      if (!open) return;
      this.log.info({ event: 'connection-timeout', transport, peer, session: live?.id, why }, 'closing a connection');
      void conn.shutdown(undefined, `FAIL ${why}; closing`);
      if (live) this.registry.close(live, why, kind); // now, with the reason: not when the peer closes
    };
    const idle = this.registry.idleTimer(() =>
      fatal(`idle timeout: no request for ${Math.round(this.opts.idleTimeoutMs / 1000)} s`, 'idle-timeout'),
    );
    // Deadlines that bytes do not reset: the session must start, and every line must end, in time.
    const greeting = this.opts.greetingTimeoutMs
      ? setTimeout(
          () => fatal(`no session started within ${this.opts.greetingTimeoutMs / 1000} s of connecting`, 'other'),
          this.opts.greetingTimeoutMs,
        ).unref()
      : undefined;
    const lines = lineWatch(this.opts.lineTimeoutMs, idle.touch, () =>
      fatal(`line not finished within ${this.opts.lineTimeoutMs / 1000} s of its first byte`, 'line-timeout'),
    );
    bindSocket(
      socket,
      (link) =>
        gated(
          () => open,
          new Greeter(
            link,
            async (line) => {
              let words: string[];
              try {
                words = line === undefined ? [] : splitWords(line);
              } catch (e) {
                return { ok: false, reason: (e as Error).message };
              }
              const taken = takeQmpToken(words);
              if ('error' in taken) return { ok: false, reason: taken.error };
              const full = this.memoryRefusal();
              if (full) return { ok: false, reason: full };
              const r = await this.registry.create(
                taken.words,
                transport,
                peer,
                () => void conn.shutdown(),
                () => open && !socket.destroyed,
              );
              if (!r.ok) return r;
              live = r.live;
              // without a chosen token nobody knows it: QMP over WebSocket stays closed to all
              this.qmpTokens.issue(r.live, taken.token);
              clearTimeout(greeting);
              return { ok: true, endpoint: (l: Link) => this.registry.attachQtestEndpoint(r.live, l) };
            },
            this.opts.limits.maxLineBytes,
          ),
        ),
      {
        encoding: 'latin1',
        log: this.log,
        onClose: () => {
          idle.stop();
          lines.stop();
          clearTimeout(greeting);
          if (live) this.registry.close(live, 'client disconnected', 'client');
        },
      },
    );
    socket.on('data', (chunk: Buffer) => {
      const nl = chunk.lastIndexOf(0x0a);
      unfinished = nl < 0 ? unfinished + chunk.length : chunk.length - nl - 1;
      if (open) lines.input(chunk);
      // a long unfinished line is memory held for this connection: past the budget, it is closed
      // (not another session; the bytes it buffered are counted by the budget's sources)
      if (open && unfinished > UNFINISHED_LINE_CHECK_BYTES) {
        const why = this.registry.memory.refusal();
        if (why) fatal(`memory budget exceeded by an unfinished line of ${formatMiB(unfinished)} (${why})`, 'other');
      }
    });
    resumeReading(socket); // handed over paused, the first line read (first-line.ts)
  }

  acceptWebSocket(ws: WebSocket, query: URLSearchParams, req: IncomingMessage, done: () => void = () => {}): void {
    const refusal = this.refuse();
    const handshake = this.handshakeTokens.get(req);
    query.delete(QMP_TOKEN_OPTION);
    const words = queryToWords(query);
    let open = true;
    let live: LiveSession | undefined;
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    void closed.then(done);
    const conn: Connection = {
      shutdown: (code = 1000, line) => {
        if (!open) return Promise.resolve();
        open = false;
        ws.resume(); // the endpoint may have paused it; the peer's close frame must get through
        // the request in flight ends first: the last line never cuts its reply short
        return quiesce(live, () => {
          if (line !== undefined && ws.readyState === ws.OPEN) ws.send(line);
          ws.close(code);
        });
      },
      destroy: () => ws.terminate(),
      closed,
      bufferedBytes: () => ws.bufferedAmount,
    };
    if (refusal) return this.refuseWebSocket(ws, refusal);
    if (handshake && 'error' in handshake) return this.refuseWebSocket(ws, handshake.error);
    const full = this.memoryRefusal();
    if (full) return this.refuseWebSocket(ws, full);
    ws.pause(); // messages wait in the socket until the session exists
    this.track(conn);
    const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    void this.registry
      .create(
        words,
        'websocket',
        peer,
        () => void conn.shutdown(),
        () => open && ws.readyState === ws.OPEN,
      )
      .then((r) => {
        if (!r.ok) return this.refuseWebSocket(ws, r.reason);
        const session = r.live;
        live = session;
        this.qmpTokens.issue(session, handshake && 'token' in handshake ? handshake.token : undefined);
        const idle = this.registry.idleTimer(() => {
          const why = `idle timeout: no request for ${Math.round(this.opts.idleTimeoutMs / 1000)} s`;
          this.log.info(
            { event: 'connection-timeout', transport: 'websocket', peer, session: session.id, why },
            'closing a connection',
          );
          void conn.shutdown(undefined, `FAIL ${why}; closing`);
          this.registry.close(session, why, 'idle-timeout');
        });
        ws.on('message', idle.touch);
        bindWebSocket(
          ws,
          (link) => gated(() => open, this.registry.attachQtestEndpoint(session, link)),
          'qtest',
          () => {
            idle.stop();
            this.registry.close(session, 'client disconnected', 'client');
          },
          this.log,
        );
        ws.resume();
      });
  }

  /** One `FAIL <reason>` message, then close 1008 (policy violation). */
  refuseWebSocket(ws: WebSocket, reason: string): void {
    ws.resume();
    ws.send(`FAIL ${reason}`);
    ws.close(1008, reason.slice(0, 120));
  }
}
