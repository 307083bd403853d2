/**
 * Per-request work budgets (src/memory/work-meter.ts): a request past its budget answers
 * `FAIL work budget exceeded …`, the device it drove ends idle with its error code, and the
 * session keeps answering; without a budget (the launcher's default) the same requests complete.
 * Also: a session that drops a departed peer's unprocessed requests. In-process, no timing.
 */
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { QTESTD_BINARY } from '../helpers/paths.js';
import { DEVICES, Driver, REG, SMMU_ARGS } from '../helpers/hardening/machine-driver.js';
import { PLAIN_VIRT, RecordingLink } from '../helpers/session.js';
import { hexU64 as hex } from '../helpers/bytes.js';
import { Session } from '../../src/session/session.js';
import { parseArgv } from '../../src/config/argv.js';
import { DEFAULT_PLUGINS } from '../../src/machine/default-plugins.js';
import { DEFAULT_LIMITS } from '../../src/base/limits.js';
import { silentLogger } from '../../src/base/log.js';
import { sessionLimits } from '../../src/config/session-options.js';

const BUDGET = /^FAIL work budget exceeded: the request more than \d+ units of work/;
const TX_FAIL = 0xdead0002n;
const ECAM = 0x4010000000n;

function faultingSmmu(d: Driver): void {
  d.setupDevices();
  d.setupSmmuBypass(0x48000000n, 2); // sid 0x10 is past the table: every page faults
}

/** Arm iommu-testdev for `len` bytes at RAM and return the trigger's reply. */
function iommuTrigger(d: Driver, len: number): string {
  const b = DEVICES.iommu.bar;
  for (const [off, v] of [
    [0x04n, 0x40000000n],
    [0x08n, 0n],
    [0x1cn, 0x40000000n],
    [0x20n, 0n],
    [0x0cn, BigInt(len)],
    [0x18n, 0xan],
    [0x14n, 1n],
  ] as const)
    d.writel(b + off, v);
  return d.cmd(`readl ${hex(b)}`);
}

t.test('a faulting iommu-testdev DMA past the budget: FAIL, DMA_TX_FAIL, disarmed, session lives', async (t) => {
  const d = new Driver(SMMU_ARGS, { requestWorkUnits: 1_000_000 });
  faultingSmmu(d);
  t.match(iommuTrigger(d, 1 << 20), BUDGET, 'the trigger read answers FAIL work budget exceeded');
  t.equal(d.readl(DEVICES.iommu.bar + 0x10n), TX_FAIL, 'DMA_RESULT: DMA_TX_FAIL');
  t.equal(d.cmd(`readl ${hex(DEVICES.iommu.bar)}`), 'OK 0x0000000000000000', 'a second trigger finds it disarmed');
  t.equal(d.readl(DEVICES.iommu.bar + 0x10n), 0xdead0005n, 'DMA_NOT_ARMED');
  t.equal(d.cmd('endianness'), 'OK little', 'the session still answers');
  t.equal(d.session.stats().workBudgetExceeded, 1, 'counted');
  t.ok(d.session.stats().smmuFaults > 0, `SMMU faults counted (${d.session.stats().smmuFaults})`);
  // a small DMA fits the same budget (each request starts afresh)
  t.equal(d.iommuDma(0x40000000n, 0x100), TX_FAIL, 'a 256-byte faulting DMA runs to its own end');
  t.equal(d.session.stats().workBudgetExceeded, 1);
});

t.test('without a budget (the default) the same DMA completes', async (t) => {
  const d = new Driver(SMMU_ARGS);
  faultingSmmu(d);
  t.equal(iommuTrigger(d, 1 << 20), 'OK 0x0000000000000000');
  t.equal(d.readl(DEVICES.iommu.bar + 0x10n), TX_FAIL, 'DMA_TX_FAIL from the faults themselves');
  t.equal(d.session.stats().workBudgetExceeded, 0);
});

t.test('smmu-testdev past the budget: FAIL, DMA_TX_FAIL', async (t) => {
  const d = new Driver(SMMU_ARGS, { requestWorkUnits: 10_000 });
  faultingSmmu(d);
  const b = DEVICES.smmuTestdev.bar;
  d.writel(b + 0x28n, 0x40000000n);
  d.writel(b + 0x2cn, 0);
  d.writel(b + 0x30n, 0x10000);
  d.writel(b + 0x34n, 0);
  d.writel(b + 0x3cn, 1);
  t.match(d.cmd(`readl ${hex(b)}`), BUDGET);
  t.equal(d.readl(b + 0x38n), TX_FAIL, 'DMA_RESULT: DMA_TX_FAIL (not left BUSY)');
});

t.test('a CMDQ of 2^16 commands past the budget: FAIL, the queue stops with CERROR_ABT', async (t) => {
  const d = new Driver(SMMU_ARGS, { requestWorkUnits: 2_000_000 });
  d.setupSmmuBypass();
  const q = 0x50000000n;
  d.ok(`memset ${hex(q)} ${hex(16 << 16)} 0x46`); // every command: CMD_SYNC, CS=0
  d.smmuWriteq(REG.CMDQ_BASE, q | 16n);
  t.match(d.cmd(`writel ${hex(0x09050000n + BigInt(REG.CMDQ_PROD))} ${hex((1 << 16) - 1)}`), BUDGET);
  const cons = d.smmuReadl(REG.CMDQ_CONS);
  t.equal((cons >> 24n) & 0x7fn, 2n, 'CMDQ_CONS.ERR = CERROR_ABT');
  const consumed = cons & 0xffffn;
  t.ok(consumed > 0n && consumed < BigInt((1 << 16) - 1), `stopped part way (${consumed} consumed)`);
  t.equal((d.smmuReadl(REG.GERROR) ^ d.smmuReadl(REG.GERRORN)) & 1n, 1n, 'GERROR.CMDQ_ERR pending');
  t.equal(d.cmd('endianness'), 'OK little');
});

t.test('a bulk read over ECAM past the budget: FAIL; small requests never hit it', async (t) => {
  const d = new Driver(SMMU_ARGS, { requestWorkUnits: 1_000_000 });
  t.match(d.cmd(`b64read ${hex(ECAM)} 0x1000000`), BUDGET);
  t.equal(d.cmd(`readl ${hex(ECAM)}`), 'OK 0x0000000000081b36', 'the next request has its own budget');
  for (let i = 0; i < 2000; i++) d.ok(`writeq 0x40000000 ${hex(i)}`);
  t.equal(d.cmd('readq 0x40000000'), `OK 0x${(1999).toString(16).padStart(16, '0')}`);
  t.equal(d.session.stats().workBudgetExceeded, 1, 'only the big read ran out');
});

t.test('a wall-time budget cuts a long request', async (t) => {
  const d = new Driver(SMMU_ARGS, { requestWallMs: 1 });
  faultingSmmu(d);
  t.match(iommuTrigger(d, 16 << 20), /^FAIL work budget exceeded: the request ran longer than 1 ms/);
  t.equal(d.readl(DEVICES.iommu.bar + 0x10n), TX_FAIL);
});

t.test('a session line may lower the service budget, never raise it', async (t) => {
  const service = { ...DEFAULT_LIMITS, requestWorkUnits: 1000, requestWallMs: 5000 };
  t.same(
    [
      sessionLimits(service, { requestWorkUnits: 10 }).requestWorkUnits,
      sessionLimits(service, { requestWorkUnits: 1e9 }).requestWorkUnits,
    ],
    [10, 1000],
  );
  t.equal(sessionLimits(service, undefined).requestWallMs, 5000);
  t.equal(
    sessionLimits({ ...service, requestWallMs: 0 }, { requestWallMs: 7 }).requestWallMs,
    7,
    'unlimited service: the session sets one',
  );
});

t.test('dropOnDisconnect: requests held back by backpressure are dropped when the peer leaves', async (t) => {
  for (const drop of [false, true]) {
    const s = new Session(parseArgv(PLAIN_VIRT).machine, {
      log: silentLogger(),
      plugins: DEFAULT_PLUGINS,
      dropOnDisconnect: drop,
    });
    const link = new RecordingLink();
    link.accept = () => false; // the peer does not read its replies
    const ep = s.attachQtest(link);
    for (const v of [1, 2, 3]) ep.input(Buffer.from(`writel 0x40000000 ${v}\n`));
    t.equal(link.out, 'OK\n', 'one reply, then the endpoint waits for the peer');
    ep.end();
    const v = Buffer.alloc(4);
    s.machine.system.readBytes(0x40000000n, v);
    t.equal(v.readUInt32LE(0), drop ? 1 : 3, drop ? 'dropped: only the first request ran' : 'default: all ran (QEMU)');
    s.dispose();
  }
});

t.test('the drop-in launcher: no budget unless -machine …,x-qtestd-work-budget= sets one', async (t) => {
  const base = ['-machine', 'virt,acpi=off,gic-version=3', '-cpu', 'max', '-m', '512', '-net', 'none'];
  const script = 'b64read 0x4010000000 0x100000\nendianness\n';
  const run = (machine: string) =>
    spawnSync(
      QTESTD_BINARY,
      [
        ...base.map((a) => (a.startsWith('virt') ? machine : a)),
        '-accel',
        'qtest',
        '-qtest',
        'stdio',
        '-qtest-log',
        'none',
      ],
      {
        input: script,
        env: { ...process.env, QTESTD_NO_DAEMON: '1' },
        encoding: 'latin1',
        timeout: 5 * 60_000,
        maxBuffer: 64 << 20,
      },
    );
  const plain = run('virt,acpi=off,gic-version=3');
  t.match(plain.stdout, /^OK [A-Za-z0-9+/]+=*\nOK little\n$/, 'without: the read completes (QEMU)');
  t.equal(plain.stderr, '', 'stderr stays quiet (-qtest-log none)');
  const limited = run('virt,acpi=off,gic-version=3,x-qtestd-work-budget=100000');
  t.match(limited.stdout, /^FAIL work budget exceeded: the request more than 100000 units[^\n]*\nOK little\n$/);
  const bad = run('virt,x-qtestd-work-budget=lots');
  t.match(bad.stderr, /Parameter 'x-qtestd-work-budget' expects a non-negative integer/);
});
