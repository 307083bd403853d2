/**
 * `-machine virt,secure=on` against the oracle (docs/secure-smmu.md "Machine"): QEMU 10.2.2 runs
 * this mode under qtest; the Non-secure view loses flash bank 0 and never has the Secure RAM,
 * UART1 or GPIO. Every reply of a fixed session that touches those regions must be identical.
 * QOM: `/machine` gains `secure-memory[0]`, `/machine/unattached` the Secure UART, GPIO, gpio-pwr
 * and `virt.secure-ram[0]` (device numbers after them shift): `qom-list /machine` identical, and
 * every `device[N]` and `virt.*` entry of `/machine/unattached` identical (qtestd lists them in
 * creation order, QEMU in hash-table order, so compared as sets; QEMU's `system[0]`, `io[0]` and
 * `sysbus` entries are not modelled, with or without secure=on).
 */
import t from 'tap';
import { withOracle } from '../helpers/oracle.js';
import { diffSession } from '../helpers/differential/compare.js';
import { launch } from '../helpers/launch.js';
import type { TargetName } from '../helpers/launch.js';

t.setTimeout(5 * 60_000); // a safety net only

const ARGS = [
  '-machine',
  'virt,acpi=off,gic-version=3,iommu=smmuv3,secure=on',
  '-cpu',
  'max',
  '-m',
  '512',
  '-net',
  'none',
];

const REQUESTS = [
  // flash bank 0: a CFI read-ID command would answer 0x00890089 if flash 0 were in this view
  'writel 0x0 0x90',
  'readl 0x0',
  'readq 0x3fffff8',
  'writel 0x0 0xff',
  'readl 0x4000000',
  // Secure RAM, UART1, GPIO: absent from the Non-secure view
  'readl 0xe000000',
  'writel 0xe000000 0x12345678',
  'readl 0xe000000',
  'read 0xefffff0 0x20',
  'readl 0x9040fe0',
  'readb 0x9040018',
  'readl 0x90b0fe0',
  // the Non-secure UART0 and GPIO are still there
  'readl 0x9000fe0',
  'readl 0x9030fe0',
  // the SMMU without secure-impl: one bank, 0x8000+ reads as zero
  'readl 0x9050000',
  'readl 0x9058004',
  'writel 0x9058020 0xd',
  'readl 0x9058024',
  // RAM
  'writeq 0x40001000 0x1122334455667788',
  'readq 0x40001000',
];

await withOracle(t, 'virt,secure=on', async (t) => {
  const d = await diffSession(ARGS, REQUESTS);
  for (const m of d.mismatches)
    t.fail(`${m.request}: qtestd ${JSON.stringify(m.qtestd)} oracle ${JSON.stringify(m.oracle)}`);
  t.equal(d.mismatchCount, 0, `all ${REQUESTS.length} replies byte-identical`);
  t.ok(d.qtestd.done && d.oracle.done && d.qtestd.exitOk && d.oracle.exitOk, 'both sessions ended cleanly');
});

/** qom-list /machine (in order) and the device/region entries of /machine/unattached (as a set). */
async function qomView(target: TargetName, args: string[]): Promise<unknown> {
  const i = await launch({ target, args });
  try {
    const list = async (path: string) =>
      ((await i.qmp!.executeRaw('qom-list', { path })) as Array<{ name: string; type: string }>).map(
        (p) => `${p.name} ${p.type}`,
      );
    const types: string[] = [];
    for (const e of (await list('/machine/unattached')).filter((e) => e.startsWith('device['))) {
      const name = e.split(' ')[0];
      types.push(
        `${name} ${String(await i.qmp!.executeRaw('qom-get', { path: `/machine/unattached/${name}`, property: 'type' }))}`,
      );
    }
    return {
      machine: await list('/machine'),
      unattached: (await list('/machine/unattached')).filter((e) => /^(device\[|virt\.)/.test(e)).sort(),
      types: types.sort(),
      secure: await i.qmp!.executeRaw('qom-get', { path: '/machine', property: 'secure' }),
    };
  } finally {
    await i.teardown();
  }
}

const QOM_VARIANTS: Array<{ args: string[]; qtestdOnly: string[] }> = [
  { args: ['-machine', 'virt,secure=on', '-cpu', 'max', '-net', 'none'], qtestdOnly: [] },
  // the Secure SMMU (qtestd only) adds nothing to QOM: QEMU 10.2.2 without it must list the same
  {
    args: ['-machine', 'virt,secure=on,iommu=smmuv3,gic-version=3', '-cpu', 'max', '-net', 'none'],
    qtestdOnly: ['-global', 'arm-smmuv3.secure-impl=true'],
  },
];

for (const v of QOM_VARIANTS) {
  await withOracle(t, `QOM of ${[...v.args, ...v.qtestdOnly].join(' ')}`, async (t) => {
    const [q, o] = await Promise.all([qomView('qtestd', [...v.args, ...v.qtestdOnly]), qomView('oracle', v.args)]);
    t.same(q, o, 'qom-list /machine, the /machine/unattached devices and regions, qom-get secure');
  });
}
