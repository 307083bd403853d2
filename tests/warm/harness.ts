/**
 * Real-process harness for the warm launch path: a private install root (the shim compiled into
 * <tmp>/root/native/build/qemu-system-aarch64, <tmp>/root/dist → the repo's dist, so the shim
 * finds the cold launcher and the daemon relative to itself), a private XDG_RUNTIME_DIR (so the
 * tests never meet the user's daemon), and a libqtest-style launcher: listen on two UNIX sockets,
 * `/bin/sh -c "exec <binary> <libqtest argv>"`, accept qtest then QMP.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** <repo> (this file compiles to <repo>/dist/tests/warm/harness.js). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(probe: () => T | undefined | false, timeoutMs: number, stepMs = 10): Promise<T | undefined> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() >= until) return undefined;
    await sleep(stepMs);
  }
}

/** The C compiler, or undefined (the tests then skip loudly). */
export function findCc(): string | undefined {
  for (const cc of [process.env.CC, 'cc', 'gcc', 'clang']) {
    if (!cc) continue;
    const r = spawnSync(cc, ['--version'], { stdio: 'ignore' });
    if (r.status === 0) return cc;
  }
  return undefined;
}

export interface Install {
  tmp: string;
  root: string;
  /** <root>/native/build/qemu-system-aarch64 */
  shim: string;
  /** <root>/bin/qemu-system-aarch64 (the /bin/sh wrapper, a copy of the repo's) */
  script: string;
  xdg: string;
  /** the runtime dir the daemon uses */
  runDir: string;
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

/** Compile the shim into a private install root; returns an error text on failure. */
export function makeInstall(cc: string, envExtra: NodeJS.ProcessEnv = {}): Install | string {
  const tmp = mkdtempSync(join(tmpdir(), 'qtestd-warm-'));
  const root = join(tmp, 'root');
  mkdirSync(join(root, 'native', 'build'), { recursive: true });
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'dist'));
  // dist/src → the real build; dist/.tsbuildinfo a private copy, so a test can "rebuild" this install.
  symlinkSync(join(REPO, 'dist', 'src'), join(root, 'dist', 'src'));
  try {
    copyFileSync(join(REPO, 'dist', '.tsbuildinfo'), join(root, 'dist', '.tsbuildinfo'));
  } catch {
    /* not an incremental build */
  }
  copyFileSync(join(REPO, 'bin', 'qemu-system-aarch64'), join(root, 'bin', 'qemu-system-aarch64'));
  const shim = join(root, 'native', 'build', 'qemu-system-aarch64');
  const r = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', shim, join(REPO, 'native', 'launcher.c')], { encoding: 'utf8' });
  if (r.status !== 0) return `${cc} failed: ${r.stderr}`;
  const xdg = join(tmp, 'xdg');
  mkdirSync(xdg, { mode: 0o700 });
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: xdg, QTESTD_DAEMON_IDLE_SECONDS: '120', ...envExtra };
  delete env.QTESTD_NO_DAEMON;
  delete env.QTEST_LOG;
  const uid = process.getuid?.() ?? 0;
  const install: Install = {
    tmp,
    root,
    shim,
    script: join(root, 'bin', 'qemu-system-aarch64'),
    xdg,
    runDir: join(xdg, `qtestd-${uid}`),
    env,
    cleanup: () => {
      const pid = daemonPid(install);
      if (pid) killQuietly(pid, 'SIGTERM');
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  return install;
}

export function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* gone */
  }
}

/** Is `pid` a live (not zombie) process? */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The pid in the daemon's pid file, if that daemon is alive. */
export function daemonPid(inst: Install): number | undefined {
  try {
    for (const f of readdirSync(inst.runDir)) {
      if (!f.endsWith('.pid')) continue;
      const pid = Number(readFileSync(join(inst.runDir, f), 'utf8').trim());
      if (pid > 0 && alive(pid)) return pid;
    }
  } catch {
    /* no run dir yet */
  }
  return undefined;
}

/** What executable `pid` runs now (the shim while warm, node when it went cold). */
export function exeOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
}

function listenOnce(path: string): { server: Server; accepted: Promise<Socket> } {
  let done!: (s: Socket) => void;
  const accepted = new Promise<Socket>((r) => (done = r));
  const server = createServer((s) => {
    server.close(); // libqtest: one accept, then the listener is closed
    done(s);
  });
  server.listen(path);
  return { server, accepted };
}

/** Buffered line reader over a socket. */
export class Lines {
  private buf = '';
  private lines: string[] = [];
  private waiters: Array<() => void> = [];
  closed = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  async next(timeoutMs = 10000): Promise<string> {
    const until = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.closed) throw new Error('socket closed');
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no line within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
    return this.lines.shift()!;
  }

  async request(line: string): Promise<string> {
    this.socket.write(line + '\n');
    return this.next();
  }

  /** Resolves true once the peer closed the connection (within `timeoutMs`). */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    return (await waitFor(() => this.closed, timeoutMs)) ?? false;
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Launched {
  child: ChildProcess;
  qtest: Lines;
  qmp: Lines;
  /** ms from spawn to the `endianness` reply */
  endiannessMs: number;
  exited: Promise<Exit>;
  stderr(): string;
  stdout(): string;
  /** SIGTERM with the sockets open (as qtest_quit does), then close them. */
  quit(): Promise<Exit & { ms: number }>;
}

export const MACHINE_ARGS = ['-machine', 'virt,acpi=off,gic-version=3', '-smp', '1', '-m', '512', '-cpu', 'max', '-net', 'none'];

/** libqtest's argv (generation C/D) with our socket paths. */
export function libqtestArgv(dir: string, opts: { qtestLog?: string; exitWithParent?: boolean; extra?: string[] } = {}): string[] {
  return [
    '-qtest', `unix:${dir}/qtest.sock`, '-qtest-log', opts.qtestLog ?? '/dev/null',
    '-chardev', `socket,path=${dir}/qtest.qmp,id=char0`, '-mon', 'chardev=char0,mode=control',
    '-display', 'none', '-audio', 'none',
    ...(opts.exitWithParent === false ? [] : ['-run-with', 'exit-with-parent=on']),
    ...(opts.extra ?? MACHINE_ARGS), '-accel', 'qtest',
  ];
}

/**
 * Launch `binary` as libqtest does and complete qtest_init: accept qtest then QMP, `endianness`,
 * read the greeting, `qmp_capabilities`.
 */
export async function libqtestLaunch(
  binary: string,
  env: NodeJS.ProcessEnv,
  opts: { qtestLog?: string; exitWithParent?: boolean; extra?: string[]; shellPrefix?: string } = {},
): Promise<Launched> {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-warm-run-'));
  const q = listenOnce(join(dir, 'qtest.sock'));
  const m = listenOnce(join(dir, 'qtest.qmp'));
  const argv = libqtestArgv(dir, opts);
  const t0 = performance.now();
  const child = spawn('/bin/sh', ['-c', `exec ${binary} ${argv.join(' ')}`], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
  const exited = new Promise<Exit>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const failEarly = exited.then((e) => {
    throw new Error(`${binary} exited (${e.code ?? e.signal}) before connecting: ${stderr}`);
  });
  const cleanupDir = (): void => rmSync(dir, { recursive: true, force: true });
  let qsock: Socket;
  let msock: Socket;
  try {
    qsock = await Promise.race([q.accepted, failEarly]);
    msock = await Promise.race([m.accepted, failEarly]);
  } catch (e) {
    q.server.close();
    m.server.close();
    cleanupDir();
    throw e;
  }
  failEarly.catch(() => {});
  const qtest = new Lines(qsock);
  const qmp = new Lines(msock);
  const reply = await qtest.request('endianness');
  const endiannessMs = performance.now() - t0;
  if (reply !== 'OK little') throw new Error(`endianness → ${reply}`);
  const greeting = JSON.parse(await qmp.next()) as Record<string, unknown>;
  if (!('QMP' in greeting)) throw new Error(`greeting: ${JSON.stringify(greeting)}`);
  const caps = JSON.parse(await qmp.request('{"execute": "qmp_capabilities"}')) as Record<string, unknown>;
  if (!('return' in caps)) throw new Error(`qmp_capabilities: ${JSON.stringify(caps)}`);
  return {
    child,
    qtest,
    qmp,
    endiannessMs,
    exited,
    stderr: () => stderr,
    stdout: () => stdout,
    quit: async () => {
      const k = performance.now();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const e = await exited;
      clearTimeout(timer);
      const ms = performance.now() - k;
      qsock.destroy();
      msock.destroy();
      cleanupDir();
      return { ...e, ms };
    },
  };
}

/** Run `binary argv...` directly (no sockets) and collect its output; SIGKILL after `timeoutMs`. */
export function runPlain(binary: string, argv: string[], env: NodeJS.ProcessEnv, timeoutMs = 20000): Promise<Exit & { stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(binary, argv, { stdio: ['ignore', 'pipe', 'pipe'], env, timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr }));
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}
