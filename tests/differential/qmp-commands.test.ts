/**
 * Differential QMP: every command of QEMU 10.2.2's schema (protocol/captures/qemu-10.2.2/qmp/
 * query-qmp-schema.reply), called without arguments and with an unexpected one, on qtestd and on the
 * oracle (QTEST_ORACLE_PREFIX) with the same argv, for the virt board and the none machine. Replies
 * must be byte-identical modulo event timestamps, socket paths and the pid, except the documented
 * deviations (protocol/deviations.md, "QMP commands"):
 *   - a command qtestd does not implement answers `The command X is not supported by qtestd`;
 *   - query-qmp-schema and query-commands are QEMU's reply followed by the `x-qtestd-*` entries;
 *   - query-machines, query-cpu-definitions and qom-list-types list only what qtestd models
 *     (each entry identical to QEMU's);
 *   - x-query-ramblock on virt (see CHANGING below).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { BASE_ARGS } from '../helpers/launch.js';
import { withOracle } from '../helpers/oracle.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { call, startPeer } from '../protocol/qmp/peer.js';

const SCHEMA = JSON.parse(
  readFileSync(join(REPO_ROOT, 'protocol', 'captures', 'qemu-10.2.2', 'qmp', 'query-qmp-schema.reply'), 'latin1'),
) as { return: Array<{ name: string; 'meta-type': string }> };

/** Commands whose reply differs by design (deviations.md). */
const CHANGING: Record<string, string> = {
  'x-query-ramblock': 'host addresses of RAM blocks',
};
const FILTERED = new Set(['query-machines', 'query-cpu-definitions', 'qom-list-types']);
const QTESTD_ONLY_TYPES = new Set(['iommu-testdev', 'smmu-testdev']);
const APPENDED = new Set(['query-qmp-schema', 'query-commands']);

function sameFiltered(t: Test, name: string, q: string, o: string): void {
  const qv = JSON.parse(q).return as Array<{ name: string }>;
  const ov = new Map((JSON.parse(o).return as Array<{ name: string }>).map((e) => [e.name, e]));
  for (const e of qv) {
    // Test devices newer than 10.2.2 that qtestd models (deviations-devices.md) are not in QEMU's list.
    if (!ov.has(e.name) && QTESTD_ONLY_TYPES.has(e.name)) continue;
    t.same(e, ov.get(e.name), `${name}: ${e.name} as QEMU lists it`);
  }
}

const VARIANTS: Array<[string, string[]]> = [
  ['virt', ['-nodefaults', ...BASE_ARGS]],
  ['none', ['-nodefaults', '-machine', 'none']],
];

for (const [variant, args] of VARIANTS) {
  await withOracle(t, `QMP commands on ${variant}`, async (tv) => {
    const q = await startPeer('qtestd', args);
    const o = await startPeer('oracle', args);
    tv.teardown(async () => {
      await q.s.teardown();
      await o.s.teardown();
    });
    const commands = SCHEMA.return.filter((e) => e['meta-type'] === 'command' && e.name !== 'quit').map((e) => e.name);
    let same = 0;
    const unsupported: string[] = [];
    for (const name of commands) {
      for (const args of ['', ', "arguments": {"x-bogus": 1}']) {
        const req = `{"execute": "${name}"${args}}`;
        const [qr, or] = [await call(q, req), await call(o, req)];
        if (qr === or) {
          same++;
          continue;
        }
        if (
          qr === `{"error": {"class": "GenericError", "desc": "The command ${name} is not supported by qtestd"}}\r\n`
        ) {
          unsupported.push(name);
        } else if (APPENDED.has(name)) {
          tv.ok(
            qr.startsWith(or.slice(0, -']}\r\n'.length) + ', {"name": "x-qtestd-'),
            `${name}: QEMU's reply, then x-qtestd entries`,
          );
        } else if (FILTERED.has(name)) {
          sameFiltered(tv, name, qr, or);
        } else if (CHANGING[name] === undefined) {
          tv.equal(qr, or, req);
        }
      }
    }
    tv.pass(
      `${same} of ${commands.length * 2} replies byte-identical; not supported by qtestd: ${unsupported.join(' ') || 'none'}`,
    );
  });
}
