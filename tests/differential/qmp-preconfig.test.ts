/**
 * Differential QMP: `--preconfig` (commands allowed and refused before machine initialization,
 * query-status, x-exit-preconfig with its RESUME event, then refused), `-S` prelaunch state and
 * `-name`, on qtestd and the oracle with the same argv; transcripts (events included) byte-identical.
 */
import t from 'tap';
import { withOracle } from '../helpers/oracle.js';
import { call, startPeer } from '../protocol/qmp/peer.js';

const SCRIPTS: Array<[string, string[], string[]]> = [
  [
    '--preconfig',
    ['-nodefaults', '-machine', 'none', '--preconfig'],
    [
      'query-status',
      'query-name',
      'query-cpus-fast',
      'query-pci',
      'x-exit-preconfig',
      'query-status',
      'x-exit-preconfig',
      'query-cpus-fast',
    ],
  ],
  [
    '--preconfig -S',
    ['-nodefaults', '-machine', 'none', '--preconfig', '-S'],
    ['query-status', 'x-exit-preconfig', 'query-status', 'cont', 'query-status'],
  ],
  [
    '-S',
    ['-nodefaults', '-machine', 'none', '-S'],
    ['query-status', 'stop', 'query-status', 'cont', 'query-status', 'stop', 'query-status'],
  ],
  ['-name', ['-nodefaults', '-machine', 'none', '-name', 'guest=vm1,debug-threads=on'], ['query-name']],
];

for (const [title, args, commands] of SCRIPTS) {
  await withOracle(t, title, async (tv) => {
    const q = await startPeer('qtestd', args);
    const o = await startPeer('oracle', args);
    tv.teardown(async () => {
      await q.s.teardown();
      await o.s.teardown();
    });
    for (const name of commands) {
      const req = `{"execute": "${name}"}`;
      tv.equal(await call(q, req), await call(o, req), req);
    }
  });
}
