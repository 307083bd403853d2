// The README's examples, run as written against the real service with its default machine
// (the embedded `virt,iommu=smmuv3 … -device smmu-testdev`), so the documentation cannot rot.
import t from 'tap';
import { connect } from 'node:net';
import { QmpClient, QtestClient, PciBus } from '../../src/client/index.js';
import { DEFAULT_SERVICE_ARGV } from '../../src/machine/config.js';
import { startQtestd } from './fixtures/harness.js';

t.test('README: the nc session', async (t) => {
  const q = await startQtestd({ machineArgs: DEFAULT_SERVICE_ARGV.join(' ') });
  t.teardown(() => q.dispose());
  const sock = connect(q.tcpPort, '127.0.0.1');
  const lines = [
    '#!qtestd id=demo -machine virt,acpi=off,gic-version=3,iommu=smmuv3 -cpu max -m 512 -net none -device edu,dma_mask=0xffffffffffffffff',
    'endianness',
    'readl 0x4010000000',
    'readl 0x4010008000',
    'writel 0x40001000 0xdeadbeef',
    'read 0x40001000 0x4',
    'clock_step 1000',
  ];
  let out = '';
  const done = new Promise<void>((res) =>
    sock.on('data', (d) => ((out += d), out.split('\n').length > lines.length && res())),
  );
  sock.write(lines.join('\n') + '\n');
  await done;
  t.equal(out, 'OK\nOK little\nOK 0x0000000000081b36\nOK 0x0000000011e81234\nOK\nOK 0xefbeadde\nOK 1000\n');
  sock.destroy();
});

t.test('README: the typed client over WebSocket', async (t) => {
  const q = await startQtestd({ machineArgs: DEFAULT_SERVICE_ARGV.join(' ') });
  t.teardown(() => q.dispose());
  const base = `ws://127.0.0.1:${q.httpPort}`;
  const qt = await QtestClient.connectWebSocket(`${base}/qtest?device=edu,dma_mask=0xffffffffffffffff&id=job1`);
  const qmp = await QmpClient.connectWebSocket(`${base}/qmp?session=job1`, { token: qt.qmpToken });
  await qmp.negotiate();
  const pci = new PciBus(qt);
  const edu = await pci.findDevice(0x1234, 0x11e8);
  t.ok(edu, 'edu found (after the default smmu-testdev)');
  await pci.enable(edu!);
  const bar0 = await pci.mapBar(edu!, 0);
  t.equal((await pci.barReadl(bar0, 0)).toString(16), '10000ed');
  const irqs: string[] = [];
  qt.on('irq', (n: number, level: boolean) => void irqs.push(`${level ? 'raise' : 'lower'} ${n}`));
  await qt.irqInterceptIn('/machine/unattached/device[1]');
  const [, v] = await Promise.all([qt.writel(0x40001000n, 1n), qt.readl(0x40001000n)]);
  t.equal(v, 1n);
  const state = (await qmp.execute('x-qtestd-smmu-state', {})) as Record<string, unknown>;
  t.type(state, 'object');
  t.ok('registers' in state || Object.keys(state).length > 0, 'SMMU state has content');
  qt.close();
  qmp.close();
});
