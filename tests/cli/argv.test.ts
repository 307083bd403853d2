import t from 'tap';
import { ArgvError, parseArgv, parseLaunchArgv, socketFor } from '../../src/config/argv.js';

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
    t.same(socketFor(o, 'qtest')?.address, { kind: 'unix', path: '/tmp/qtest-1.sock', server: false, wait: true });
    t.same(
      o.sockets.filter((s) => s.roles.includes('qmp')).map((q) => q.address),
      [{ kind: 'unix', path: '/tmp/qtest-1.qmp', server: false, wait: true }],
    );
    // QEMU's order: the -chardev (QMP) socket in the chardevs phase, the -qtest one later
    t.same(
      o.sockets.map((s) => [s.phase, s.roles]),
      [
        ['chardevs', ['qmp']],
        ['late-backends', ['qtest']],
      ],
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
  t.same(socketFor(o, 'qtest')?.address, { kind: 'tcp', host: '127.0.0.1', port: 4444, server: true, wait: false });
  t.same(socketFor(o, 'qmp')?.address, { kind: 'unix', path: '/tmp/q.qmp', server: true, wait: false });
  t.equal(o.machine.ramBytes, 4n << 30n);
  t.equal(o.startStopped, true);
  t.same(socketFor(parseArgv(['-M', 'none', '-qtest', 'unix:path=/x']), 'qtest')?.address, {
    kind: 'unix',
    path: '/x',
    server: false,
    wait: true,
  });
  t.same(parseArgv(['-machine', 'none']).machine.machine, 'none');
  t.same(parseArgv(['-M', 'none', '-vga', 'none']).warnings, [], '-vga none: silent, as QEMU');
  t.same(parseArgv(['-M', 'none', '-vga', 'std']).warnings, [
    'A -vga option was passed but this machine type does not use that option; No VGA device has been created',
  ]);
  t.same(parseArgv(['-M', 'none', '-monitor', 'none']).warnings, []);
});

t.test("QEMU's Python machine library argv (QEMUQtestMachine)", async (t) => {
  const argv =
    '-display none -vga none -chardev socket,id=mon,fd=5 -mon chardev=mon,mode=control -chardev socket,id=qtest,fd=3 -qtest chardev:qtest -accel qtest -machine virt,acpi=off -accel qtest'.split(
      ' ',
    );
  const o = parseArgv(argv);
  t.same(
    o.sockets.map((s) => [s.spec, s.phase, s.address, s.roles]),
    [
      ['-chardev socket,id=mon,fd=5', 'chardevs', { kind: 'fd', fd: 5 }, ['qmp']],
      ['-chardev socket,id=qtest,fd=3', 'chardevs', { kind: 'fd', fd: 3 }, ['qtest']],
    ],
  );
  t.same(o.warnings, []);
  const obj = parseArgv([
    '-M',
    'none',
    '-chardev',
    'socket,id=q,fd=3',
    '-object',
    'qtest,id=qt,chardev=q,log=/dev/null',
  ]);
  t.same(socketFor(obj, 'qtest')?.address, { kind: 'fd', fd: 3 });
  t.equal(obj.qtestLog, '/dev/null');
});

t.test('errors after the option loop are deferred to their start-up phase', async (t) => {
  const d = (argv: string[]) => parseLaunchArgv(['-display', 'none', ...argv]).deferred;
  t.same(d([]), {
    phase: 'machine-type',
    message: 'No machine specified, and there is no default',
    hint: 'Use -machine help to list supported machines',
  });
  t.equal(d(['-M', 'bogus'])?.phase, 'machine-type');
  t.same(d(['-M', 'virt,foo=bar']), { phase: 'machine-props', message: "Property 'virt-10.2-machine.foo' not found" });
  t.equal(d(['-M', 'virt', '-smp', 'x'])?.phase, 'machine-props');
  t.same(d(['-M', 'virt', '-qtest', 'chardev:nope']), {
    phase: 'late-backends',
    message: 'Failed to initialize device for qtest: "chardev:nope"',
  });
  t.same(d(['-M', 'virt', '-object', 'qtest,id=q,chardev=nope']), {
    phase: 'late-backends',
    message: "Cannot find character device 'nope'",
  });
  t.same(d(['-M', 'virt', '-cpu', 'bogus']), { phase: 'board', message: "unable to find CPU model 'bogus'" });
  t.equal(d(['-M', 'virt,foo=bar', '-cpu', 'bogus'])?.phase, 'machine-props', 'the earliest phase wins');
  const sock = parseLaunchArgv(['-M', 'none', '-chardev', 'socket,id=q,fd=abc']).sockets[0];
  t.equal(sock.error, '-chardev socket,id=q,fd=abc: Unable to parse FD number abc', 'reported when created');
  t.throws(
    () => parseLaunchArgv(['-M', 'virt,foo=bar', '-display', 'sdl']),
    {
      message: "-display sdl: Parameter 'type' does not accept value 'sdl'",
    },
    'an option-loop error wins over any deferred one',
  );
});

t.test('help requests', async (t) => {
  const info = (argv: string[]) => parseLaunchArgv(argv).info;
  t.same(info(['-version', '-display', 'sdl']), { what: 'version' }, 'at once, in the option loop');
  t.same(info(['-h']), { what: 'help' });
  t.same(info(['--help']), { what: 'help' });
  t.same(info(['-machine', 'help']), { what: 'machine-help' });
  t.same(info(['-machine', 'virt,help']), { what: 'machine-props', machine: 'virt' });
  t.same(info(['-M', 'none', '-M', 'help']), { what: 'machine-help' });
  t.same(info(['-M', 'none', '-M', 'accel=qtest,help']), { what: 'machine-props', machine: 'none' });
  t.same(info(['-cpu', 'help', '-device', 'help']), { what: 'cpu-help' }, '-cpu help first');
  t.same(info(['-device', 'edu,help', '-device', 'help']), {
    what: 'device-props',
    driver: 'edu',
    where: '-device edu,help',
  });
  t.same(info(['-device', '?']), { what: 'device-help' });
  t.same(info(['-device', 'edu,help', '-machine', 'help']), { what: 'machine-help' });
  t.equal(info(['-M', 'none', '-device', 'edu,help=on']), undefined, 'help=on is a property');
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
  err(
    ['-M', 'none', '-chardev', 'null,id=q', '-chardev', 'null,id=q'],
    "-chardev null,id=q: Duplicate ID 'q' for chardev",
  );
  err(['-M', 'none', '-object', 'qtest,chardev=c'], "-object qtest,chardev=c: Parameter 'id' is missing");
  err(['-machine', 'virt,iommu=bogus'], 'Invalid iommu value');
  err(['-machine', 'virt,nosuch=1'], "Property 'virt-10.2-machine.nosuch' not found");
  err(['-M', 'virt', '-smp', 'abc'], "Parameter 'smp.cpus' expects integer");
  err(['-display', 'gtk'], "-display gtk: Parameter 'type' does not accept value 'gtk'");
  err(['-M', 'none', '-chardev', 'socket,id=c'], '-chardev socket,id=c: Unable to parse FD number ');
  err(['-M', 'none', '-mon', 'chardev=nope,mode=control'], '-mon chardev=nope,mode=control: chardev "nope" not found');
  err(['-m'], '-m: requires an argument');
});
