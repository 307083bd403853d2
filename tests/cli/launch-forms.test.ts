// Launch forms and command-line help of the drop-in qemu-system-aarch64, as QEMU 10.2.2 answers
// them: error texts of bad chardev / monitor / qtest forms in QEMU's start-up order (golden
// strings captured from the oracle, and the oracle itself when available), and the help outputs
// (QEMU's format, listing only what qtestd accepts).
import t from 'tap';
import { spawnChild } from '../helpers/processes.js';
import { QTESTD_BINARY } from '../helpers/paths.js';
import { oracle, withOracle } from '../helpers/oracle.js';

const PROGRAM = 'qemu-system-aarch64';
t.setTimeout(10 * 60 * 1000); // a safety net only: ~80 launches on a busy 2-core machine

/** Run `fn` over `items`, four at a time, results in order. */
async function pool<T, R>(items: readonly T[], fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += 4) out.push(...(await Promise.all(items.slice(i, i + 4).map(fn))));
  return out;
}

async function run(binary: string, argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnChild(binary, argv, {
    env: { ...process.env, QTESTD_NO_DAEMON: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const closed = new Promise((r) => child.proc.once('close', r)); // stdio drained, not just exited
  const st = await child.exit;
  await closed;
  return { code: st.code, stdout: child.stdout(), stderr: child.stderr() };
}

/** Each argv (after `-display none`, before `-accel qtest`) with QEMU's stderr ($ = the program name); exit 1. */
const FAILING: Array<[string, string]> = [
  ['-M none -qtest chardev:nope', '$: Failed to initialize device for qtest: "chardev:nope"\n'],
  ['-M none -qtest chardev:', '$: Failed to initialize device for qtest: "chardev:"\n'],
  ['-M none -chardev socket,id=q -qtest chardev:q', '$: -chardev socket,id=q: Unable to parse FD number \n'],
  [
    '-M none -chardev socket,id=q,fd=99 -qtest chardev:q',
    "$: -chardev socket,id=q,fd=99: File descriptor '99' is not a socket\n",
  ],
  [
    '-M none -chardev socket,id=q,fd=abc -qtest chardev:q',
    '$: -chardev socket,id=q,fd=abc: Unable to parse FD number abc\n',
  ],
  [
    '-M none -chardev socket,id=q,fd=0 -qtest chardev:q',
    "$: -chardev socket,id=q,fd=0: File descriptor '0' is not a socket\n",
  ],
  [
    '-M none -chardev socket,id=q,fd=3,path=/tmp/x',
    "$: -chardev socket,id=q,fd=3,path=/tmp/x: None or one of 'path', 'fd' or 'host' option required.\n",
  ],
  [
    '-M none -chardev null,id=q -chardev socket,id=q,fd=99',
    "$: -chardev socket,id=q,fd=99: Duplicate ID 'q' for chardev\n",
  ],
  [
    '-M none -chardev socket,path=/nonexistent/x,id=c',
    "$: -chardev socket,path=/nonexistent/x,id=c: Failed to connect to '/nonexistent/x': No such file or directory\n",
  ],
  [
    '-M none -chardev socket,id=c,fd=0 -qmp unix:/nonexistent/x',
    "$: -chardev socket,id=c,fd=0: File descriptor '0' is not a socket\n",
  ],
  [
    '-M none -qmp unix:/nonexistent/x -chardev socket,id=c,fd=0',
    "$: -qmp unix:/nonexistent/x: Failed to connect to '/nonexistent/x': No such file or directory\n",
  ],
  ['-M none -mon chardev=nope,mode=control', '$: -mon chardev=nope,mode=control: chardev "nope" not found\n'],
  ['-M none -mon nope', '$: -mon nope: chardev "nope" not found\n'],
  ['-M none -mon chardev=x,mode=foo', "$: -mon chardev=x,mode=foo: Parameter 'mode' does not accept value 'foo'\n"],
  ['-M none -qmp chardev:nope', '$: -qmp chardev:nope: chardev "nope" not found\n'],
  ['-M none -monitor chardev:nope', '$: -monitor chardev:nope: chardev "nope" not found\n'],
  ['-M none -object qtest,chardev=nope', "$: -object qtest,chardev=nope: Parameter 'id' is missing\n"],
  ['-M none -object qtest,id=q', "$: -object qtest,id=q: Parameter 'chardev' is missing\n"],
  ['-M none -object qtest,id=q,chardev=nope', "$: Cannot find character device 'nope'\n"],
  ['-M none -object qtest,id=q -display sdl', "$: -object qtest,id=q: Parameter 'chardev' is missing\n"],
  [
    '-M none -chardev socket,id=q,fd=abc -display sdl',
    "$: -display sdl: Parameter 'type' does not accept value 'sdl'\n",
  ],
  [
    '-M none -serial unix:/nonexistent/x',
    "$: -serial unix:/nonexistent/x: Failed to connect to '/nonexistent/x': No such file or directory\n$: -serial unix:/nonexistent/x: could not connect serial device to character backend 'unix:/nonexistent/x'\n",
  ],
  [
    '-M none -serial chardev:nope',
    "$: -serial chardev:nope: could not connect serial device to character backend 'chardev:nope'\n",
  ],
  ['-M none -cpu bogus', "$: unable to find CPU model 'bogus'\n"],
  [
    '-M none -qtest unix:/nonexistent/x',
    '$: Failed to connect to \'/nonexistent/x\': No such file or directory\n$: Failed to initialize device for qtest: "unix:/nonexistent/x"\n',
  ],
  ['-M bogus -display sdl', "$: -display sdl: Parameter 'type' does not accept value 'sdl'\n"],
  ['-M virt,foo=bar -display sdl', "$: -display sdl: Parameter 'type' does not accept value 'sdl'\n"],
  ['-M virt,foo=bar -cpu bogus', "$: Property 'virt-10.2-machine.foo' not found\n"],
  ['-M virt -cpu cortex-a15', '$: Invalid CPU model: cortex-a15\nThe valid models are: cortex-a53, cortex-a57, max\n'],
  ['-M virt,foo=bar -chardev socket,id=c,fd=0', "$: -chardev socket,id=c,fd=0: File descriptor '0' is not a socket\n"],
  [
    '-chardev socket,id=c,fd=0',
    '$: No machine specified, and there is no default\nUse -machine help to list supported machines\n',
  ],
  [
    '-M virt -device edux -chardev socket,id=c,fd=99',
    "$: -chardev socket,id=c,fd=99: File descriptor '99' is not a socket\n",
  ],
  ['', '$: No machine specified, and there is no default\nUse -machine help to list supported machines\n'],
];

t.test("bad launch forms: exit 1 with QEMU 10.2.2's text", async (t) => {
  const argvOf = (args: string): string[] => [
    '-display',
    'none',
    ...args.split(' ').filter(Boolean),
    '-accel',
    'qtest',
  ];
  const want = (golden: string) => ({ code: 1, stderr: golden.replaceAll('$: ', `${PROGRAM}: `) });
  const got = await pool(FAILING, ([args]) => run(QTESTD_BINARY, argvOf(args)));
  FAILING.forEach(([args, golden], i) =>
    t.same({ code: got[i].code, stderr: got[i].stderr }, want(golden), args || '(no options)'),
  );
  await withOracle(t, 'the oracle agrees with the golden texts', async (tt) => {
    const o = await pool(FAILING, ([args]) => run(oracle!.binary, argvOf(args)));
    FAILING.forEach(([args, golden], i) => tt.same({ code: o[i].code, stderr: o[i].stderr }, want(golden), args));
  });
});

/** Lines of `sub` appear in `all` in the same order (a filtered listing). */
function isSubsequence(sub: string[], all: string[]): boolean {
  let i = 0;
  for (const l of all) if (i < sub.length && l === sub[i]) i++;
  return i === sub.length;
}

const lines = (s: string): string[] => s.split('\n').filter((l, i, a) => i < a.length - 1 || l !== '');

t.test('help outputs', async (t) => {
  const ours = async (argv: string[]) => run(QTESTD_BINARY, argv);
  const v = await ours(['-version']);
  t.same(v, {
    code: 0,
    stdout: 'QEMU emulator version 10.2.2\nCopyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers\n',
    stderr: '',
  });
  t.same(await ours(['--version']), v);
  t.same(await ours(['-cpu', 'help']), {
    code: 0,
    stdout: 'Available CPUs:\n  cortex-a53\n  cortex-a57\n  max\n',
    stderr: '',
  });
  const edu = await ours(['-device', 'edu,help']);
  t.equal(edu.code, 0);
  t.ok(edu.stdout.startsWith('edu options:\n  acpi-index=<uint32>    -  (default: 0)\n'), 'edu options');
  t.ok(edu.stdout.includes('\n  dma_mask=<uint64>\n'), 'its own property');
  t.same(await ours(['-device', 'bogus,help']), {
    code: 0,
    stdout: '',
    stderr: `${PROGRAM}: -device bogus,help: Device 'bogus' not found\n`,
  });
  const dev = await ours(['-device', 'help']);
  t.match(dev.stdout, /name "edu", bus PCI\n/);
  t.match(dev.stdout, /name "pcie-root-port", bus PCI, desc "PCI Express Root Port"\n/);
  t.same(lines((await ours(['-machine', 'help'])).stdout), [
    'Supported machines are:',
    'none                 empty machine',
    'virt                 QEMU 10.2 ARM Virtual Machine (alias of virt-10.2)',
    'virt-10.2            QEMU 10.2 ARM Virtual Machine',
  ]);
  const virt = lines((await ours(['-machine', 'virt,help'])).stdout);
  t.equal(virt[0], 'virt-10.2-machine options:');
  t.ok(virt.some((l) => l.startsWith('  iommu=<string>')));
  t.notOk(
    virt.some((l) => l.startsWith('  kernel=')),
    'a property we do not accept is not listed',
  );
  const help = await ours(['--help']);
  t.equal(help.code, 0);
  t.same(await ours(['-h']), help);
  t.match(help.stdout, /^QEMU emulator version 10\.2\.2\n.*\nusage: qemu-system-aarch64 \[options\] \[disk_image\]\n/);
  t.match(help.stdout, /\n-qmp dev {8}like -monitor but opens in 'control' mode\n/, 'lists -qmp');
  t.match(help.stdout, /\n-chardev socket,id=id,path=path/, 'lists the socket chardev');
  t.notMatch(help.stdout, /\n-chardev (pty|help)/, 'but not backends we do not open');
  t.notMatch(help.stdout, /\n-spice /, 'leaves out what we do not accept');

  await withOracle(t, "each listing is the oracle's, filtered", async (tt) => {
    for (const argv of [
      ['--help'],
      ['-cpu', 'help'],
      ['-device', 'help'],
      ['-machine', 'help'],
      ['-machine', 'virt,help'],
      ['-machine', 'none,help'],
    ]) {
      const o = await run(oracle!.binary, argv);
      const q = await ours(argv);
      // device types the oracle's binary does not have (qtestd's own test devices) are left out here
      const missing = [...q.stdout.matchAll(/^name "([^"]+)"/gm)]
        .map((m) => m[1])
        .filter((n) => !o.stdout.includes(`name "${n}"`));
      if (missing.length) tt.comment(`not in the oracle's ${argv.join(' ')}: ${missing.join(', ')}`);
      q.stdout = q.stdout
        .split('\n')
        .filter((l) => !missing.some((n) => l.startsWith(`name "${n}"`)))
        .join('\n');
      tt.equal(q.code, o.code, `${argv.join(' ')}: exit status`);
      tt.equal(lines(q.stdout)[0], lines(o.stdout)[0], `${argv.join(' ')}: same first line`);
      tt.ok(isSubsequence(lines(q.stdout), lines(o.stdout)), `${argv.join(' ')}: the oracle's lines, filtered`);
    }
    for (const argv of [
      ['-version'],
      ['-device', 'edu,help'],
      ['-device', 'pci-testdev,help'],
      ['-device', 'bogus,help'],
      ['-machine', 'virt', '-device', 'edu,help'],
    ]) {
      tt.same(await ours(argv), await run(oracle!.binary, argv), argv.join(' '));
    }
  });
});
