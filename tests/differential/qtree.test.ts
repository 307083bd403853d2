/**
 * HMP `info qtree` on the modelled `virt` board: qtestd against the golden captures
 * (protocol/captures/qemu-10.2.2/hmp/qtree/*.txt, no oracle needed) and against the oracle itself.
 * QEMU's order here is fixed (each bus lists its devices newest first; two oracle runs gave the same
 * bytes), so the comparison is of the whole text, byte for byte.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { BASE_ARGS, REPO_ROOT } from '../helpers/launch.js';
import { withOracle } from '../helpers/oracle.js';
import { call, startPeer } from '../protocol/qmp/peer.js';
import type { QmpPeer } from '../protocol/qmp/peer.js';

const secure = BASE_ARGS.map((a) => (a.startsWith('virt,') ? `${a},secure=on` : a));
const CASES: Array<[string, string[]]> = [
  ['base', [...BASE_ARGS]],
  ['edu', [...BASE_ARGS, '-device', 'edu']],
  ['pci-testdev', [...BASE_ARGS, '-device', 'pci-testdev']],
  ['secure', secure],
];

async function qtree(p: QmpPeer, flags = ''): Promise<string> {
  const reply = JSON.parse(
    await call(
      p,
      JSON.stringify({ execute: 'human-monitor-command', arguments: { 'command-line': `info qtree${flags}` } }),
    ),
  ) as { return: string };
  return reply.return;
}

for (const [name, args] of CASES) {
  t.test(`info qtree (${name}) matches the capture`, async (tc) => {
    const q = await startPeer('qtestd', args);
    tc.teardown(() => q.s.teardown());
    const golden = readFileSync(join(REPO_ROOT, 'protocol/captures/qemu-10.2.2/hmp/qtree', `${name}.txt`), 'utf8');
    const got = await qtree(q);
    tc.match(got, /^bus: main-system-bus\r\n {2}type System\r\n/, 'starts with the system bus');
    tc.equal(got, golden, 'byte-exact');
  });

  await withOracle(t, `info qtree (${name}) matches the oracle`, async (tv) => {
    const q = await startPeer('qtestd', args);
    const o = await startPeer('oracle', args);
    tv.teardown(async () => {
      await q.s.teardown();
      await o.s.teardown();
    });
    tv.equal(await qtree(q), await qtree(o), 'byte-exact');
  });
}
