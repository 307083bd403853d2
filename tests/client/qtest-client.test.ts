import t from 'tap';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { QtestClient, QtestError } from '../../src/client/qtest-client.js';
import type { ClientTransport, TransportChunk } from '../../src/client/transport.js';

// ---- a fake qtest server with deterministic replies --------------------------------------

const M64 = (1n << 64n) - 1n;
/** Deterministic "memory contents" for readX: a multiplicative hash of the address. */
const valueAt = (addr: bigint): bigint => (addr * 0x9e3779b97f4a7c15n) & M64;
/** Byte i of a `read`: low byte of addr + i. */
const byteAt = (addr: bigint, i: number): number => Number((addr + BigInt(i)) & 0xffn);

class FakeQtestServer {
  readonly requests: string[] = [];
  readonly irqTable = new Map<number, boolean>();
  irqLinesSent = 0;
  private replies = 0;
  private seed = 12345;
  clockNs = 0n;
  constructor(
    /** Inject an IRQ line before every Nth reply (0 = never). */
    private readonly irqEvery = 7,
    /** Write output in pseudo-random chunk sizes. */
    private readonly chopOutput = true,
  ) {}

  private rand(n: number): number {
    this.seed = (this.seed * 1103515245 + 12345) & 0x7fffffff;
    return this.seed % n;
  }

  /** Reply text (possibly with IRQ lines before it) for one request line. */
  answer(line: string): string | null {
    this.requests.push(line);
    const w = line.split(' ');
    let reply: string;
    const width: Record<string, bigint> = { readb: 0xffn, readw: 0xffffn, readl: 0xffffffffn, readq: M64 };
    if (w[0] in width) reply = 'OK 0x' + (valueAt(BigInt(w[1])) & width[w[0]]).toString(16).padStart(16, '0');
    else if (w[0] === 'read') {
      const a = BigInt(w[1]);
      const n = Number(w[2]);
      reply = 'OK 0x' + Buffer.from(Array.from({ length: n }, (_, i) => byteAt(a, i))).toString('hex');
    } else if (w[0] === 'b64read') {
      const a = BigInt(w[1]);
      const n = Number(w[2]);
      reply = 'OK ' + Buffer.from(Array.from({ length: n }, (_, i) => byteAt(a, i))).toString('base64');
    } else if (w[0] === 'clock_step') {
      if (w.length === 1) reply = 'FAIL cannot advance clock to the next deadline because there is no pending deadline';
      else {
        this.clockNs += BigInt(w[1]);
        reply = `OK ${this.clockNs}`;
      }
    } else if (w[0] === 'clock_set') reply = `OK ${w[1]}`;
    else if (w[0] === 'inb') reply = 'OK 0x00ff';
    else if (w[0] === 'inw') reply = 'OK 0xffff';
    else if (w[0] === 'inl') reply = 'OK 0xffffffff';
    else if (w[0] === 'endianness') reply = 'OK little';
    else if (w[0] === 'die') return null;
    else if (w[0] === 'fail') reply = "FAIL Unknown command 'fail'";
    else if (w[0] === 'raise') {
      // raise N: an explicit IRQ line then OK
      const n = Number(w[1]);
      this.irqTable.set(n, true);
      this.irqLinesSent++;
      return `IRQ raise ${n}\nOK\n`;
    } else reply = 'OK';
    this.replies++;
    let prefix = '';
    if (this.irqEvery > 0 && this.replies % this.irqEvery === 0) {
      const n = this.replies % 256;
      const level = !(this.irqTable.get(n) ?? false);
      this.irqTable.set(n, level);
      this.irqLinesSent++;
      prefix = `IRQ ${level ? 'raise' : 'lower'} ${n}\n`;
    }
    return prefix + reply + '\n';
  }

  /** Serve one byte-stream connection. */
  serve(sock: Socket): void {
    let partial = '';
    let out = '';
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      while (out.length > 0 && !sock.destroyed) {
        const n = this.chopOutput ? 1 + this.rand(Math.min(out.length, 97)) : out.length;
        sock.write(out.slice(0, n), 'latin1');
        out = out.slice(n);
      }
    };
    sock.on('data', (b: Buffer) => {
      const text = partial + b.toString('latin1');
      const lines = text.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const r = this.answer(line);
        if (r === null) {
          flush();
          sock.destroy();
          return;
        }
        out += r;
      }
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
    sock.on('error', () => undefined);
  }
}

async function listenUnix(fake: FakeQtestServer): Promise<{ path: string; server: Server; done(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-client-'));
  const path = join(dir, 'qtest.sock');
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    fake.serve(s);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    path,
    server,
    done: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- tests -----------------------------------------------------------------------------

t.test('formats every request exactly as libqtest does (§1.3)', async (t) => {
  const fake = new FakeQtestServer(0, false);
  const srv = await listenUnix(fake);
  t.teardown(srv.done);
  const c = await QtestClient.connectUnix(srv.path);
  t.teardown(() => c.close());
  await Promise.all([
    c.readb(0x1000n),
    c.readw(0x4010000000n),
    c.readl(0x4010000000n),
    c.readq(0xabcdefn),
    c.writeb(0x10n, 0x1ffn),
    c.writew(0x12n, 0xbeefn),
    c.writel(0x9050020n, 0n),
    c.writeq(0x9050090n, 0x4e16b00an),
    c.writeq(0x40000000n, 0xdeadbeefcafef00dn),
    c.write(0x4010008004n, Uint8Array.of(0x07, 0x00)),
    c.read(0x4010000000n, 2),
    c.b64read(0x40000000n, 4),
    c.b64write(0x40000000n, Uint8Array.of(0x78, 0x56, 0x34, 0x12)),
    c.memset(0x4ecba567n, 4, 0),
    c.memset(0x40000000n, 0x1000, 0xab),
    c.clockStep(1000000n),
    c.clockSet(5_000_000),
    c.outb(0x10, 0x1ff),
    c.outw(0x20, 0xabcd),
    c.outl(0x30, 0xdeadbeef),
    c.inb(0),
    c.inw(0x20),
    c.inl(0xffff),
    c.irqInterceptIn('/machine/unattached/device[0]'),
    c.irqInterceptOut('/machine/smmu'),
    c.irqInterceptOut('/machine/smmu', 'sysbus-irq'),
    c.setIrqIn('/machine/x', 'unnamed-gpio-in', 3, 1),
    c.setIrqIn('/machine/x', 'unnamed-gpio-in', 4, false),
    c.endianness(),
    c.read(0x40000000n, 0),
    c.write(0x40000000n, new Uint8Array(0)),
  ]);
  t.same(fake.requests, [
    'readb 0x1000',
    'readw 0x4010000000',
    'readl 0x4010000000',
    'readq 0xabcdef',
    'writeb 0x10 0xff',
    'writew 0x12 0xbeef',
    'writel 0x9050020 0x0',
    'writeq 0x9050090 0x4e16b00a',
    'writeq 0x40000000 0xdeadbeefcafef00d',
    'write 0x4010008004 0x2 0x0700',
    'read 0x4010000000 0x2',
    'b64read 0x40000000 0x4',
    'b64write 0x40000000 0x4 eFY0Eg==',
    'memset 0x4ecba567 0x4 0x00',
    'memset 0x40000000 0x1000 0xab',
    'clock_step 1000000',
    'clock_set 5000000',
    'outb 0x10 0xff',
    'outw 0x20 0xabcd',
    'outl 0x30 0xdeadbeef',
    'inb 0x0',
    'inw 0x20',
    'inl 0xffff',
    'irq_intercept_in /machine/unattached/device[0]',
    'irq_intercept_out /machine/smmu',
    'irq_intercept_out /machine/smmu sysbus-irq',
    'set_irq_in /machine/x unnamed-gpio-in 3 1',
    'set_irq_in /machine/x unnamed-gpio-in 4 0',
    'endianness',
  ]);
  await t.rejects(c.readl(-1n), RangeError);
  await t.rejects(c.readl(1n << 64n), RangeError);
  await t.rejects(c.raw('a\nb'), TypeError);
});

t.test('decodes replies into typed values', async (t) => {
  const fake = new FakeQtestServer(0, true);
  const srv = await listenUnix(fake);
  t.teardown(srv.done);
  const c = await QtestClient.connectUnix(srv.path);
  t.teardown(() => c.close());
  t.equal(await c.readb(0x1234n), valueAt(0x1234n) & 0xffn);
  t.equal(await c.readq(0x1234n), valueAt(0x1234n));
  t.same([...(await c.read(0x40000000n, 4))], [0x00, 0x01, 0x02, 0x03]);
  t.same([...(await c.b64read(0x400000fen, 3))], [0xfe, 0xff, 0x00]);
  t.same([...(await c.b64read(0x400000fen, 0))], [], 'b64read size 0: reply "OK " with trailing space');
  t.equal(await c.inb(0), 0xff);
  t.equal(await c.inl(0), 0xffffffff);
  t.equal(await c.clockStep(10n), 10n);
  t.equal(await c.clockStep(15), 25n);
  t.equal(await c.clockSet(100n), 100n);
  t.equal(await c.endianness(), 'little');
});

t.test('rejects non-OK replies with QtestError carrying the line; raw() returns them', async (t) => {
  const fake = new FakeQtestServer(0, true);
  const srv = await listenUnix(fake);
  t.teardown(srv.done);
  const c = await QtestClient.connectUnix(srv.path);
  t.teardown(() => c.close());
  const e = await c.clockStep().then(
    () => null,
    (err: unknown) => err,
  );
  t.ok(e instanceof QtestError);
  t.equal(
    (e as QtestError).line,
    'FAIL cannot advance clock to the next deadline because there is no pending deadline',
  );
  t.equal((e as QtestError).request, 'clock_step');
  t.equal(await c.raw('fail'), "FAIL Unknown command 'fail'");
  t.equal(await c.raw('endianness'), 'OK little');
  t.equal(await c.readl(0x10n), valueAt(0x10n) & 0xffffffffn, 'replies stay in step after a failure');
});

t.test('pipelines 10,000 requests over a UNIX socket with IRQ lines interleaved', async (t) => {
  const fake = new FakeQtestServer(7, true);
  const srv = await listenUnix(fake);
  t.teardown(srv.done);
  const c = await QtestClient.connectUnix(srv.path);
  t.teardown(() => c.close());
  const irqEvents: Array<[number, boolean]> = [];
  c.on('irq', (n, level) => irqEvents.push([n, level]));
  const N = 10_000;
  const jobs: Promise<boolean>[] = [];
  for (let i = 0; i < N; i++) {
    const addr = 0x40000000n + BigInt(i) * 0x1000n + BigInt(i % 13);
    switch (i % 5) {
      case 0:
        jobs.push(c.readq(addr).then((v) => v === valueAt(addr)));
        break;
      case 1:
        jobs.push(c.readl(addr).then((v) => v === (valueAt(addr) & 0xffffffffn)));
        break;
      case 2:
        jobs.push(
          c.read(addr, 1 + (i % 9)).then((b) => b.every((x, k) => x === byteAt(addr, k)) && b.length === 1 + (i % 9)),
        );
        break;
      case 3:
        jobs.push(c.b64read(addr, i % 7).then((b) => b.every((x, k) => x === byteAt(addr, k)) && b.length === i % 7));
        break;
      default:
        jobs.push(c.writel(addr, BigInt(i)).then(() => true));
    }
  }
  t.equal(c.inFlight, N);
  const ok = await Promise.all(jobs);
  t.equal(ok.filter((x) => !x).length, 0, 'every reply matched its request');
  t.equal(fake.requests.length, N);
  t.equal(c.inFlight, 0);
  t.equal(irqEvents.length, fake.irqLinesSent, 'every IRQ line became an event');
  t.ok(fake.irqLinesSent > 1000);
  let mismatches = 0;
  for (let n = 0; n < 256; n++) if (c.getIrq(n) !== (fake.irqTable.get(n) ?? false)) mismatches++;
  t.equal(mismatches, 0, 'IRQ table equals the server state');
});

t.test('queryIrq flushes with inb 0x0 like qtest_get_irq', async (t) => {
  const fake = new FakeQtestServer(0, true);
  const srv = await listenUnix(fake);
  t.teardown(srv.done);
  const c = await QtestClient.connectUnix(srv.path);
  t.teardown(() => c.close());
  t.equal(c.getIrq(42), false);
  await c.raw('raise 42');
  t.equal(c.getIrq(42), true);
  t.equal(await c.queryIrq(42), true);
  t.equal(fake.requests.at(-1), 'inb 0x0');
});

t.test('connection loss rejects every pending request and later ones', async (t) => {
  const fake = new FakeQtestServer(0, true);
  const srv = await listenUnix(fake);
  t.teardown(srv.done);
  const c = await QtestClient.connectUnix(srv.path);
  let closed = false;
  c.on('close', () => (closed = true));
  const before = c.readl(0x100n);
  const dying = c.raw('die');
  const after = Array.from({ length: 50 }, (_, i) => c.readq(BigInt(i)));
  t.equal(await before, valueAt(0x100n) & 0xffffffffn);
  await t.rejects(dying, QtestError);
  const results = await Promise.allSettled(after);
  t.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof QtestError));
  t.ok(closed);
  t.ok(c.closed);
  await t.rejects(c.readl(0n), /closed/);
});

t.test('runs over a hand-made transport and reports stray lines', async (t) => {
  let onData: (c: TransportChunk) => void = () => undefined;
  let onClose: (e?: Error) => void = () => undefined;
  const sent: string[] = [];
  const transport: ClientTransport = {
    write: (text) => {
      sent.push(text);
    },
    onData: (cb) => (onData = cb),
    onClose: (cb) => (onClose = cb),
    close: () => onClose(),
  };
  const c = new QtestClient(transport);
  const problems: string[] = [];
  c.on('protocolError', (line, reason) => problems.push(`${reason}: ${line}`));
  onData('OK stray\n');
  const a = c.readl(0x10n);
  const b = c.endianness();
  await new Promise((r) => setImmediate(r));
  t.same(sent, ['readl 0x10\nendianness\n'], 'requests of one tick go out in one write');
  onData('OK 0x00000000');
  onData('0000002a\nIRQ raise 1\nIRQ bogus\nOK big\n');
  t.equal(await a, 0x2an);
  t.equal(await b, 'big');
  t.equal(c.getIrq(1), true);
  t.same(problems, ['reply with no request waiting: OK stray', 'malformed IRQ line: IRQ bogus']);
  const pending = c.readl(0n);
  c.close();
  await t.rejects(pending, QtestError);
});

t.test('works over a WebSocket: one message per line, or several lines per message', async (t) => {
  const fake = new FakeQtestServer(3, false);
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  t.teardown(() => new Promise<void>((r) => wss.close(() => r())));
  const received: string[] = [];
  let toggle = false;
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const text = data.toString();
      received.push(text);
      for (const line of text.split('\n').filter((l) => l !== '')) {
        const reply = fake.answer(line)!;
        toggle = !toggle;
        if (toggle) ws.send(reply);
        else for (const l of reply.split('\n').filter((x) => x !== '')) ws.send(l);
      }
    });
  });
  const port = (wss.address() as AddressInfo).port;
  const c = await QtestClient.connectWebSocket(`ws://127.0.0.1:${port}/qtest`);
  t.teardown(() => c.close());
  let irqs = 0;
  c.on('irq', () => irqs++);
  const values = await Promise.all(Array.from({ length: 100 }, (_, i) => c.readq(BigInt(i * 8))));
  t.ok(values.every((v, i) => v === valueAt(BigInt(i * 8))));
  t.equal(irqs, fake.irqLinesSent);
  t.equal(received[0], 'readq 0x0', 'each request is its own message, without its newline');
  t.equal(received.length, 100);
});

t.test('connects over TCP', async (t) => {
  const fake = new FakeQtestServer(0, true);
  const server = createServer((s) => fake.serve(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = await QtestClient.connectTcp('127.0.0.1', (server.address() as AddressInfo).port);
  t.teardown(() => {
    c.close();
    return new Promise<void>((r) => server.close(() => r()));
  });
  t.equal(await c.readw(0x40n), valueAt(0x40n) & 0xffffn);
  await t.rejects(QtestClient.connectTcp('127.0.0.1', 1), /ECONNREFUSED/);
});
