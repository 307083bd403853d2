/**
 * Differential QMP: object-add / object-del of the objects qtestd models (memory-backend-ram,
 * rng-builtin) on qtestd and the oracle with the same argv: every error of qmp-cmd-test's
 * object-add-failure-modes and the property setters' refusals, the /objects container's order
 * (a GLib hash table in QEMU) through qom-list and query-memdev, deletions and the in-use check.
 * Transcripts byte-identical. Not sent: object types qtestd does not model (memory-backend-file,
 * ...: `not supported by qtestd`) and sizes QEMU cannot map (size -1 aborts QEMU), both in
 * protocol/deviations.md.
 */
import t from 'tap';
import { withOracle } from '../helpers/oracle.js';
import { call, startPeer } from '../protocol/qmp/peer.js';
import { OBJECT_SCRIPT, OBJECT_VARIANTS } from '../protocol/qmp/objects-script.js';

for (const [title, args] of OBJECT_VARIANTS) {
  await withOracle(t, `object-add / object-del on ${title}`, async (tv) => {
    const q = await startPeer('qtestd', args);
    const o = await startPeer('oracle', args);
    tv.teardown(async () => {
      await q.s.teardown();
      await o.s.teardown();
    });
    for (const req of OBJECT_SCRIPT) tv.equal(await call(q, req), await call(o, req), req);
  });
}
