/**
 * Safe defaults: the service listens on loopback only, its UNIX sockets are 0600 (and the run
 * directory 0700), QMP `quit` in service mode ends only that session, and every limit a client
 * controls (src/base/limits.ts) is enforced with a clear error. A new key in Limits without a check
 * here fails the test.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { DEFAULT_LIMITS } from '../../src/base/limits.js';
import type { Limits } from '../../src/base/limits.js';
import { DEFAULT_PLUGINS } from '../../src/machine/default-plugins.js';
import { defaultServiceOptions } from '../../src/service/service.js';
import { QmpEndpoint } from '../../src/protocol/qmp/endpoint.js';
import { FakeHost, fakeClock } from '../protocol/qmp/fake-host.js';
import { startQtestd } from '../service/fixtures/harness.js';
import { connectRaw } from '../helpers/hardening/drive.js';
import { Driver } from '../helpers/hardening/machine-driver.js';

t.setTimeout(300000);

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

t.test('defaultServiceOptions: loopback only, finite limits', async (t) => {
  const o = defaultServiceOptions(DEFAULT_PLUGINS, pino({ level: 'silent' }));
  t.ok(o.tcp === null || LOOPBACK.has(o.tcp.host), `qtest TCP on ${o.tcp?.host}`);
  t.ok(o.http === null || LOOPBACK.has(o.http.host), `HTTP/WebSocket on ${o.http?.host}`);
  t.ok(Number.isFinite(o.maxSessions) && o.maxSessions > 0, `max sessions ${o.maxSessions}`);
  t.ok(o.idleTimeoutMs > 0, `idle timeout ${o.idleTimeoutMs} ms`);
  for (const [k, v] of Object.entries(o.limits)) t.ok(Number.isFinite(v) && v > 0, `limit ${k} = ${v}`);
  t.ok(o.limits.maxTouchedRamBytes <= 1 << 30, 'service sessions get at most 1 GiB of touched RAM by default');
});

t.test(
  'the service: UNIX socket 0600, run dir 0700, session QMP sockets owner-only, QMP quit ends only its session',
  async (t) => {
    const q = await startQtestd();
    t.teardown(() => q.dispose());
    t.equal(statSync(q.unixPath).mode & 0o777, 0o600, `${q.unixPath} is 0600`);
    t.equal(statSync(q.runDir).mode & 0o777, 0o700, `${q.runDir} is 0700`);
    const a = await q.unix();
    const b = await q.unix();
    t.equal(await a.request('#!qtestd id=a'), 'OK');
    t.equal(await b.request('#!qtestd id=b'), 'OK');
    t.equal(await a.request('writeq 0x40000000 0x11'), 'OK');
    t.equal(await b.request('writeq 0x40000000 0x22'), 'OK');
    const qmpPath = join(q.runDir, 'a.qmp');
    const mode = statSync(qmpPath).mode & 0o777;
    // Connecting to a UNIX socket needs write permission on it: group/other must not have it. (The
    // per-session QMP sockets are created with the process umask, 0755 here, not 0600 like the qtest
    // socket: reported; the 0700 run directory is what keeps other users out.)
    t.equal(mode & 0o022, 0, `${qmpPath}: group/other cannot connect (mode ${mode.toString(8)})`);

    const qmp = await connectRaw(qmpPath);
    await qmp.until((d) => d.includes('\r\n'), 5000, 0);
    qmp.data = '';
    qmp.write('{"execute": "qmp_capabilities"}\n');
    await qmp.until((d) => d.includes('\r\n'), 5000, 0);
    if (qmp.data.includes('"return": {}') && !qmp.data.includes('QMP')) {
      qmp.data = '';
      qmp.write('{"execute": "quit"}\n');
      const got = await qmp.until((d) => d.includes('"return"'), 5000, 200);
      t.match(got, /"event": "SHUTDOWN".*"reason": "host-qmp-quit"/s, 'SHUTDOWN event');
      t.match(got, /\{"return": \{\}\}/, 'quit answered');
      const closed = await a.closed;
      t.ok(closed, 'session a ends (its qtest connection closes)');
      t.equal(await b.request('readq 0x40000000'), 'OK 0x0000000000000022', 'session b is unaffected');
      t.equal(await b.request('endianness'), 'OK little');
      const c = await q.unix();
      t.equal(await c.request('#!qtestd id=a'), 'OK', 'the id is free again');
      c.destroy();
    } else {
      t.fail(`QMP not wired in service mode: ${JSON.stringify(qmp.data)}`);
    }
    qmp.close();
    b.destroy();
  },
);

/** One enforcement check per client-controlled limit in src/base/limits.ts. */
const CHECKS: Record<keyof Limits, { small: number; check: (limit: number) => { got: string; want: RegExp } }> = {
  maxLineBytes: {
    small: 4096,
    check: (n) => {
      const d = new Driver(undefined, { maxLineBytes: n });
      return {
        got: d.raw(`write 0x40000000 0x1000 0x${'ab'.repeat(4096)}\nendianness\n`),
        want: new RegExp(`^FAIL line longer than ${n} bytes\\nOK little\\n$`),
      };
    },
  },
  maxTouchedRamBytes: {
    small: 1 << 20,
    check: (n) => {
      const d = new Driver(undefined, { maxTouchedRamBytes: n });
      return {
        got: d.raw('memset 0x40000000 0x200000 0x5a\nendianness\n'),
        want: new RegExp(`^FAIL guest RAM budget of ${n} bytes exceeded\\nOK little\\n$`),
      };
    },
  },
  maxTransferBytes: {
    small: 4096,
    check: (n) => {
      const d = new Driver(undefined, { maxTransferBytes: n });
      const got =
        ['read', 'b64read'].map((c) => d.raw(`${c} 0x40000000 ${n + 1}\n`)).join('') +
        d.raw(`memset 0x10000000 ${n + 1} 0\n`) +
        d.raw(`memset 0x40000000 ${n + 1} 0\n`).replace(/^OK\n$/, '') +
        d.raw(`write 0x40000000 ${n + 1} 0x00\n`) +
        d.raw(`b64write 0x40000000 ${n + 1} AAAA\n`);
      const line = (c: string) => `FAIL ${c}: size ${n + 1} exceeds the limit of ${n} bytes\\n`;
      return { got, want: new RegExp(`^${['read', 'b64read', 'memset', 'write', 'b64write'].map(line).join('')}$`) };
    },
  },
  requestWorkUnits: {
    small: 100_000,
    check: (n) => {
      const d = new Driver(undefined, { requestWorkUnits: n });
      return {
        got: d.raw('b64read 0x4010000000 0x100000\nendianness\n'),
        want: new RegExp(
          `^FAIL work budget exceeded: the request more than ${n} units of work [^\\n]*\\nOK little\\n$`,
        ),
      };
    },
  },
  requestWallMs: {
    small: 1,
    check: (n) => {
      // 16 MiB over ECAM: millions of register accesses, far longer than 1 ms
      const d = new Driver(undefined, { requestWallMs: n });
      return {
        got: d.raw('b64read 0x4010000000 0x1000000\nendianness\n'),
        want: new RegExp(`^FAIL work budget exceeded: the request ran longer than ${n} ms\\nOK little\\n$`),
      };
    },
  },
  maxQmpMessageBytes: {
    small: 1024,
    check: (n) => {
      const out: string[] = [];
      const ep = new QmpEndpoint({
        host: new FakeHost(),
        sink: (s) => (out.push(s), true),
        now: fakeClock(),
        limits: { maxQmpMessageBytes: n, maxJsonDepth: 64 },
      });
      ep.input(Buffer.from('{"execute": "qmp_capabilities"}\n'));
      ep.input(Buffer.from(`{"execute": "query-status", "id": "${'x'.repeat(n)}"}\n{"execute": "query-status"}\n`));
      return {
        got: out.slice(2).join(''),
        want: /JSON token size limit exceeded.*\{"return": \{"status": "running", "running": true\}\}/s,
      };
    },
  },
  maxJsonDepth: {
    small: 8,
    check: (n) => {
      const out: string[] = [];
      const ep = new QmpEndpoint({
        host: new FakeHost(),
        sink: (s) => (out.push(s), true),
        now: fakeClock(),
        limits: { maxQmpMessageBytes: 1 << 20, maxJsonDepth: n },
      });
      ep.input(Buffer.from('{"execute": "qmp_capabilities"}\n'));
      ep.input(Buffer.from(`${'['.repeat(n + 1)}${']'.repeat(n + 1)}\n{"execute": "query-status"}\n`));
      return {
        got: out.slice(2).join(''),
        want: /^\{"error": \{"class": "GenericError", "desc": "JSON nesting depth limit exceeded"\}\}\r\n.*\{"return": \{"status": "running", "running": true\}\}\r\n$/s,
      };
    },
  },
};

t.test('every limit in src/base/limits.ts is enforced with a clear error, and the session carries on', async (t) => {
  t.same(Object.keys(CHECKS).sort(), Object.keys(DEFAULT_LIMITS).sort(), 'a check for every Limits key');
  for (const [name, c] of Object.entries(CHECKS)) {
    const { got, want } = c.check(c.small);
    t.match(got, want, `${name}: enforced at ${c.small}`);
  }
});
