/**
 * Real-process harness for the warm launch path, on top of the shared fixture
 * (tests/helpers/qtestd-fixture.ts): a private install root (warm-install.ts), and a
 * libqtest-style launch: listen on two UNIX sockets, `/bin/sh -c "exec <binary> <libqtest argv>"`,
 * accept qtest then QMP, and complete qtest_init over raw line clients (what libqtest sends, byte
 * for byte, is the point here).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { LineClient, REPO_ROOT, startDialIn } from '../helpers/qtestd-fixture.js';

export {
  alive,
  daemonPid,
  exeOf,
  findCc,
  killQuietly,
  LineClient,
  makeInstall,
  processState,
  sleep,
  waitFor,
} from '../helpers/qtestd-fixture.js';
export type { Install } from '../helpers/qtestd-fixture.js';

/** <repo> */
export const REPO = REPO_ROOT;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Launched {
  child: ChildProcess;
  qtest: LineClient;
  qmp: LineClient;
  /** ms from spawn to the `endianness` reply */
  endiannessMs: number;
  exited: Promise<Exit>;
  stderr(): string;
  stdout(): string;
  /** SIGTERM with the sockets open (as qtest_quit does), then close them. */
  quit(): Promise<Exit & { ms: number }>;
}

export const MACHINE_ARGS = [
  '-machine',
  'virt,acpi=off,gic-version=3',
  '-smp',
  '1',
  '-m',
  '512',
  '-cpu',
  'max',
  '-net',
  'none',
];

/** libqtest's argv (generation C/D) with our socket paths (`<dir>/qtest.sock`, `<dir>/qtest.qmp`). */
export function libqtestArgv(
  dir: string,
  opts: { qtestLog?: string; exitWithParent?: boolean; extra?: string[] } = {},
): string[] {
  return argvFor(`${dir}/qtest.sock`, `${dir}/qtest.qmp`, opts);
}

function argvFor(
  qtestPath: string,
  qmpPath: string,
  opts: { qtestLog?: string; exitWithParent?: boolean; extra?: string[] },
): string[] {
  return [
    '-qtest',
    `unix:${qtestPath}`,
    '-qtest-log',
    opts.qtestLog ?? '/dev/null',
    '-chardev',
    `socket,path=${qmpPath},id=char0`,
    '-mon',
    'chardev=char0,mode=control',
    '-display',
    'none',
    '-audio',
    'none',
    ...(opts.exitWithParent === false ? [] : ['-run-with', 'exit-with-parent=on']),
    ...(opts.extra ?? MACHINE_ARGS),
    '-accel',
    'qtest',
  ];
}

/**
 * Launch `binary` as libqtest does and complete qtest_init: accept qtest then QMP, `endianness`,
 * read the greeting, `qmp_capabilities`.
 */
export async function libqtestLaunch(
  binary: string,
  env: NodeJS.ProcessEnv,
  opts: { qtestLog?: string; exitWithParent?: boolean; extra?: string[] } = {},
): Promise<Launched> {
  const d = await startDialIn({ binary, env, shell: true, argv: (q, m) => argvFor(q, m, opts) });
  let qtest: LineClient;
  let qmp: LineClient;
  try {
    qtest = await LineClient.socket(await d.qtest, true);
    qmp = await LineClient.socket(await d.qmp, true);
  } catch (e) {
    d.cleanup();
    throw e;
  }
  const reply = await qtest.request('endianness');
  const endiannessMs = Number(process.hrtime.bigint() - d.t0) / 1e6;
  if (reply !== 'OK little') throw new Error(`endianness → ${reply}`);
  const greeting = JSON.parse(await qmp.next()) as Record<string, unknown>;
  if (!('QMP' in greeting)) throw new Error(`greeting: ${JSON.stringify(greeting)}`);
  const caps = JSON.parse(await qmp.request('{"execute": "qmp_capabilities"}')) as Record<string, unknown>;
  if (!('return' in caps)) throw new Error(`qmp_capabilities: ${JSON.stringify(caps)}`);
  const exited = d.child.exit.then(({ code, signal }) => ({ code, signal }));
  return {
    child: d.child.proc,
    qtest,
    qmp,
    endiannessMs,
    exited,
    stderr: () => d.child.stderr(),
    stdout: () => d.child.stdout(),
    quit: async () => {
      const k = performance.now();
      const e = await d.child.stop('SIGTERM', 5000);
      const ms = performance.now() - k;
      qtest.destroy();
      qmp.destroy();
      d.cleanup();
      return { code: e.code, signal: e.signal, ms };
    },
  };
}

/** Run `binary argv...` directly (no sockets) and collect its output; SIGKILL after `timeoutMs`. */
export function runPlain(
  binary: string,
  argv: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 20000,
): Promise<Exit & { stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(binary, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
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
