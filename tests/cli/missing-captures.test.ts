// An install without protocol/captures (a copy of bin + dist only): the QMP monitor could not
// answer, so a launch with a monitor fails at once with a clear line on stderr (exit 1, nothing
// dialled), and the service refuses to start. Before, the monitor reset its connection silently.
import t from 'tap';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, REPO_ROOT } from '../helpers/paths.js';
import { spawnChild } from '../helpers/processes.js';
import type { Child } from '../helpers/processes.js';

const SAFETY_NET_MS = 120_000; // not an assertion: a hung child is killed and the test fails

const root = mkdtempSync(join(tmpdir(), 'qtestd-nocaptures-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
cpSync(join(REPO_ROOT, 'bin'), join(root, 'bin'), { recursive: true });
for (const part of ['src', 'bundle'])
  if (existsSync(join(DIST, part))) cpSync(join(DIST, part), join(root, 'dist', part), { recursive: true });
symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));

async function ended(c: Child): Promise<{ code: number | null; stderr: string }> {
  const closed = new Promise((r) => c.proc.once('close', r));
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), SAFETY_NET_MS);
  const st = await c.exit;
  await closed;
  clearTimeout(timer);
  return { code: st.code, stderr: c.stderr() };
}

t.test('launch with a QMP monitor: exit 1, the missing file named on stderr', async (t) => {
  const dir = join(root, 'run');
  const argv = [
    '-qtest',
    `unix:${dir}/q.sock`,
    '-chardev',
    `socket,path=${dir}/q.qmp,id=char0`,
    '-mon',
    'chardev=char0,mode=control',
    '-display',
    'none',
    '-machine',
    'virt',
    '-accel',
    'qtest',
  ];
  const env = { ...process.env, QTESTD_NO_DAEMON: '1' };
  const { code, stderr } = await ended(spawnChild(join(root, 'bin', 'qemu-system-aarch64'), argv, { env }));
  t.equal(code, 1, 'exit status 1');
  t.match(stderr, /^qemu-system-aarch64: qtestd: incomplete installation: .*query-qmp-schema\.reply not found/);
  t.equal(stderr.split('\n').length, 2, 'one line');
});

t.test('the service refuses to start', async (t) => {
  const { code, stderr } = await ended(
    spawnChild(join(root, 'bin', 'qtestd'), ['--unix', join(root, 'svc.sock'), '--tcp', 'off', '--http', 'off']),
  );
  t.equal(code, 1, 'exit status 1');
  t.match(stderr, /^qtestd: incomplete installation: .*query-qmp-schema\.reply not found/);
});
