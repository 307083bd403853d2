/**
 * `npm run fuzz -- --hostile` for ~10 s with a fixed seed, as a real process: it exits 0 (the
 * service lived, answered the probe and /healthz, exited 0 on SIGTERM, wrote nothing on stdout),
 * and its summary shows that every mix ran at least one round and the probe answered.
 * Progress assertions only; the safety net is minutes.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DIST } from '../helpers/paths.js';
import { MIXES } from '../fuzz/hostile-mixes.js';

t.setTimeout(15 * 60_000);

t.test('hostile fuzz against a real service: every mix runs, the probe answers, exit 0', async (t) => {
  const child = spawn(
    process.execPath,
    [join(DIST, 'tests', 'fuzz', 'run.js'), '--hostile', '--seconds', '10', '--seed', '14', '--sessions', '4'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
  t.comment(out);
  t.equal(code, 0, `exit 0${code === 0 ? '' : `\n${err.slice(-4000)}`}`);
  for (const m of MIXES) {
    const row = new RegExp(
      `^  ${m.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (\\d+) rounds, (\\d+) requests`,
      'm',
    ).exec(out);
    t.ok(row && Number(row[1]) > 0 && Number(row[2]) > 0, `${m.name} ran: ${row?.[0] ?? 'missing'}`);
  }
  const probe = /^probe \(readl\): (\d+) replies/m.exec(out);
  t.ok(probe && Number(probe[1]) > 0, `the probe answered: ${probe?.[0] ?? 'missing'}`);
  const health = /^\/healthz: (\d+) answers/m.exec(out);
  t.ok(health && Number(health[1]) > 0, `/healthz answered: ${health?.[0] ?? 'missing'}`);
  t.match(out, /^peak RSS \(service \+ workers\): [1-9]\d* MiB$/m, 'peak RSS sampled');
  t.match(out, /^no problems$/m);
});
