/**
 * The service's run dir and its one-instance locks, on real processes: a run dir that belongs to
 * another user, is writable by group/others, or is not writable is a clear start-up error (exit 1,
 * one `qtestd: …` line), never a service whose sessions have no QMP socket; a second instance on
 * the same qtest socket or run dir gets a clear error and the first keeps serving; a killed
 * instance leaves no stale lock.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { QTESTD_SERVICE_BINARY, startQtestd } from './fixtures/harness.js';
import { connectLines } from '../helpers/line-client.js';

t.setTimeout(5 * 60_000);

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
/**
 * As root the unwritable-dir check runs as nobody, which needs the checkout to be reachable by
 * nobody: a clone below a 0700 directory (mktemp -d) is not, and the test then says so instead.
 */
const nobodyCannotRun =
  isRoot && spawnSync(QTESTD_SERVICE_BINARY, ['--version'], { uid: NOBODY, gid: NOBODY }).error !== undefined
    ? `the checkout is not reachable by uid ${NOBODY} (a parent directory is private), so the check cannot run as nobody`
    : false;
const tmp = mkdtempSync(join(tmpdir(), 'qtestd-rundir-'));
chmodSync(tmp, 0o755); // another user must be able to reach the dirs made below
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

/** Run qtestd until it exits (it should not start); SIGKILL after minutes as a safety net. */
function startFails(args: string[], as?: number): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(QTESTD_SERVICE_BINARY, ['--tcp', '127.0.0.1:0', '--http', 'off', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 2 * 60_000,
      killSignal: 'SIGKILL',
      ...(as === undefined ? {} : { uid: as, gid: as }),
    });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr, stdout }));
  });
}

function dir(name: string, mode: number, owner?: number): string {
  const d = join(tmp, name);
  mkdirSync(d);
  chmodSync(d, mode);
  if (owner !== undefined) chownSync(d, owner, owner);
  return d;
}

t.test('a run dir open to group or others is refused', async (t) => {
  const d = dir('open', 0o777);
  const r = await startFails(['--unix', 'off', '--run-dir', d]);
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, new RegExp(`^qtestd: run dir ${d} is writable by group or others \\(mode 0777\\)`, 'm'));
  t.equal(r.stdout, '');
  const g = dir('group', 0o770);
  t.match((await startFails(['--unix', 'off', '--run-dir', g])).stderr, /is writable by group or others \(mode 0770\)/);
});

t.test('a run dir that belongs to another user is refused', async (t) => {
  // as root, a dir given to nobody; otherwise /, which is root's
  const d = isRoot ? dir('foreign', 0o700, NOBODY) : '/';
  const r = await startFails(['--unix', 'off', '--run-dir', d]);
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, new RegExp(`^qtestd: run dir ${d} belongs to uid ${isRoot ? NOBODY : 0}, not to this user`, 'm'));
});

t.test('an unwritable run dir is a start-up error, not sessions without QMP', { skip: nobodyCannotRun }, async (t) => {
  // root may write anywhere: the check then runs as nobody, on nobody's read-only dir
  const d = dir('readonly', 0o500, isRoot ? NOBODY : undefined);
  const r = await startFails(['--unix', 'off', '--run-dir', d], isRoot ? NOBODY : undefined);
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, new RegExp(`^qtestd: run dir ${d} is not writable \\(EACCES\\)`, 'm'));
  const missing = join(d, 'sub');
  const m = await startFails(['--unix', 'off', '--run-dir', missing], isRoot ? NOBODY : undefined);
  t.equal(m.code, 1);
  t.match(m.stderr, new RegExp(`^qtestd: cannot create run dir ${missing}: EACCES`, 'm'));
});

t.test('one instance per qtest socket and per run dir', async (t) => {
  const q = await startQtestd();
  t.teardown(() => q.dispose());
  const sameSocket = await startFails(['--unix', q.unixPath, '--run-dir', join(tmp, 'other-run')]);
  t.equal(sameSocket.code, 1, 'a second instance on the same qtest socket exits 1');
  t.match(sameSocket.stderr, /^qtestd: another qtestd instance is already serving the qtest socket /m);
  const sameRunDir = await startFails(['--unix', join(tmp, 'other.sock'), '--run-dir', q.runDir]);
  t.equal(sameRunDir.code, 1, 'a second instance on the same run dir exits 1');
  t.match(sameRunDir.stderr, /^qtestd: another qtestd instance is already serving the run dir /m);
  const c = await q.unix();
  t.equal(await c.request('#!qtestd id=still'), 'OK', 'the first instance still serves its socket');
  t.equal(await c.request('endianness'), 'OK little');
  c.destroy();
});

t.test('a killed instance leaves no stale lock', async (t) => {
  const q = await startQtestd();
  t.teardown(() => q.dispose());
  q.proc.kill('SIGKILL');
  await q.exited;
  // a new instance on the same socket and run dir starts and serves
  const child = spawn(
    QTESTD_SERVICE_BINARY,
    ['--tcp', '127.0.0.1:0', '--http', 'off', '--unix', q.unixPath, '--run-dir', q.runDir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  const listening = new Promise<boolean>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('"event":"listening"')) resolve(true);
    });
    child.on('exit', () => resolve(false));
  });
  t.ok(
    await listening,
    `the new instance starts (${stderr.split('\n').find((l) => l.startsWith('qtestd: ')) ?? 'ok'})`,
  );
  const c = await connectLines(q.unixPath);
  t.equal(await c.request('endianness'), 'OK little', 'and serves the socket');
  c.destroy();
  child.kill('SIGTERM');
});
