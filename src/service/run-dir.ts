/**
 * The service's run dir and its one-instance lock. The run dir holds every session's QMP socket,
 * so it must be the user's own and closed to others: created 0700 when missing; refused with a
 * clear error when it belongs to another user, is writable by group or others, or is not
 * writable by us (else sessions would silently run without a QMP socket). The lock is an
 * abstract-namespace UNIX socket named after a path (the run dir, the qtest socket): the kernel
 * frees it when the holder dies, so a crashed instance leaves no stale lock, and a second
 * instance gets a clear error instead of taking over the first one's sockets.
 */
import { accessSync, constants, mkdirSync, realpathSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { dirname, resolve } from 'node:path';

export class StartupError extends Error {
  override name = 'StartupError';
}

/** Create the run dir (0700) if missing; throw a StartupError when it is not safe or not usable. */
export function prepareRunDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new StartupError(`cannot create run dir ${dir}: ${(e as Error).message}`);
  }
  const st = statSync(dir);
  const uid = process.getuid?.() ?? st.uid;
  if (!st.isDirectory()) throw new StartupError(`run dir ${dir} is not a directory`);
  if (st.uid !== uid)
    throw new StartupError(
      `run dir ${dir} belongs to uid ${st.uid}, not to this user (uid ${uid}); choose another with --run-dir`,
    );
  if (st.mode & 0o022)
    throw new StartupError(
      `run dir ${dir} is writable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); ` +
        `run chmod go-w on it or choose another with --run-dir`,
    );
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw new StartupError(
      `run dir ${dir} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): ` +
        `session QMP sockets cannot be created there; choose another with --run-dir`,
    );
  }
}

/** A path's lock name: the same for every spelling of the path that resolves to the same file. */
function lockName(kind: string, path: string): string {
  let real = resolve(path);
  try {
    real = realpathSync(real);
  } catch {
    // not there yet (a socket path): its directory's real path names it just as well
    try {
      real = resolve(realpathSync(dirname(real)), real.slice(dirname(real).length + 1));
    } catch {
      // no directory either: the plain absolute path is the best name there is
    }
  }
  return `\0qtestd-${kind}-lock-${createHash('sha256').update(real).digest('hex').slice(0, 32)}`;
}

/**
 * Take the lock for `path`; resolves the held lock (close() releases it), or throws a StartupError
 * naming what is already served by another instance.
 */
export function acquireLock(kind: string, path: string, what: string): Promise<Server> {
  const server = createServer();
  return new Promise((res, rej) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      rej(
        e.code === 'EADDRINUSE'
          ? new StartupError(`another qtestd instance is already serving ${what} ${path}; stop it or choose another`)
          : new StartupError(`cannot take the lock for ${what} ${path}: ${e.message}`),
      ),
    );
    server.listen(lockName(kind, path), () => {
      server.unref();
      res(server);
    });
  });
}
