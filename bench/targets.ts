/**
 * The two things a benchmark compares: qtestd (the drop-in launcher) and the real QEMU oracle,
 * started the way libqtest starts them (the benchmark listens; the target dials in).
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonPid, findCc, makeInstall, QTESTD_BINARY, startDialIn } from '../tests/helpers/qtestd-fixture.js';
import type { Install } from '../tests/helpers/qtestd-fixture.js';

export interface Target {
  name: string;
  binary: string;
  /** Arguments before the QEMU argv (e.g. the script a bare `node` runs). */
  prefix?: string[];
  /** Extra environment of the launched process. */
  env?: NodeJS.ProcessEnv;
}

/**
 * qtestd cold (bin/qemu-system-aarch64 with QTESTD_NO_DAEMON=1: sh + node, whatever is built),
 * qtestd warm (the native shim → launch daemon, in a private install, when a C compiler is there)
 * and the QEMU oracle (QTEST_ORACLE_PREFIX). Call `dispose()` of the warm install when done.
 */
export function targets(): Target[] {
  const list: Target[] = [{ name: 'qtestd', binary: QTESTD_BINARY, env: { QTESTD_NO_DAEMON: '1' } }];
  const warm = warmInstall();
  if (warm) list.push({ name: 'qtestd-warm', binary: warm.shim, env: warm.env });
  const prefix = process.env.QTEST_ORACLE_PREFIX;
  if (prefix && existsSync(join(prefix, 'bin/qemu-system-aarch64')))
    list.push({ name: 'qemu', binary: join(prefix, 'bin/qemu-system-aarch64') });
  return list;
}

let warm: Install | undefined | null;

/**
 * The warm path in a private install root (tests/helpers/warm-install.ts: the shim compiled from
 * native/launcher.c, dist → this build, a private XDG_RUNTIME_DIR), so the benchmark neither uses
 * nor leaves behind the user's daemon. Undefined without a C compiler.
 */
function warmInstall(): Install | undefined {
  if (warm !== undefined) return warm ?? undefined;
  warm = null;
  const cc = findCc();
  const inst = cc ? makeInstall(cc, { QTESTD_DAEMON_IDLE_SECONDS: '300' }) : 'no C compiler';
  if (typeof inst === 'string') {
    process.stderr.write(`bench: no warm target (${inst})\n`);
    return undefined;
  }
  warm = inst;
  return warm;
}

/** The warm install's daemon pid, if it runs. */
export function warmDaemonPid(): number | undefined {
  return warm ? daemonPid(warm) : undefined;
}

/** The warm daemon's accepting process and its worker processes (its children), if it runs. */
export function warmDaemonPids(): number[] {
  const pid = warmDaemonPid();
  if (!pid) return [];
  const pids = [pid];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (kids) pids.push(...kids.split(' ').map(Number));
    }
  } catch (err) {
    process.stderr.write(`bench: cannot list the warm daemon's workers: ${(err as Error).message}\n`);
  }
  return pids;
}

/** Stop the warm install's daemon and remove the install. */
export function disposeTargets(): void {
  warm?.cleanup();
  warm = null;
}

export const MACHINE_ARGS = '-machine virt,acpi=off,gic-version=3,iommu=smmuv3 -cpu max -smp 1 -net none'.split(' ');

export interface Launched {
  child: ChildProcess;
  qtest: Socket;
  qmp: Socket;
  /** ms from spawn to the `OK little` reply to the first `endianness`. */
  firstReplyMs: number;
  /**
   * CPU ms the launched process (all its threads) had used when the first reply arrived: the
   * start-up cost that stays meaningful when the machine is loaded and wall-clock times are not.
   */
  firstReplyCpuMs: number;
  stop(): Promise<number | null>;
}

/** Launch like libqtest: listen on two UNIX sockets, spawn, accept both, send `endianness`. */
export async function launch(target: Target, extra: string[] = [], mem = '512'): Promise<Launched> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...target.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const d = await startDialIn({
    binary: target.binary,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
    argv: (qpath, mpath) => [
      ...(target.prefix ?? []),
      '-qtest',
      `unix:${qpath}`,
      '-qtest-log',
      'none',
      '-chardev',
      `socket,path=${mpath},id=char0`,
      '-mon',
      'chardev=char0,mode=control',
      '-display',
      'none',
      '-audio',
      'none',
      ...MACHINE_ARGS,
      '-m',
      mem,
      ...extra,
      '-accel',
      'qtest',
    ],
  });
  const child = d.child.proc;
  const t0 = d.t0;
  const qtest = await d.qtest;
  qtest.setNoDelay(true);
  const reply = new Promise<void>((res) => {
    let buf = '';
    const on = (b: Buffer) => {
      buf += b.toString();
      if (buf.includes('\n')) {
        qtest.off('data', on);
        res();
      }
    };
    qtest.on('data', on);
  });
  qtest.write('endianness\n');
  await reply;
  const firstReplyMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const firstReplyCpuMs = cpuUs(child.pid!) / 1000;
  const qmp = await d.qmp;
  qmp.on('data', () => {});
  return {
    child,
    qtest,
    qmp,
    firstReplyMs,
    firstReplyCpuMs,
    stop: async () => {
      const { code } = await d.child.stop('SIGTERM', 60_000);
      qtest.destroy();
      qmp.destroy();
      d.cleanup();
      return code;
    },
  };
}

/**
 * CPU time a process has used so far, all threads, in µs (Linux schedstat, ns resolution): the
 * server's own cost per request, which stays meaningful when the machine is loaded and wall-clock
 * latencies are not.
 */
export function cpuUs(pid: number): number {
  let ns = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        /* thread gone */
      }
    }
  } catch {
    return NaN;
  }
  return ns / 1000;
}

/** Resident set size of a process in KiB (Linux). */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) : NaN;
}

/** Line-oriented request/response helper that reads while it writes. */
export class LineClient {
  private buf = '';
  private waiters: Array<(line: string) => void> = [];
  private lines: string[] = [];

  constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    // Only the new chunk is searched for newlines: a long reply (1 MiB b64read) arriving in many
    // chunks costs linear time, not quadratic (the client must not be what is measured).
    socket.on('data', (d: string) => {
      let from = 0;
      let i: number;
      while ((i = d.indexOf('\n', from)) >= 0) {
        const line = this.buf === '' ? d.slice(from, i) : this.buf + d.slice(from, i);
        this.buf = '';
        from = i + 1;
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
      if (from < d.length) this.buf += from === 0 ? d : d.slice(from);
    });
  }

  next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((r) => this.waiters.push(r));
  }

  async request(line: string): Promise<string> {
    this.socket.write(line + '\n');
    return this.next();
  }

  /** Send `count` copies of `line`, keeping at most `window` unanswered; resolves when all replied. */
  async pipeline(line: string, count: number, window = 256): Promise<void> {
    let sent = 0;
    let received = 0;
    const chunk = (line + '\n').repeat(64);
    while (received < count) {
      while (sent < count && sent - received < window) {
        const n = Math.min(64, count - sent);
        this.socket.write(n === 64 ? chunk : (line + '\n').repeat(n));
        sent += n;
      }
      await this.next();
      received++;
    }
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
