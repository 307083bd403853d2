// QEMU's own Python libraries drive qtestd unchanged: machine_library.py (next to this file) runs
// QEMUQtestMachine (qtest + QMP over inherited socketpair fds, HMP through QMP, device_add /
// device_del, shutdown with exit status 0) and the asyncio QMPClient against a listening -qmp
// socket, once with qtestd and once with the oracle; the transcripts must be identical. The
// libraries come from the oracle's source tree (QTEST_ORACLE_SRC/python), run by python3.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QTESTD_BINARY, REPO_ROOT } from '../helpers/paths.js';
import { withOracleSrc } from '../helpers/oracle.js';

t.setTimeout(10 * 60 * 1000); // a safety net only

const SCRIPT = join(REPO_ROOT, 'tests', 'python', 'machine_library.py');

interface Run {
  code: number | null;
  steps: Array<{ step: string; value: unknown }>;
  stderr: string;
}

function runScript(mode: 'machine' | 'qmp-client', binary: string, src: string): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-pylib-'));
  return new Promise<Run>((resolve) => {
    const child = spawn('python3', [SCRIPT, mode, binary, dir], {
      env: { ...process.env, PYTHONPATH: join(src, 'python'), QTESTD_NO_DAEMON: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('close', (code) => {
      rmSync(dir, { recursive: true, force: true });
      const steps = out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { step: string; value: unknown });
      resolve({ code, steps, stderr: err });
    });
  });
}

const stepNames = (r: Run): string[] => r.steps.map((s) => s.step);

for (const mode of ['machine', 'qmp-client'] as const) {
  t.test(
    `QEMU's Python ${mode === 'machine' ? 'QEMUQtestMachine' : 'qemu.qmp QMPClient'} on qtestd and the oracle`,
    async (t) => {
      await withOracleSrc(t, 'same transcript, exit status 0', async (tt, oracle, src) => {
        const ours = await runScript(mode, QTESTD_BINARY, src);
        tt.equal(ours.code, 0, `qtestd: the script completes (stderr: ${ours.stderr.slice(-2000)})`);
        tt.same(ours.steps.at(-1), { step: 'exitcode', value: 0 }, 'qtestd exits with status 0');
        const theirs = await runScript(mode, oracle.binary, src);
        tt.equal(theirs.code, 0, `oracle: the script completes (stderr: ${theirs.stderr.slice(-2000)})`);
        tt.same(stepNames(ours), stepNames(theirs), 'same steps');
        for (let i = 0; i < theirs.steps.length; i++) tt.same(ours.steps[i], theirs.steps[i], theirs.steps[i].step);
      });
    },
  );
}
