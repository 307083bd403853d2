/**
 * Trace events in service sessions: `#!qtestd … -trace PATTERN` turns the session's events into
 * structured pino records on the service log ({ session, trace, args }, message = QEMU's line);
 * `events=` and `file=` are refused (they would open files on the server); other sessions stay
 * untraced.
 */
import t from 'tap';
import { startQtestd } from '../helpers/service-process.js';

const MACHINE = '-machine virt,acpi=off,gic-version=3,iommu=smmuv3 -cpu max -m 512 -net none';

t.test('a session traced with -trace logs its events as records', async (t) => {
  const q = await startQtestd({ args: ['--log-format', 'json'] });
  t.teardown(() => q.dispose());
  const c = await q.tcp();
  t.equal(await c.request(`#!qtestd id=traced ${MACHINE} -trace 'smmuv3_*_mmio' -trace pci_cfg_read`), 'OK');
  t.equal(await c.request('readl 0x09050000'), 'OK 0x000000000d44101b');
  t.equal(await c.request('readl 0x4010000000'), 'OK 0x0000000000081b36');
  const other = await q.tcp();
  t.equal(await other.request(`#!qtestd id=plain ${MACHINE}`), 'OK');
  t.equal(await other.request('readl 0x09050000'), 'OK 0x000000000d44101b');
  t.match(await c.request('#!qtestd -trace events=/etc/passwd'), /^FAIL/);
  const bad = await q.tcp();
  t.match(
    await bad.request(`#!qtestd ${MACHINE} -trace smmu*,file=/tmp/x`),
    /^FAIL -trace smmu\*,file=\/tmp\/x: 'file=' is not allowed/,
  );
  const recs = q.logRecords().filter((r) => r.trace !== undefined);
  t.same(
    recs.map((r) => [r.session, r.trace, r.msg]),
    [
      ['traced', 'smmuv3_read_mmio', 'smmuv3_read_mmio addr: 0x0 val:0xd44101b size: 0x4(0)'],
      ['traced', 'pci_cfg_read', 'pci_cfg_read gpex-root 00:00.0 @0x0 -> 0x81b36'],
    ],
  );
  t.same(recs[0].args, ['0x0', '0xd44101b', 4, 0]);
});
