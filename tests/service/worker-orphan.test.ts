// A worker whose accepting process is gone exits, even when that process exited before the worker
// had made its WorkerChannel (a worker loads its modules asynchronously, so the channel's
// 'disconnect' can come and go before anyone listens). Before the fix such a worker lived on with
// no parent, holding whatever sockets it had opened. Real processes: this test starts a parent
// that forks a slow-loading worker and exits at once.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { waitFor } from '../helpers/processes.js';
import { alive } from '../helpers/warm-install.js';

const CHANNEL = pathToFileURL(
  join(fileURLToPath(new URL('.', import.meta.url)), '../../src/service/worker-channel.js'),
).href;

t.test('a worker whose parent exited while it was loading exits', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-orphan-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const worker = join(dir, 'worker.mjs');
  const parent = join(dir, 'parent.mjs');
  // the worker waits until its parent is surely gone, then makes its channel and would run forever
  writeFileSync(
    worker,
    `import { WorkerChannel } from ${JSON.stringify(CHANNEL)};
const gone = () => { try { process.kill(Number(process.env.PARENT_PID), 0); return false; } catch { return true; } };
const wait = () => gone() ? setTimeout(start, 50) : setTimeout(wait, 10);
const start = () => { new WorkerChannel(() => process.exit(7)); setInterval(() => {}, 1000); };
wait();
`,
  );
  writeFileSync(
    parent,
    `import { fork } from 'node:child_process';
const child = fork(${JSON.stringify(worker)}, [], { env: { ...process.env, PARENT_PID: String(process.pid) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
process.stdout.write(child.pid + '\\n');
child.disconnect(); child.unref(); process.exit(0);
`,
  );
  const p = spawn(process.execPath, [parent], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise((r) => p.on('close', r));
  const pid = Number(out.trim());
  t.ok(pid > 0, `the worker was started (${pid})`);
  // a safety net of two minutes: progress, not time
  const exited = (await waitFor(() => !alive(pid), 120_000, 100)) ?? false;
  if (!exited) process.kill(pid, 'SIGKILL');
  t.ok(exited, 'the worker exited once it saw its channel was gone');
});
