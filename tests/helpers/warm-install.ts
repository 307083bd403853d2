/**
 * A private install root for the warm launch path: the shim compiled from native/launcher.c into
 * <tmp>/root/native/build/qemu-system-aarch64, <tmp>/root/dist/src → the repo's build (so the shim
 * finds the cold launcher and the daemon relative to itself), and a private XDG_RUNTIME_DIR, so
 * tests and benchmarks never meet (or leave behind) the user's daemon.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedBuildSync } from './build-cache.js';
import { REPO_ROOT } from './paths.js';

/** The C compiler, or undefined. */
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
  /** the full environment to run the shim with */
  env: NodeJS.ProcessEnv;
  /** SIGTERM the install's daemon and remove the install */
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
  symlinkSync(join(REPO_ROOT, 'dist', 'src'), join(root, 'dist', 'src'));
  // dist/bundle (scripts/bundle.mjs) too when built: the shim prefers it for node.
  if (existsSync(join(REPO_ROOT, 'dist', 'bundle')))
    symlinkSync(join(REPO_ROOT, 'dist', 'bundle'), join(root, 'dist', 'bundle'));
  try {
    copyFileSync(join(REPO_ROOT, 'dist', '.tsbuildinfo'), join(root, 'dist', '.tsbuildinfo'));
  } catch (e) {
    // not an incremental build: the install then never looks stale, which is all this copy is for
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  copyFileSync(join(REPO_ROOT, 'bin', 'qemu-system-aarch64'), join(root, 'bin', 'qemu-system-aarch64'));
  const shim = join(root, 'native', 'build', 'qemu-system-aarch64');
  // compiled once per launcher.c and compiler (tests/helpers/build-cache.ts), copied for each install
  // static where the C library allows it, as native/build.sh builds it
  const flags = ['-O2', '-Wall', '-Wextra', '-Werror'];
  const source = join(REPO_ROOT, 'native', 'launcher.c');
  const built = cachedBuildSync('launcher', { command: [cc, ...flags, '-static?'], files: [source] }, shim, (out) => {
    if (spawnSync(cc, [...flags, '-static', '-o', out, source], { stdio: 'ignore' }).status === 0) return null;
    const r = spawnSync(cc, [...flags, '-o', out, source], { encoding: 'utf8' });
    return r.status === 0 ? null : `${cc} failed: ${r.error?.message ?? r.stderr}`;
  });
  if (built.error !== null) {
    rmSync(tmp, { recursive: true, force: true });
    return built.error;
  }
  const xdg = join(tmp, 'xdg');
  mkdirSync(xdg, { mode: 0o700 });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_RUNTIME_DIR: xdg,
    QTESTD_DAEMON_IDLE_SECONDS: '120',
    ...envExtra,
  };
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
  } catch (e) {
    // ESRCH: already gone, which is what the caller wants
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** The state letter of `pid` from /proc (R, S, T for stopped, Z for zombie, …), '' when gone. */
export function processState(pid: number): string {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return ''; // no /proc entry: the process is gone
  }
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

/** Is `pid` a live (not zombie) process? */
export function alive(pid: number): boolean {
  const state = processState(pid);
  return state !== '' && state !== 'Z';
}

/** The pid in the daemon's pid file, if that daemon is alive. */
export function daemonPid(inst: Pick<Install, 'runDir'>): number | undefined {
  let files: string[];
  try {
    files = readdirSync(inst.runDir);
  } catch {
    return undefined; // no run dir yet: no daemon has started
  }
  for (const f of files) {
    if (!f.endsWith('.pid')) continue;
    let text: string;
    try {
      text = readFileSync(join(inst.runDir, f), 'utf8');
    } catch {
      continue; // removed since the listing: that daemon has just exited
    }
    const pid = Number(text.trim());
    if (pid > 0 && alive(pid)) return pid;
  }
  return undefined;
}

/** What executable `pid` runs now (the shim while warm, node when it went cold). */
export function exeOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return ''; // gone
  }
}
