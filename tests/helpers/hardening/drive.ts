/**
 * Running bad-input rows: in-process (a Session's qtest endpoint, or a QmpEndpoint on the fake
 * host) and against real processes (qtestd's drop-in launcher or the QEMU oracle) over their UNIX
 * sockets, collecting the exact bytes each answers.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { QmpEndpoint } from '../../../src/protocol/qmp/endpoint.js';
import { DEFAULT_LIMITS } from '../../../src/base/limits.js';
import { FakeHost, fakeClock } from '../../protocol/qmp/fake-host.js';
import { launch } from '../launch.js';
import type { Instance, TargetName } from '../launch.js';
import { makeSession, RecordingLink } from '../session.js';
import { TABLE_ARGS } from '../../hardening/bad-input-table.js';
import type { BadInputRow } from '../../hardening/bad-input-table.js';

export function inputOf(row: BadInputRow): Buffer {
  return row.make ? row.make() : Buffer.from(row.input, row.proto === 'qtest' ? 'latin1' : 'utf8');
}

/** qtest row on a fresh in-process Session: everything the endpoint wrote, as latin1. */
export function runQtestInProcess(row: BadInputRow): string {
  const session = makeSession([...TABLE_ARGS], row.limits ?? {});
  const link = new RecordingLink();
  const ep = session.attachQtest(link);
  ep.input(inputOf(row));
  return link.out;
}

/** QMP row on a fresh in-process QmpEndpoint (fake host): messages after greeting/negotiation. */
export function runQmpInProcess(row: BadInputRow): string {
  const out: string[] = [];
  const limits = { ...DEFAULT_LIMITS, ...(row.limits ?? {}) };
  const ep = new QmpEndpoint({ host: new FakeHost(), sink: (t) => (out.push(t), true), now: fakeClock(), limits });
  if (row.negotiate ?? true) ep.input(Buffer.from('{"execute": "qmp_capabilities"}\n'));
  const skip = out.length;
  ep.input(inputOf(row));
  return out.slice(skip).join('');
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A raw byte collector on a socket. */
export class RawConn {
  data = '';
  ended = false;
  private waiters: Array<() => void> = [];
  constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.data += d;
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  write(b: Buffer | string): void {
    this.socket.write(typeof b === 'string' ? Buffer.from(b, 'latin1') : b);
  }
  /** Wait until `pred(data)` holds, the peer closes, or `ms` pass; then `quietMs` more for extra bytes. */
  async until(pred: (d: string) => boolean, ms: number, quietMs = 100): Promise<string> {
    const deadline = Date.now() + ms;
    while (!pred(this.data) && !this.ended && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    if (quietMs) await sleep(quietMs);
    return this.data;
  }
  close(): void {
    this.socket.destroy();
  }
}

export async function connectRaw(path: string): Promise<RawConn> {
  for (let i = 0; ; i++) {
    try {
      const s = await new Promise<Socket>((res, rej) => {
        const c = connect(path);
        c.once('connect', () => res(c));
        c.once('error', rej);
      });
      return new RawConn(s);
    } catch (e) {
      if (i > 200) throw e;
      await sleep(10);
    }
  }
}

/** The socket paths of a launched instance (from its argv). */
export function socketPaths(inst: Instance): { qtest: string; qmp: string } {
  const arg = (flag: string) => inst.argv[inst.argv.indexOf(flag) + 1]!.replace(/^unix:/, '').replace(/,.*$/, '');
  return { qtest: arg('-qtest'), qmp: arg('-qmp') };
}

/** QMP greeting + optional negotiation on a raw connection; returns the connection after them. */
export async function openQmp(path: string, negotiate: boolean): Promise<RawConn> {
  const c = await connectRaw(path);
  await c.until((d) => d.includes('\r\n'), 10000, 0);
  if (negotiate) {
    c.data = '';
    c.write('{"execute": "qmp_capabilities"}\n');
    await c.until((d) => d.includes('\r\n'), 10000, 0);
  }
  c.data = '';
  return c;
}

/**
 * Run a row against a real process (`qtestd` launcher or the oracle): fresh instance, the input on
 * the qtest (or QMP) socket, bytes collected until the expected reply length arrived (or a quiet
 * timeout), then the reconnect part if any. Returns what arrived and whether the process died.
 */
export async function runRowInProcess(
  row: BadInputRow,
  target: TargetName,
  timeoutMs = 30000,
): Promise<{ got: string; reconnect?: string; died: string | null }> {
  const inst = await launch({ target, args: TABLE_ARGS, qmp: false });
  try {
    const paths = socketPaths(inst);
    const expected = row.proto === 'qmp' ? Buffer.byteLength(row.reply, 'utf8') : row.reply.length;
    if (row.proto === 'qmp') {
      const c = await openQmp(paths.qmp, row.negotiate ?? true);
      c.socket.setEncoding('utf8');
      c.write(inputOf(row));
      const got = await c.until((d) => Buffer.byteLength(d, 'utf8') >= expected, timeoutMs, 300);
      c.close();
      const st = inst.exited();
      return { got, died: st ? JSON.stringify(st) : null };
    }
    // the launcher's own qtest client connected already: use it raw
    inst.qtest.socket.removeAllListeners('data');
    const c = new RawConn(inst.qtest.socket);
    c.write(inputOf(row));
    const got = await c.until((d) => d.length >= expected, timeoutMs, row.thenReconnect ? 300 : 100);
    let reconnect: string | undefined;
    if (row.thenReconnect) {
      c.close();
      await sleep(200);
      const c2 = await connectRaw(paths.qtest);
      c2.write(row.thenReconnect.input);
      reconnect = await c2.until((d) => d.length >= row.thenReconnect!.reply.length, timeoutMs);
      c2.close();
    }
    const st = inst.exited();
    return { got, reconnect, died: st ? JSON.stringify(st) : null };
  } finally {
    await inst.teardown(3000);
  }
}
