// Over 400 lines: libqtest's whole request API on one class (one method per qtest verb) around one request queue.
/**
 * Typed qtest client (protocol/qtest.md): formats requests as libqtest does (docs/libqtest.md),
 * pipelines any number of them and matches replies in order, consumes `IRQ raise|lower N` lines
 * into an IRQ table and 'irq' events (protocol/qtest.md#framing), and rejects non-OK replies with QtestError. Runs over
 * any ClientTransport (UNIX, TCP, WebSocket or hand-made). 64-bit quantities are bigints; port
 * I/O values (≤ 32 bits) are numbers. Does not retry or reconnect; with `requestTimeoutMs` a request
 * that gets no reply in time is rejected (its late reply is still matched to it, then dropped).
 * Against qtestd over TCP/UNIX, `session` sends the `#!qtestd` first line (machine, id) before anything.
 */
import { EventEmitter } from 'node:events';
import { QtestReplyParser } from './qtest-reply-parser.js';
import type { QtestMessage } from './qtest-reply-parser.js';
import {
  connectTcpSocket,
  connectUnixSocket,
  connectWebSocketTransport,
  newQmpToken,
  QMP_TOKEN_HEADER,
  QMP_TOKEN_OPTION,
  qtestdFirstLine,
  socketTransport,
  withRequestTimeout,
} from './transport.js';
import type { ClientTransport, TransportChunk } from './transport.js';

/** A reply that was not `OK…`, a malformed reply, or a lost connection. */
export class QtestError extends Error {
  constructor(
    message: string,
    /** The offending reply line (undefined when the connection was lost). */
    readonly line: string | undefined,
    /** The request line it answered. */
    readonly request: string | undefined,
  ) {
    super(message);
    this.name = 'QtestError';
  }
}

interface Pending {
  request: string;
  resolve(line: string): void;
  reject(e: Error): void;
}

const U64_MAX = (1n << 64n) - 1n;

function hex(v: bigint | number): string {
  return '0x' + v.toString(16);
}

function checkU64(name: string, v: bigint): bigint {
  if (typeof v !== 'bigint') throw new TypeError(`${name} must be a bigint`);
  if (v < 0n || v > U64_MAX) throw new RangeError(`${name} ${v} is outside 0..2^64-1`);
  return v;
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`port ${port} is outside 0..0xffff`);
  return port;
}

function bytesToHex(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex');
}

export type Endianness = 'little' | 'big';

export interface QtestClientOptions {
  /** Reject a request with QtestError when its reply has not come after this many ms (default: never). */
  requestTimeoutMs?: number;
}

export interface QtestConnectOptions extends QtestClientOptions {
  /**
   * qtestd only, TCP/UNIX: the words of a `#!qtestd` first line, e.g. `id=job1 -device edu` (the
   * WebSocket endpoint takes them as a URL query instead). A refusal rejects the connect.
   */
  session?: string | readonly string[];
}

/** A `#!qtestd` line's words with a `qmp-token=` word (a fresh token unless it has one), and the token. */
function withTokenWord(session: string | readonly string[]): { words: string | string[]; token: string } {
  const text = typeof session === 'string' ? session : session.join(' ');
  const given = new RegExp(`(?:^|\\s)${QMP_TOKEN_OPTION}=(\\S+)`).exec(text);
  if (given) return { words: typeof session === 'string' ? session : [...session], token: given[1]! };
  const token = newQmpToken();
  const word = `${QMP_TOKEN_OPTION}=${token}`;
  return { words: typeof session === 'string' ? `${session} ${word}` : [...session, word], token };
}

/**
 * Memory attributes of an access (qtestd's qtest extension, protocol/qtest.md "Memory
 * attributes"): sent as a trailing word. `secure` and `space=secure`/`space=root` use the
 * machine's Secure view (`-machine virt,secure=on`); the server answers `ERR …` (a QtestError here)
 * when the access fails or the view does not exist.
 */
export type QtestAttrs = 'secure' | 'space=non-secure' | 'space=secure' | 'space=root' | 'space=realm';

const ATTRS = new Set<string>(['secure', 'space=non-secure', 'space=secure', 'space=root', 'space=realm']);

/** ' ATTRS' or '' (checked: a wrong word would be a different request). */
function sfx(attrs: QtestAttrs | undefined): string {
  if (attrs === undefined) return '';
  if (!ATTRS.has(attrs)) throw new RangeError(`attrs '${attrs}' is not one of ${[...ATTRS].join(', ')}`);
  return ' ' + attrs;
}

export interface QtestClientEvents {
  /** An `IRQ raise|lower N` line (only level changes are sent by the server). */
  irq: [n: number, level: boolean];
  /** The connection ended; pending requests have been rejected. */
  close: [error: Error | undefined];
  /** A line that fits nowhere: a reply with no request waiting, or a malformed IRQ line. */
  protocolError: [line: string, reason: string];
  /** A request was rejected by `requestTimeoutMs` (its reply may still come, and is dropped). */
  timeout: [request: string];
}

export class QtestClient extends EventEmitter<QtestClientEvents> {
  private readonly parser = new QtestReplyParser();
  private readonly pending: Pending[] = [];
  private pendingHead = 0;
  private readonly irqLevels = new Map<number, boolean>();
  private outBuffer = '';
  private flushScheduled = false;
  private closedError: QtestError | undefined;

  private readonly requestTimeoutMs: number | undefined;
  /**
   * qtestd: the token that opens this session's QMP over WebSocket (`QmpClient.connectWebSocket(url,
   * { token })`): told in the WebSocket handshake, or chosen by this client on its `#!qtestd` line.
   * Undefined when not known (a plain QEMU, or a TCP/UNIX connection without `session`).
   */
  qmpToken: string | undefined;

  constructor(
    private readonly transport: ClientTransport,
    options: QtestClientOptions = {},
  ) {
    super();
    this.requestTimeoutMs = options.requestTimeoutMs;
    transport.onData((chunk) => this.onData(chunk));
    transport.onClose?.((e) => this.onClosed(e));
  }

  static async connectUnix(path: string, options: QtestConnectOptions = {}): Promise<QtestClient> {
    return QtestClient.greeted(new QtestClient(socketTransport(await connectUnixSocket(path)), options), options);
  }

  static async connectTcp(host: string, port: number, options: QtestConnectOptions = {}): Promise<QtestClient> {
    return QtestClient.greeted(new QtestClient(socketTransport(await connectTcpSocket(host, port)), options), options);
  }

  /** One text message per request line; replies may come one per message or several per message. */
  static async connectWebSocket(url: string, options: QtestClientOptions = {}): Promise<QtestClient> {
    const transport = await connectWebSocketTransport(url, '\n');
    const c = new QtestClient(transport, options);
    const token = transport.headers?.[QMP_TOKEN_HEADER];
    if (typeof token === 'string') c.qmpToken = token;
    return c;
  }

  /** Send the `#!qtestd` first line when asked; a refusal (anything but OK) closes and rejects. */
  private static async greeted(c: QtestClient, options: QtestConnectOptions): Promise<QtestClient> {
    if (options.session === undefined) return c;
    const { words, token } = withTokenWord(options.session);
    const line = qtestdFirstLine(words);
    let reply: string;
    try {
      reply = await c.raw(line);
    } catch (e) {
      c.close();
      throw e;
    }
    if (reply !== 'OK') {
      c.close();
      throw new QtestError(`qtestd refused the session: ${reply}`, reply, line);
    }
    c.qmpToken = token;
    return c;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.length - this.pendingHead;
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Close the transport; pending requests are rejected. */
  close(): void {
    this.flush();
    this.transport.close();
    this.onClosed(undefined);
  }

  // ---- raw request machinery -------------------------------------------------------------

  /**
   * Send one request line (no '\n') and resolve with the reply line, whatever its first word
   * (FAIL and ERR lines resolve too). Use this to test error replies.
   */
  raw(line: string): Promise<string> {
    if (line.includes('\n')) return Promise.reject(new TypeError('a qtest request must not contain a newline'));
    if (this.closedError) return Promise.reject(new QtestError(this.closedError.message, undefined, line));
    return withRequestTimeout(this.send(line), this.requestTimeoutMs, () => {
      const e = new QtestError(`qtest '${line}': no reply within ${this.requestTimeoutMs} ms`, undefined, line);
      this.emit('timeout', line);
      return e;
    });
  }

  private send(line: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.pending.push({ request: line, resolve, reject });
      this.outBuffer += line + '\n';
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  /** Send a request; resolve with the words after `OK` or reject with QtestError. */
  private async ok(line: string, minWords = 0): Promise<string[]> {
    const reply = await this.raw(line);
    const words = reply.split(' ');
    if (words[0] !== 'OK') throw new QtestError(`qtest '${line}' failed: ${reply}`, reply, line);
    const rest = words.slice(1);
    if (rest.length < minWords) throw new QtestError(`qtest '${line}': short reply '${reply}'`, reply, line);
    return rest;
  }

  private async okValue(line: string): Promise<bigint> {
    const [word] = await this.ok(line, 1);
    try {
      return BigInt(word);
    } catch {
      throw new QtestError(`qtest '${line}': bad number '${word}'`, `OK ${word}`, line);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outBuffer === '' || this.closedError) {
      this.outBuffer = '';
      return;
    }
    const text = this.outBuffer;
    this.outBuffer = '';
    this.transport.write(text);
  }

  private onData(chunk: TransportChunk): void {
    for (const m of this.parser.push(chunk)) this.dispatch(m);
  }

  private dispatch(m: QtestMessage): void {
    if (m.kind === 'irq') {
      this.irqLevels.set(m.n, m.level);
      this.emit('irq', m.n, m.level);
      return;
    }
    if (m.kind === 'bad-irq') {
      this.emit('protocolError', m.line, 'malformed IRQ line');
      return;
    }
    if (this.pendingHead >= this.pending.length) {
      this.emit('protocolError', m.line, 'reply with no request waiting');
      return;
    }
    const p = this.pending[this.pendingHead++];
    if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
    p.resolve(m.line);
  }

  private onClosed(error: Error | undefined): void {
    if (this.closedError) return;
    this.closedError = new QtestError(
      `qtest connection closed${error ? `: ${error.message}` : ''}`,
      undefined,
      undefined,
    );
    const waiting = this.pending.splice(this.pendingHead);
    this.pending.length = 0;
    this.pendingHead = 0;
    for (const p of waiting) p.reject(new QtestError(this.closedError.message, undefined, p.request));
    this.emit('close', error);
  }

  // ---- IRQ table -------------------------------------------------------------------------

  /** Last level reported for IRQ n (false if never reported). Does not flush; see queryIrq. */
  getIrq(n: number): boolean {
    return this.irqLevels.get(n) ?? false;
  }

  /** Like qtest_get_irq: send `inb 0x0` so pending IRQ lines arrive, then read the table. */
  async queryIrq(n: number): Promise<boolean> {
    await this.inb(0);
    return this.getIrq(n);
  }

  // ---- memory ----------------------------------------------------------------------------

  async readb(addr: bigint, attrs?: QtestAttrs): Promise<bigint> {
    return (await this.okValue(`readb ${hex(checkU64('addr', addr))}${sfx(attrs)}`)) & 0xffn;
  }
  async readw(addr: bigint, attrs?: QtestAttrs): Promise<bigint> {
    return (await this.okValue(`readw ${hex(checkU64('addr', addr))}${sfx(attrs)}`)) & 0xffffn;
  }
  async readl(addr: bigint, attrs?: QtestAttrs): Promise<bigint> {
    return (await this.okValue(`readl ${hex(checkU64('addr', addr))}${sfx(attrs)}`)) & 0xffffffffn;
  }
  async readq(addr: bigint, attrs?: QtestAttrs): Promise<bigint> {
    return (await this.okValue(`readq ${hex(checkU64('addr', addr))}${sfx(attrs)}`)) & U64_MAX;
  }

  /** Values are truncated to the access width, as libqtest's C parameter types do. */
  async writeb(addr: bigint, value: bigint, attrs?: QtestAttrs): Promise<void> {
    await this.ok(`writeb ${hex(checkU64('addr', addr))} ${hex(BigInt.asUintN(8, value))}${sfx(attrs)}`);
  }
  async writew(addr: bigint, value: bigint, attrs?: QtestAttrs): Promise<void> {
    await this.ok(`writew ${hex(checkU64('addr', addr))} ${hex(BigInt.asUintN(16, value))}${sfx(attrs)}`);
  }
  async writel(addr: bigint, value: bigint, attrs?: QtestAttrs): Promise<void> {
    await this.ok(`writel ${hex(checkU64('addr', addr))} ${hex(BigInt.asUintN(32, value))}${sfx(attrs)}`);
  }
  async writeq(addr: bigint, value: bigint, attrs?: QtestAttrs): Promise<void> {
    await this.ok(`writeq ${hex(checkU64('addr', addr))} ${hex(BigInt.asUintN(64, value))}${sfx(attrs)}`);
  }

  /** `read ADDR SIZE` (hex reply). Size 0 sends nothing, as libqtest. */
  async read(addr: bigint, size: number, attrs?: QtestAttrs): Promise<Uint8Array> {
    checkU64('addr', addr);
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`size ${size} is not a non-negative integer`);
    if (size === 0) return new Uint8Array(0);
    const line = `read ${hex(addr)} ${hex(size)}${sfx(attrs)}`;
    const [word] = await this.ok(line, 1);
    if (!/^0x[0-9a-fA-F]*$/.test(word) || word.length !== 2 + 2 * size) {
      throw new QtestError(`qtest '${line}': expected 0x + ${2 * size} hex digits, got '${word}'`, `OK ${word}`, line);
    }
    return new Uint8Array(Buffer.from(word.slice(2), 'hex'));
  }

  /** `write ADDR SIZE 0xHEX`. Empty data sends nothing, as libqtest. */
  async write(addr: bigint, data: Uint8Array, attrs?: QtestAttrs): Promise<void> {
    checkU64('addr', addr);
    if (data.length === 0) return;
    await this.ok(`write ${hex(addr)} ${hex(data.length)} 0x${bytesToHex(data)}${sfx(attrs)}`);
  }

  async b64read(addr: bigint, size: number, attrs?: QtestAttrs): Promise<Uint8Array> {
    checkU64('addr', addr);
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`size ${size} is not a non-negative integer`);
    const line = `b64read ${hex(addr)} ${hex(size)}${sfx(attrs)}`;
    const [word] = await this.ok(line, 1);
    const out = new Uint8Array(Buffer.from(word, 'base64'));
    if (out.length !== size) throw new QtestError(`qtest '${line}': decoded ${out.length} bytes`, `OK ${word}`, line);
    return out;
  }

  async b64write(addr: bigint, data: Uint8Array, attrs?: QtestAttrs): Promise<void> {
    checkU64('addr', addr);
    const b64 = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
    await this.ok(`b64write ${hex(addr)} ${hex(data.length)} ${b64}${sfx(attrs)}`);
  }

  async memset(addr: bigint, size: number, byte: number, attrs?: QtestAttrs): Promise<void> {
    checkU64('addr', addr);
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`size ${size} is not a non-negative integer`);
    await this.ok(`memset ${hex(addr)} ${hex(size)} 0x${(byte & 0xff).toString(16).padStart(2, '0')}${sfx(attrs)}`);
  }

  // ---- clock -----------------------------------------------------------------------------

  /** `clock_step [NS]`: advance by NS, or to the next deadline; resolves with the new time. */
  async clockStep(ns?: bigint | number): Promise<bigint> {
    return this.okValue(ns === undefined ? 'clock_step' : `clock_step ${BigInt(ns).toString(10)}`);
  }

  /** `clock_set NS`: advance to absolute NS; resolves with the new time. */
  async clockSet(ns: bigint | number): Promise<bigint> {
    return this.okValue(`clock_set ${BigInt(ns).toString(10)}`);
  }

  // ---- port I/O --------------------------------------------------------------------------

  private async inX(cmd: string, port: number, mask: number): Promise<number> {
    const v = await this.okValue(`${cmd} ${hex(checkPort(port))}`);
    return Number(v & BigInt(mask)) >>> 0;
  }
  inb(port: number): Promise<number> {
    return this.inX('inb', port, 0xff);
  }
  inw(port: number): Promise<number> {
    return this.inX('inw', port, 0xffff);
  }
  inl(port: number): Promise<number> {
    return this.inX('inl', port, 0xffffffff);
  }
  private async outX(cmd: string, port: number, value: number, mask: number): Promise<void> {
    await this.ok(`${cmd} ${hex(checkPort(port))} ${hex(Number(BigInt(Math.trunc(value)) & BigInt(mask)))}`);
  }
  outb(port: number, value: number): Promise<void> {
    return this.outX('outb', port, value, 0xff);
  }
  outw(port: number, value: number): Promise<void> {
    return this.outX('outw', port, value, 0xffff);
  }
  outl(port: number, value: number): Promise<void> {
    return this.outX('outl', port, value, 0xffffffff);
  }

  // ---- IRQ interception and misc ---------------------------------------------------------

  async irqInterceptIn(qomPath: string): Promise<void> {
    await this.ok(`irq_intercept_in ${qomPath}`);
  }

  async irqInterceptOut(qomPath: string, name?: string): Promise<void> {
    await this.ok(name === undefined ? `irq_intercept_out ${qomPath}` : `irq_intercept_out ${qomPath} ${name}`);
  }

  /** `set_irq_in PATH NAME N LEVEL`; NAME `unnamed-gpio-in` is the unnamed list. */
  async setIrqIn(qomPath: string, name: string, n: number, level: number | boolean): Promise<void> {
    const lvl = typeof level === 'boolean' ? (level ? 1 : 0) : Math.trunc(level);
    await this.ok(`set_irq_in ${qomPath} ${name} ${Math.trunc(n)} ${lvl}`);
  }

  async endianness(): Promise<Endianness> {
    const [word] = await this.ok('endianness', 1);
    if (word !== 'little' && word !== 'big')
      throw new QtestError(`unexpected endianness '${word}'`, `OK ${word}`, 'endianness');
    return word;
  }
}
