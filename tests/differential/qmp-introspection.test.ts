/**
 * Differential QMP introspection: device-list-properties and qom-list-properties for every type
 * qtestd's qom-list-types lists (abstract ones included), for unknown and interface types, and
 * qom-list-get's shape and errors, on qtestd and on the oracle with the same argv. Byte-identical,
 * except the two test devices QEMU 10.2.2 does not have (qtestd answers them from their
 * declarations) and types qtestd does not model (answered as unknown; deviations.md "QMP commands").
 */
import t from 'tap';
import { BASE_ARGS } from '../helpers/launch.js';
import { withOracle } from '../helpers/oracle.js';
import { call, startPeer } from '../protocol/qmp/peer.js';

const QTESTD_ONLY_TYPES = new Set(['iommu-testdev', 'smmu-testdev']);

const VARIANTS: Array<[string, string[]]> = [
  ['virt', ['-nodefaults', ...BASE_ARGS]],
  ['none', ['-nodefaults', '-machine', 'none']],
];

for (const [variant, args] of VARIANTS) {
  await withOracle(t, `type property lists on ${variant}`, async (tv) => {
    const q = await startPeer('qtestd', args);
    const o = await startPeer('oracle', args);
    tv.teardown(async () => {
      await q.s.teardown();
      await o.s.teardown();
    });
    const listed = JSON.parse(await call(q, '{"execute": "qom-list-types", "arguments": {"abstract": true}}')) as {
      return: Array<{ name: string }>;
    };
    const names = [...listed.return.map((e) => e.name), 'nonexistent', 'interface', 'pci-express-device'];
    let same = 0;
    for (const name of names) {
      for (const cmd of ['device-list-properties', 'qom-list-properties']) {
        const req = JSON.stringify({ execute: cmd, arguments: { typename: name } });
        const [qr, or] = [await call(q, req), await call(o, req)];
        if (QTESTD_ONLY_TYPES.has(name)) {
          tv.match(or, /"class": "DeviceNotFound"/, `${cmd} ${name}: not in QEMU 10.2.2`);
          if (cmd === 'device-list-properties' || qr.includes('"parent_bus"')) tv.match(qr, /^\{"return": \[/, req);
          continue;
        }
        tv.equal(qr, or, req);
        if (qr === or) same++;
      }
    }
    tv.pass(`${same} replies byte-identical over ${names.length} types`);
  });

  await withOracle(t, `qom-list-get on ${variant}`, async (tv) => {
    const q = await startPeer('qtestd', args);
    const o = await startPeer('oracle', args);
    tv.teardown(async () => {
      await q.s.teardown();
      await o.s.teardown();
    });
    for (const paths of [[], ['/machine', '/nope'], ['/nope'], ['/machine/peripheral', '/machine/peripheral-anon']]) {
      const req = JSON.stringify({ execute: 'qom-list-get', arguments: { paths } });
      tv.equal(await call(q, req), await call(o, req), req);
    }
    // Each path's list is qom-list's, with qom-get's value where it reads.
    const listed = JSON.parse(await call(q, '{"execute": "qom-list", "arguments": {"path": "/machine"}}')) as {
      return: Array<{ name: string; type: string }>;
    };
    const got = JSON.parse(await call(q, '{"execute": "qom-list-get", "arguments": {"paths": ["/machine"]}}')) as {
      return: Array<{ properties: Array<{ name: string; type: string; value?: unknown }> }>;
    };
    tv.same(
      got.return[0]!.properties.map((p) => [p.name, p.type]),
      listed.return.map((p) => [p.name, p.type]),
      'qom-list-get /machine lists what qom-list lists, in its order',
    );
  });
}
