/**
 * HMP `info qtree` on the modelled `virt` board: qtestd against the golden captures
 * (protocol/captures/qemu-10.2.2/hmp/qtree/*.txt, no oracle needed) and against the oracle itself.
 * QEMU's order here is fixed (each bus lists its devices newest first; two oracle runs gave the same
 * bytes), so the comparison is of the whole text, byte for byte.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { REPO_ROOT } from '../helpers/launch.js';
import { withOracle } from '../helpers/oracle.js';
import { startPeer } from '../protocol/qmp/peer.js';
import { bothAfter, CASES, qtest, qtree } from './qtree-cases.js';

for (const [name, args, steps, flags] of CASES) {
  t.test(`info qtree (${name}) matches the capture`, async (tc) => {
    const q = await startPeer('qtestd', args);
    tc.teardown(() => q.s.teardown());
    await qtest(q, steps);
    const golden = readFileSync(join(REPO_ROOT, 'protocol/captures/qemu-10.2.2/hmp/qtree', `${name}.txt`), 'utf8');
    const got = await qtree(q, flags);
    tc.match(got, /^bus: main-system-bus\r\n {2}type System\r\n/, 'starts with the system bus');
    tc.equal(got, golden, 'byte-exact');
  });

  await withOracle(t, `info qtree (${name}) matches the oracle`, async (tv) => {
    const { q, o } = await bothAfter(tv, args, steps);
    tv.equal(await qtree(q, flags), await qtree(o, flags), 'byte-exact');
  });
}
