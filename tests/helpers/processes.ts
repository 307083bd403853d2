/**
 * Starting qtestd (or the QEMU oracle) as a real process, the two ways a test meets it: the
 * drop-in listening on UNIX sockets we connect to (`-qtest unix:…,server=on,wait=off`), or
 * libqtest's way (we listen, the target dials in). Exit status, stderr capture and teardown
 * (SIGTERM, then SIGKILL after a grace period) are the same for every launcher.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolve with `p`, or with null after `ms` (the timer does not keep the process alive). */
export function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<null>((r) => {
    timer = setTimeout(() => r(null), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Poll `probe` every `stepMs` until it returns something truthy or `timeoutMs` passes. */
export async function waitFor<T>(
  probe: () => T | undefined | false,
  timeoutMs: number,
  stepMs = 10,
): Promise<T | undefined> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() >= until) return undefined;
    await sleep(stepMs);
  }
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** true when the process did not exit within the grace period and was SIGKILLed */
  killed: boolean;
}

/** Format an exit status for messages. */
export function describeExit(st: ExitStatus): string {
  if (st.killed) return `did not exit within the grace period (SIGKILLed; ${st.code ?? st.signal})`;
  return st.signal ? `killed by ${st.signal}` : `exit code ${st.code}`;
}

export class LaunchError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
  ) {
    super(message);
  }
}

/** A spawned process with its output captured (up to 1 MiB each) and its exit observed. */
export class Child {
  private err = '';
  private out = '';
  private status: ExitStatus | null = null;
  readonly exit: Promise<ExitStatus>;

  constructor(
    readonly proc: ChildProcess,
    /** also append stdout to stderr() (QEMU is silent on stdout under qtest) */
    stdoutIntoStderr = false,
  ) {
    proc.stderr?.setEncoding('latin1').on('data', (d: string) => {
      if (this.err.length < 1 << 20) this.err += d;
    });
    proc.stdout?.setEncoding('latin1').on('data', (d: string) => {
      if (this.out.length < 1 << 20) this.out += d;
      if (stdoutIntoStderr && this.err.length < 1 << 20) this.err += `[stdout] ${d}`;
    });
    this.exit = new Promise<ExitStatus>((res) => {
      proc.on('exit', (code, signal) => {
        this.status ??= { code, signal, killed: false };
        res(this.status);
      });
      proc.on('error', (e) => {
        this.err += `spawn error: ${e.message}\n`;
        this.status ??= { code: null, signal: null, killed: false };
        res(this.status);
      });
    });
  }

  stderr(): string {
    return this.err;
  }
  stdout(): string {
    return this.out;
  }
  /** exit status once the process has exited by itself (null while running) */
  exited(): ExitStatus | null {
    return this.status;
  }

  /** Send `signal` (unless already gone), wait up to graceMs, then SIGKILL. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10000): Promise<ExitStatus> {
    if (!this.status) this.proc.kill(signal);
    const st = await within(this.exit, graceMs);
    if (st) return st;
    this.proc.kill('SIGKILL');
    return { ...(await this.exit), killed: true };
  }
}

export function spawnChild(
  binary: string,
  argv: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions; stdoutIntoStderr?: boolean } = {},
): Child {
  const proc = spawn(binary, argv, { stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  return new Child(proc, opts.stdoutIntoStderr);
}

export async function connectWithRetry(path: string, until: number, isDead: () => boolean): Promise<Socket> {
  let lastErr: Error | null = null;
  while (Date.now() < until) {
    if (isDead()) throw lastErr ?? new Error('process exited');
    try {
      return await new Promise<Socket>((res, rej) => {
        const s = connect(path);
        s.once('connect', () => {
          s.removeAllListeners('error');
          res(s);
        });
        s.once('error', (e) => {
          s.destroy();
          rej(e);
        });
      });
    } catch (e) {
      lastErr = e as Error;
      await sleep(10);
    }
  }
  throw lastErr ?? new Error(`timed out connecting to ${path}`);
}

export interface ServerSockets {
  child: Child;
  /** [binary, ...argv] as run */
  argv: string[];
  qtestPath: string;
  qmpPath: string;
  qtest: Socket;
  /** null when `connectQmp` was false (the path is still there to connect later) */
  qmp: Socket | null;
  /** Stop the process (see Child.stop), destroy the sockets, remove the directory. */
  teardown(graceMs?: number): Promise<ExitStatus>;
}

/**
 * Run `binary -qtest unix:<tmp>/qtest.sock,server=on,wait=off -qtest-log none
 * -qmp unix:<tmp>/qmp.sock,server=on,wait=off -display none <args...> -accel qtest` and connect to
 * its qtest socket (and QMP, unless connectQmp is false). Throws LaunchError (with stderr and exit
 * status) when it does not come up.
 */
export async function startServerSockets(opts: {
  binary: string;
  args: readonly string[];
  connectQmp?: boolean;
  env?: NodeJS.ProcessEnv;
  /** ms to wait for the sockets (default 20000) */
  startTimeoutMs?: number;
  /** name for messages (default: the binary) */
  name?: string;
}): Promise<ServerSockets> {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-launch-'));
  const qtestPath = join(dir, 'qtest.sock');
  const qmpPath = join(dir, 'qmp.sock');
  const argv = [
    '-qtest',
    `unix:${qtestPath},server=on,wait=off`,
    '-qtest-log',
    'none',
    '-qmp',
    `unix:${qmpPath},server=on,wait=off`,
    '-display',
    'none',
    ...opts.args,
    '-accel',
    'qtest',
  ];
  const child = spawnChild(opts.binary, argv, { env: opts.env, stdoutIntoStderr: true });
  const cleanupDir = (): void => rmSync(dir, { recursive: true, force: true });
  const until = Date.now() + (opts.startTimeoutMs ?? 120000);
  let qtest: Socket;
  let qmp: Socket | null = null;
  try {
    qtest = await connectWithRetry(qtestPath, until, () => child.exited() !== null);
    if (opts.connectQmp !== false) qmp = await connectWithRetry(qmpPath, until, () => child.exited() !== null);
  } catch (e) {
    // give a dying process a moment so its stderr/exit status are complete
    await within(child.exit, 2000);
    if (!child.exited()) child.proc.kill('SIGKILL');
    const st = await child.exit;
    cleanupDir();
    const stderr = child.stderr();
    throw new LaunchError(
      `${opts.name ?? opts.binary} (${opts.binary}) did not come up: ${(e as Error).message}; exit ${st.code ?? st.signal}; stderr: ${stderr.trim()}`,
      stderr,
      st.code,
      st.signal,
    );
  }
  let torn: Promise<ExitStatus> | null = null;
  return {
    child,
    argv: [opts.binary, ...argv],
    qtestPath,
    qmpPath,
    qtest,
    qmp,
    teardown: (graceMs = 10000) =>
      (torn ??= (async () => {
        // A process that exits with bytes of ours unread resets the connection (ECONNRESET on
        // our side); at teardown that is expected, not an error of the test.
        const expectReset = (e: NodeJS.ErrnoException): void => {
          if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') throw e;
        };
        qtest.on('error', expectReset);
        qmp?.on('error', expectReset);
        const st = await child.stop('SIGTERM', graceMs);
        qtest.destroy();
        qmp?.destroy();
        cleanupDir();
        return st;
      })()),
  };
}

function listenOnce(path: string): { server: Server; listening: Promise<void>; accepted: Promise<Socket> } {
  let done!: (s: Socket) => void;
  const accepted = new Promise<Socket>((r) => (done = r));
  const server = createServer((s) => {
    server.close(); // libqtest: one accept, then the listener is closed
    done(s);
  });
  const listening = new Promise<void>((r) => server.listen(path, () => r()));
  return { server, listening, accepted };
}

export interface DialIn {
  child: Child;
  dir: string;
  /** the two socket paths the target was told to dial */
  qtestPath: string;
  qmpPath: string;
  /** process.hrtime.bigint() right before the spawn */
  t0: bigint;
  /** accepted connections; reject if the target exits first */
  qtest: Promise<Socket>;
  qmp: Promise<Socket>;
  /** close the listeners (if nothing dialled in) and remove the directory */
  cleanup(): void;
}

/**
 * libqtest's way: listen on <tmp>/qtest.sock and <tmp>/qtest.qmp, then spawn the target with
 * `argv(qtestPath, qmpPath)`; both listeners accept once. With `shell`, run it as libqtest does
 * (`/bin/sh -c "exec <binary> <argv>"`).
 */
export async function startDialIn(opts: {
  binary: string;
  argv: (qtestPath: string, qmpPath: string) => string[];
  env?: NodeJS.ProcessEnv;
  shell?: boolean;
  stdio?: StdioOptions;
}): Promise<DialIn> {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-dialin-'));
  const qtestPath = join(dir, 'qtest.sock');
  const qmpPath = join(dir, 'qtest.qmp');
  const q = listenOnce(qtestPath);
  const m = listenOnce(qmpPath);
  await Promise.all([q.listening, m.listening]);
  const argv = opts.argv(qtestPath, qmpPath);
  const t0 = process.hrtime.bigint();
  const child = opts.shell
    ? spawnChild('/bin/sh', ['-c', `exec ${opts.binary} ${argv.join(' ')}`], { env: opts.env, stdio: opts.stdio })
    : spawnChild(opts.binary, argv, { env: opts.env, stdio: opts.stdio });
  const early = child.exit.then((e) => {
    throw new Error(`${opts.binary} exited (${e.code ?? e.signal}) before connecting: ${child.stderr()}`);
  });
  early.catch(() => undefined); // observed through qtest/qmp below
  return {
    child,
    dir,
    qtestPath,
    qmpPath,
    t0,
    qtest: Promise.race([q.accepted, early]),
    qmp: Promise.race([m.accepted, early]),
    cleanup: () => {
      q.server.close();
      m.server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
