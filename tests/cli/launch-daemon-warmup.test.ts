// The launch daemon worker's JIT warm-up (src/cli/launch-daemon-warmup.ts), run in this process:
// it runs every step (whole launches over real UNIX sockets included), leaves nothing behind (no
// handle, no socket, no directory), and runs in slices with the event loop turning between them.
import t from 'tap';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from '../../src/base/log.js';
import { warmUp } from '../../src/cli/launch-daemon-warmup.js';
import { REPO_ROOT, waitFor } from '../helpers/qtestd-fixture.js';

t.setTimeout(5 * 60_000);

// The warm-up makes its sockets under os.tmpdir(): a private one shows whether they are removed.
const tmp = mkdtempSync(join(tmpdir(), 'qtestd-warmup-test-'));
const savedTmp = process.env.TMPDIR;
process.env.TMPDIR = tmp;
t.teardown(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  rmSync(tmp, { recursive: true, force: true });
});

interface Entry {
  level: number;
  msg: string;
  err?: { message?: string };
}

function capture(): { log: Logger; entries: Entry[]; messages(): string[] } {
  const entries: Entry[] = [];
  const log: Logger = pino({ level: 'debug' }, { write: (s: string) => entries.push(JSON.parse(s) as Entry) });
  return { log, entries, messages: () => entries.map((e) => e.msg) };
}

/** Counts of the kinds of active handles and requests (sockets, servers, timers …). */
function resources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

const same = (a: Record<string, number>, b: Record<string, number>): boolean =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

t.test('every step runs and nothing is left behind', async (t) => {
  const before = resources();
  const { log, entries, messages } = capture();
  const ok = await warmUp({ log, root: REPO_ROOT });
  t.equal(ok, true, 'the warm-up ran every step');
  t.same(
    messages().filter((m) => m.endsWith('warmed up')),
    ['warmed up', 'request path warmed up', 'launch path warmed up'],
    'in order',
  );
  t.same(
    entries.filter((e) => e.level >= 20 && e.msg.includes('failed')),
    [],
    'no step logged a failure (debug level is where a failing step would say why)',
  );
  t.same(readdirSync(tmp), [], 'its directory of sockets is removed');
  // closing sockets and servers completes on later event-loop turns: wait for it (progress only)
  const settled = await waitFor(() => same(resources(), before), 60_000);
  t.ok(settled, `no handle is left open (before ${JSON.stringify(before)}, now ${JSON.stringify(resources())})`);
});

t.test('it runs in slices: the event loop turns between them', async (t) => {
  const { log } = capture();
  let turns = 0;
  let ended = false;
  const tick = (): void => {
    turns++;
    if (!ended) setImmediate(tick);
  };
  setImmediate(tick);
  const ok = await warmUp({ log, root: REPO_ROOT });
  ended = true;
  t.equal(ok, true, 'the warm-up ran every step');
  // 5 + 20 + 1 slices before the launches, and thousands of round trips in them
  t.ok(turns > 1000, `other work ran between its slices (${turns} event-loop turns)`);
  t.same(readdirSync(tmp), [], 'nothing left in its directory');
});
