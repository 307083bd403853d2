import t from 'tap';
import { ArgvError, parseArgv } from '../../src/config/argv.js';

const EXTRA =
  '-machine virt,acpi=off,gic-version=3,iommu=smmuv3 -smp 1 -m 512 -cpu max -net none -device iommu-testdev'.split(' ');
// The argv of each libqtest generation (docs/libqtest.md#argv), after shell word splitting.
const GENERATIONS: Record<string, string[]> = {
  A: [
    '-qtest',
    'unix:/tmp/qtest-1.sock',
    '-qtest-log',
    '/dev/null',
    '-chardev',
    'socket,path=/tmp/qtest-1.qmp,id=char0',
    '-mon',
    'chardev=char0,mode=control',
    '-display',
    'none',
    ...EXTRA,
    '-accel',
    'qtest',
  ],
  B: [
    '-qtest',
    'unix:/tmp/qtest-1.sock',
    '-qtest-log',
    '/dev/fd/2',
    '-chardev',
    'socket,path=/tmp/qtest-1.qmp,id=char0',
    '-mon',
    'chardev=char0,mode=control',
    '-display',
    'none',
    '-audio',
    'none',
    ...EXTRA,
    '-accel',
    'qtest',
  ],
  C: [
    '-trace',
    'smmuv3_*',
    '-qtest',
    'unix:/tmp/qtest-1.sock',
    '-qtest-log',
    '/dev/null',
    '-chardev',
    'socket,path=/tmp/qtest-1.qmp,id=char0',
    '-mon',
    'chardev=char0,mode=control',
    '-display',
    'none',
    '-audio',
    'none',
    '-run-with',
    'exit-with-parent=on',
    ...EXTRA,
    '-accel',
    'qtest',
  ],
  D: [
    '-qtest',
    'unix:/tmp/qtest-1.sock',
    '-qtest-log',
    '/dev/null',
    '-chardev',
    'socket,path=/tmp/qtest-1.qmp,id=char0',
    '-object',
    'monitor-qmp,id=qmp0,chardev=char0',
    '-display',
    'none',
    '-audio',
    'none',
    '-run-with',
    'exit-with-parent=on',
    ...EXTRA,
    '-accel',
    'qtest',
  ],
};

for (const [gen, argv] of Object.entries(GENERATIONS)) {
  t.test(`libqtest generation ${gen}`, async (t) => {
    const o = parseArgv(argv);
    t.same(o.qtest?.address, { kind: 'unix', path: '/tmp/qtest-1.sock', server: false, wait: true });
    t.same(
      o.qmp.map((q) => q.address),
      [{ kind: 'unix', path: '/tmp/qtest-1.qmp', server: false, wait: true }],
    );
    t.equal(o.machine.iommu, 'smmuv3');
    t.equal(o.machine.gicVersion, 3);
    t.equal(o.machine.ramBytes, 512n << 20n);
    t.same(
      o.machine.devices.map((d) => d.driver),
      ['iommu-testdev'],
    );
    t.equal(o.exitWithParent, gen === 'C' || gen === 'D');
    t.same(o.warnings, []);
  });
}

t.test('hand-written forms', async (t) => {
  const o = parseArgv([
    '-M',
    'virt',
    '-qtest',
    'tcp:127.0.0.1:4444,server=on,wait=off',
    '-qmp',
    'unix:/tmp/q.qmp,server=on,wait=off',
    '-m',
    '4G',
    '-S',
    '-nodefaults',
  ]);
  t.same(o.qtest?.address, { kind: 'tcp', host: '127.0.0.1', port: 4444, server: true, wait: false });
  t.same(o.qmp[0].address, { kind: 'unix', path: '/tmp/q.qmp', server: true, wait: false });
  t.equal(o.machine.ramBytes, 4n << 30n);
  t.equal(o.startStopped, true);
  t.same(parseArgv(['-qtest', 'unix:path=/x']).qtest?.address, { kind: 'unix', path: '/x', server: false, wait: true });
  t.same(parseArgv(['-machine', 'none']).machine.machine, 'none');
  t.equal(parseArgv(['-vga', 'none']).warnings.length, 1, 'unmodelled option: one warning');
});

t.test('malformed options fail with QEMU 10.2.2 wording', async (t) => {
  const err = (argv: string[], message: string) => {
    try {
      parseArgv(argv);
      t.fail(`no error for ${argv.join(' ')}`);
    } catch (e) {
      t.type(e, ArgvError);
      t.equal((e as Error).message, message);
    }
  };
  err(['-foo'], '-foo: invalid option');
  err(['-m', 'abc'], "-m abc: Parameter 'size' expects a non-negative number below 2^64");
  err(['-machine', 'foo'], 'unsupported machine type: "foo"');
  err(['-machine', 'virt,iommu=bogus'], 'Invalid iommu value');
  err(['-machine', 'virt,nosuch=1'], "Property 'virt-10.2-machine.nosuch' not found");
  err(['-smp', 'abc'], "Parameter 'smp.cpus' expects integer");
  err(['-display', 'gtk'], "-display gtk: Parameter 'type' does not accept value 'gtk'");
  err(['-chardev', 'socket,id=c'], '-chardev socket,id=c: Unable to parse FD number ');
  err(['-mon', 'chardev=nope,mode=control'], '-mon chardev=nope,mode=control: chardev "nope" not found');
  err(['-m'], '-m: requires an argument');
});
