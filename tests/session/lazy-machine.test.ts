/**
 * A session made with `lazyMachine` (what the drop-in launcher uses) builds its Machine on the
 * first request that needs it: `endianness` and a QMP monitor that runs no command do not, and
 * everything else answers byte for byte as an eagerly built session does (QOM paths, IRQ
 * interception, the clock, memory, reset). A config whose build can fail (a -device, -object or
 * -global) is built at once, so its error still comes at start-up. In-process, no timing.
 */
import t from 'tap';
import { pino } from 'pino';
import { parseArgv } from '../../src/config/argv.js';
import { DEFAULT_PLUGINS } from '../../src/machine/default-plugins.js';
import { ConfigError } from '../../src/machine/config.js';
import { Session } from '../../src/session/session.js';
import { attachQmp } from '../../src/session/qmp-attach.js';
import { PLAIN_VIRT, RecordingLink } from '../helpers/session.js';

const SMMU_VIRT = ['-machine', 'virt,acpi=off,gic-version=3,iommu=smmuv3', '-cpu', 'max', '-m', '512', '-net', 'none'];

function session(argv: string[], lazyMachine: boolean): { s: Session; built: () => boolean } {
  const s = new Session(parseArgv(argv).machine, {
    log: pino({ level: 'silent' }),
    plugins: DEFAULT_PLUGINS,
    lazyMachine,
  });
  let built = false;
  s.whenBuilt(() => (built = true));
  return { s, built: () => built };
}

function run(s: Session, lines: string[]): string {
  const link = new RecordingLink();
  const ep = s.attachQtest(link);
  ep.input(Buffer.from(lines.map((l) => l + '\n').join(''), 'latin1'));
  return link.out;
}

const GIC = '/machine/unattached/device[1]';
const SCRIPT = [
  'endianness',
  `irq_intercept_in ${GIC}`,
  `set_irq_in ${GIC} unnamed-gpio-in 4 1`,
  'readl 0x40000000',
  'writel 0x40000000 0x12345678',
  'readq 0x40000000',
  'b64read 0x40000000 0x10',
  'memset 0x40001000 0x20 0xa5',
  'read 0x40001000 0x20',
  'clock_step 1000',
  'clock_set 5000',
  'readl 0x9000000',
  'readl 0x4010000000',
  'readl 0x9050000',
  'inb 0x10',
  'writel_space 0x40000000 0x1 1',
  'readl_secure 0x40000000 1',
  'irq_intercept_out /machine/unattached/device[9] sysbus-irq',
  'irq_intercept_in nope',
  'module_load a b',
  'endianness',
];

t.test('endianness alone does not build the machine', async (t) => {
  const { s, built } = session(SMMU_VIRT, true);
  t.equal(run(s, ['endianness', 'endianness']), 'OK little\nOK little\n');
  t.notOk(built(), 'not built after endianness');
  t.equal(s.stats().workUnits, 0, 'stats read without building');
  t.notOk(built(), 'still not built after stats()');
  t.equal(run(s, ['readl 0x40000000']), 'OK 0x0000000000000000\n');
  t.ok(built(), 'built by the first memory access');
});

t.test('a QMP monitor that runs no command does not build it; a command may', async (t) => {
  const { s, built } = session(SMMU_VIRT, true);
  const link = new RecordingLink();
  const mon = attachQmp(s, link, () => {});
  t.match(link.out, /^\{"QMP": \{"version"/, 'greeting sent');
  t.notOk(built(), 'not built by the greeting');
  mon.input(Buffer.from('{"execute": "qmp_capabilities"}\n'));
  t.match(link.out, /\{"return": \{\}\}\r?\n$/);
  mon.input(Buffer.from('{"execute": "qom-list", "arguments": {"path": "/machine/unattached"}}\n'));
  t.ok(built(), 'built by qom-list');
});

for (const [name, argv] of [
  ['plain virt', PLAIN_VIRT],
  ['virt with SMMU', SMMU_VIRT],
] as const) {
  t.test(`${name}: a lazy session answers the script byte for byte as an eager one`, async (t) => {
    const eager = session([...argv], false);
    const lazy = session([...argv], true);
    t.ok(eager.built(), 'the eager session is built at once');
    t.notOk(lazy.built(), 'the lazy one is not');
    const a = run(eager.s, SCRIPT);
    const b = run(lazy.s, SCRIPT);
    t.equal(b, a);
    t.match(a, /IRQ raise 4\n/, 'the script reaches the GIC');
    // after a reset and on a second connection (IRQ intercept state carries over)
    eager.s.reset();
    lazy.s.reset();
    t.equal(run(lazy.s, [...SCRIPT].reverse()), run(eager.s, [...SCRIPT].reverse()), 'the same after reset');
  });
}

t.test('a reset before anything else builds the machine and behaves as an eager one', async (t) => {
  const eager = session(SMMU_VIRT, false);
  const lazy = session(SMMU_VIRT, true);
  eager.s.reset();
  lazy.s.reset();
  t.ok(lazy.built());
  t.equal(run(lazy.s, SCRIPT), run(eager.s, SCRIPT));
});

t.test('configs whose build can fail are built at once (their errors come at start-up)', async (t) => {
  const dev = session([...SMMU_VIRT, '-device', 'edu'], true);
  t.ok(dev.built(), 'built at once with a -device');
  const errorOf = (argv: string[]): unknown => {
    try {
      session(argv, true);
    } catch (e) {
      return e;
    }
    return undefined;
  };
  for (const [extra, message] of [
    [['-device', 'edu,bus=nope'], "-device edu,bus=nope: Bus 'nope' not found"],
    [['-m', '1000T'], "cannot set up guest memory 'mach-virt.ram': Cannot allocate memory"],
    [['-smp', '1000'], "Invalid SMP CPUs 1000. The max CPUs supported by machine 'virt-10.2' is 512"],
  ] as const) {
    const e = errorOf([...SMMU_VIRT, ...extra]);
    t.ok(e instanceof ConfigError, `${extra.join(' ')}: a ConfigError at construction`);
    t.equal((e as Error | undefined)?.message, message);
  }
  const glob = session([...SMMU_VIRT, '-global', 'arm-smmuv3.secure-impl=on'], true);
  t.ok(glob.built(), 'built at once with a -global');
});
