/**
 * Which drop-in launches the warm-launch daemon must send back to the shim's own process (the
 * cold path): whatever names the launching process's stdio or descriptors, relative socket paths
 * (the daemon's cwd is not the shim's), client sockets that are not there, and -version / -help.
 */
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { ChardevAddress } from '../config/chardev-address.js';
import { ArgvError, parseLaunchArgv } from '../config/argv.js';
import type { LaunchOptions } from '../config/argv.js';

/** -qtest-log values that mean the launching process's stderr / stdout (relayed by the daemon). */
export const STDERR_LOGS = new Set([undefined, '/dev/fd/2', '/dev/stderr']);
export const STDOUT_LOGS = new Set(['/dev/fd/1', '/dev/stdout']);

function needsOwnProcess(a: ChardevAddress): boolean {
  if (a.kind === 'stdio' || a.kind === 'fd') return true;
  // The daemon's cwd is not the shim's: relative socket paths would resolve elsewhere.
  if (a.kind === 'unix' && !a.path.startsWith('\0') && !isAbsolute(a.path)) return true;
  // A client socket that is not there: the dial fails, and openChardev does not report a failed
  // dial (see the report), so in the daemon the launch would wait forever; the cold launcher at
  // least ends when its event loop runs dry.
  if (a.kind === 'unix' && !a.server && !a.path.startsWith('\0') && !existsSync(a.path)) return true;
  return false;
}

/** Why this argv must take the cold path, or undefined. Argv errors are served warm. */
export function coldReason(argv: string[]): string | undefined {
  let opts: LaunchOptions;
  try {
    opts = parseLaunchArgv(argv);
  } catch (e) {
    if (e instanceof ArgvError) return undefined; // startLaunch reports it, with the same text the cold path prints
    throw e;
  }
  return coldReasonOf(opts);
}

/** coldReason of an argv already parsed (the daemon parses each launch's argv once). */
export function coldReasonOf(opts: LaunchOptions): string | undefined {
  if (opts.info) return `-${opts.info.what} prints to stdout`;
  for (const c of opts.sockets)
    if (c.address && needsOwnProcess(c.address)) return `chardev ${c.spec} needs the launching process`;
  const log = opts.qtestLog;
  if (
    log !== undefined &&
    log.startsWith('/dev/') &&
    log !== '/dev/null' &&
    !STDERR_LOGS.has(log) &&
    !STDOUT_LOGS.has(log)
  ) {
    return `-qtest-log ${log} names a descriptor of the launching process`;
  }
  return undefined;
}
