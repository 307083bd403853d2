/**
 * Differential QMP: out-of-band execution's error surface on qtestd and the oracle, with and
 * without the `oob` capability: `exec-oob` of a command that does not allow OOB, of an OOB command
 * (migrate-pause), of an unknown one, with and without an id, clashing with `execute`, of a
 * non-string, with bad arguments; `x-oob-test` (not built into 10.2.2: CommandNotFound). Replies
 * byte-identical, errors carrying their id first as QEMU prints them. An exec-oob reply overtaking a
 * blocked in-band command is not compared: qtestd has no in-band command that blocks
 * (tests/upstream/known-gaps.json, /aarch64/qmp/oob).
 */
import t from 'tap';
import { withOracle } from '../helpers/oracle.js';
import { sendAndRead, startPeer } from '../protocol/qmp/peer.js';

const SCRIPT: readonly string[] = [
  '{"exec-oob": "query-status"}',
  '{"exec-oob": "query-status", "id": 1}',
  '{"exec-oob": "x-oob-test", "id": 2}',
  '{"exec-oob": "migrate-pause", "id": 3}',
  '{"exec-oob": "migrate-pause"}',
  '{"execute": "x-oob-test", "id": 4}',
  '{"exec-oob": 1, "id": 6}',
  '{"exec-oob": "query-status", "execute": "query-status", "id": 7}',
  '{"exec-oob": "migrate-pause", "control": {"run-oob": true}, "id": 8}',
  '{"exec-oob": "nosuch", "id": 9}',
  '{"execute": "migrate-pause", "id": 10}',
  '{"exec-oob": "migrate-pause", "arguments": {"x": 1}, "id": 11}',
  '{"exec-oob": "migrate-recover", "arguments": {"uri": "x"}, "id": 12}',
  '{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": 13}',
];

for (const negotiate of ['oob', 'plain'] as const) {
  await withOracle(t, `exec-oob with capabilities '${negotiate}'`, async (tv) => {
    const args = ['-nodefaults', '-machine', 'none'];
    const q = await startPeer('qtestd', args, negotiate);
    const o = await startPeer('oracle', args, negotiate);
    tv.teardown(async () => {
      await q.s.teardown();
      await o.s.teardown();
    });
    tv.equal(q.greeting.replace(/"micro": \d+, /, ''), o.greeting.replace(/"micro": \d+, /, ''), 'greeting');
    for (const req of SCRIPT) {
      const [qr, or] = [await sendAndRead(q, req + '\n', 1), await sendAndRead(o, req + '\n', 1)];
      tv.same(qr, or, req);
    }
  });
}
