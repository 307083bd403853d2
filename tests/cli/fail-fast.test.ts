// A launch that fails, fails as QEMU 10.2.2 does: libqtest listens on its qtest and QMP sockets,
// the binary dials what QEMU dials before the failing phase (launch-plan.ts), then prints QEMU's
// error and exits 1, so the sockets see a connection and then EOF instead of a connect timeout.
// Each case runs on qtestd and, when available, on the oracle with the same argv.
import t from 'tap';
import type { Test } from 'tap';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnChild } from '../helpers/processes.js';
import { QTESTD_BINARY } from '../helpers/paths.js';
import { oracle, withOracle } from '../helpers/oracle.js';

interface Listener {
  server: Server;
  /** Everything received on the accepted connection once it reached EOF; undefined: no connection. */
  received: Promise<string> | undefined;
}

function listen(path: string): Promise<Listener> {
  return new Promise((ready) => {
    const l: Listener = { server: createServer(), received: undefined };
    l.server.once('connection', (s: Socket) => {
      l.server.close();
      let data = '';
      l.received = new Promise((done) => {
        s.setEncoding('latin1');
        s.on('data', (d: string) => (data += d));
        s.on('end', () => done(data));
        s.on('error', () => done(data));
      });
    });
    l.server.listen(path, () => ready(l));
  });
}

/** Two event-loop turns: a connection queued before the child exited has been accepted by then. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

interface Outcome {
  code: number | null;
  stderr: string;
  qtest?: string;
  qmp?: string;
}

async function run(binary: string, extra: string[]): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-failfast-'));
  try {
    const q = await listen(join(dir, 'q.sock'));
    const m = await listen(join(dir, 'q.qmp'));
    const argv = [
      '-qtest',
      `unix:${dir}/q.sock`,
      '-qtest-log',
      '/dev/null',
      '-chardev',
      `socket,path=${dir}/q.qmp,id=char0`,
      '-mon',
      'chardev=char0,mode=control',
      '-display',
      'none',
      '-audio',
      'none',
      ...extra,
      '-accel',
      'qtest',
    ];
    const child = spawnChild(binary, argv, { env: { ...process.env, QTESTD_NO_DAEMON: '1' } });
    const closed = new Promise((r) => child.proc.once('close', r)); // stdio drained, not just exited
    const st = await child.exit;
    await closed;
    await settle();
    q.server.close();
    m.server.close();
    return { code: st.code, stderr: child.stderr(), qtest: await q.received, qmp: await m.received };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const CASES: Array<{ name: string; extra: string[]; stderr: string; connected: Array<'qtest' | 'qmp'> }> = [
  {
    name: 'bad -device: both sockets connected first',
    extra: ['-machine', 'virt', '-device', 'edux'],
    stderr: "qemu-system-aarch64: -device edux: 'edux' is not a valid device model name\n",
    connected: ['qtest', 'qmp'],
  },
  {
    name: 'bad device property: both sockets connected first',
    extra: ['-machine', 'virt', '-device', 'edu,foo=1'],
    stderr: "qemu-system-aarch64: -device edu,foo=1: Property 'edu.foo' not found\n",
    connected: ['qtest', 'qmp'],
  },
  {
    name: 'unknown CPU model: both sockets connected first',
    extra: ['-machine', 'virt', '-cpu', 'bogus'],
    stderr: "qemu-system-aarch64: unable to find CPU model 'bogus'\n",
    connected: ['qtest', 'qmp'],
  },
  {
    name: 'bad machine property: only the -chardev (QMP) socket is dialled',
    extra: ['-machine', 'virt,foo=bar'],
    stderr: "qemu-system-aarch64: Property 'virt-10.2-machine.foo' not found\n",
    connected: ['qmp'],
  },
  {
    name: 'unknown machine type: nothing is dialled',
    extra: ['-machine', 'bogus'],
    stderr: 'qemu-system-aarch64: unsupported machine type: "bogus"\nUse -machine help to list supported machines\n',
    connected: [],
  },
];

function check(t: Test, o: Outcome, c: (typeof CASES)[number], isOracle: boolean): void {
  t.equal(o.code, 1, 'exit status 1');
  t.equal(o.stderr, c.stderr, "QEMU's error text");
  for (const which of ['qtest', 'qmp'] as const) {
    if (c.connected.includes(which)) {
      t.not(o[which], undefined, `${which} socket: connected, then EOF`);
      // QEMU's QMP greeting races its monitor thread against the exit; qtestd never sends it
      if (which === 'qtest' || !isOracle) t.equal(o[which], '', `${which}: nothing before EOF`);
    } else t.equal(o[which], undefined, `${which} socket: never dialled`);
  }
}

for (const c of CASES) {
  t.test(c.name, async (t) => {
    check(t, await run(QTESTD_BINARY, c.extra), c, false);
    await withOracle(t, 'the oracle does the same', async (tt) => {
      check(tt, await run(oracle!.binary, c.extra), c, true);
    });
  });
}
