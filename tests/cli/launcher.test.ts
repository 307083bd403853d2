// The drop-in launcher as libqtest drives it: the test listens, we dial both sockets, answer
// `endianness` before QMP, and exit 0 on SIGTERM while the sockets stay open.
import t from 'tap';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const BIN = resolve('bin/qemu-system-aarch64');

function listenOnce(path: string): { server: Server; accepted: Promise<Socket> } {
  let done!: (s: Socket) => void;
  const accepted = new Promise<Socket>((r) => (done = r));
  const server = createServer((s) => {
    server.close();
    done(s);
  });
  server.listen(path);
  return { server, accepted };
}

function readLine(sock: Socket): Promise<string> {
  return new Promise((res) => {
    let buf = '';
    const on = (d: Buffer) => {
      buf += d.toString('latin1');
      const i = buf.indexOf('\n');
      if (i >= 0) {
        sock.off('data', on);
        res(buf.slice(0, i + 1));
      }
    };
    sock.on('data', on);
  });
}

t.test('libqtest-style launch, handshake and SIGTERM teardown', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-launch-'));
  const q = listenOnce(join(dir, 'q.sock'));
  const m = listenOnce(join(dir, 'q.qmp'));
  const args = `-qtest unix:${dir}/q.sock -qtest-log /dev/null -chardev socket,path=${dir}/q.qmp,id=char0 -mon chardev=char0,mode=control -display none -audio none -run-with exit-with-parent=on -machine virt,acpi=off,gic-version=3 -smp 1 -m 512 -cpu max -net none -accel qtest`;
  const child = spawn('/bin/sh', ['-c', `exec ${BIN} ${args}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  const qs = await q.accepted;
  const ms = await m.accepted;
  qs.write('endianness\n');
  t.equal(await readLine(qs), 'OK little\n');
  const greeting = await readLine(ms);
  t.match(greeting, /^\{"QMP": \{"version": \{"qemu": \{"micro": 2, "minor": 2, "major": 10\}/);
  qs.write('readl 0x4010000000\n');
  t.equal(await readLine(qs), 'OK 0x0000000000081b36\n');
  child.kill('SIGTERM');
  const result = await exited;
  t.same(result, { code: 0, signal: null }, 'exit status 0, not killed by the signal');
  t.equal(stdout, '', 'nothing on stdout');
  qs.destroy();
  ms.destroy();
});

t.test('a malformed option fails at start with a QEMU-style message', async (t) => {
  const child = spawn(BIN, ['-machine', 'virt', '-m', 'abc'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  t.equal(code, 1);
  t.match(stderr, /^qemu-system-aarch64: -m abc: Parameter 'size' expects a non-negative number below 2\^64\n/);
});

t.test('server-mode qtest socket for people with nc', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-launch-'));
  const sock = join(dir, 'q.sock');
  const child = spawn(BIN, ['-machine', 'virt', '-qtest', `unix:${sock},server=on,wait=off`, '-qtest-log', 'none'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let gone = false;
  const exited = new Promise<number | null>((r) =>
    child.on('exit', (c) => {
      gone = true;
      r(c);
    }),
  );
  const { connect } = await import('node:net');
  let s: Socket | undefined;
  // until the socket listens (node's start-up on a busy machine) or the launcher is gone; 2 min net
  const until = Date.now() + 120_000;
  while (!s && !gone && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
    s = await new Promise<Socket | undefined>((res) => {
      const c = connect(sock);
      c.once('connect', () => res(c));
      c.once('error', () => res(undefined));
    });
  }
  t.ok(s, 'connected');
  s!.write('clock_step 5000\n');
  t.equal(await readLine(s!), 'OK 5000\n');
  s!.destroy();
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});
