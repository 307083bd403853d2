/**
 * object-add / object-del against the oracle's capture (protocol/captures/qemu-10.2.2/qmp/
 * object-add-<variant>.txt, the requests of objects-script.ts sent to QEMU 10.2.2): qtestd, a real
 * process, answers each with the captured bytes. Runs without the oracle; the live comparison is
 * tests/differential/qmp-objects.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { QEMU_CAPTURES } from '../../helpers/reference.js';
import { call, startPeer } from './peer.js';
import { OBJECT_SCRIPT, OBJECT_VARIANTS } from './objects-script.js';

for (const [title, args] of OBJECT_VARIANTS) {
  const file = `object-add-${title.replace(/\W+/g, '-')}.txt`;
  t.test(`${file}: qtestd answers as captured`, async (t) => {
    const lines = readFileSync(join(QEMU_CAPTURES, 'qmp', file), 'latin1').split('\n');
    const sent = lines.filter((l) => l.startsWith('-> ')).map((l) => l.slice(3));
    const replies = lines.filter((l) => l.startsWith('<- ')).map((l) => l.slice(3) + '\n');
    t.same(sent, OBJECT_SCRIPT, 'the capture holds the script');
    const q = await startPeer('qtestd', args);
    t.teardown(() => q.s.teardown());
    for (const [i, req] of OBJECT_SCRIPT.entries()) t.equal(await call(q, req), replies[i], req);
  });
}
