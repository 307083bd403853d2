// Expected values come from docs/devices.md#edu and the QEMU 10.2.2 captures
// qtest/edu-registers.txt, edu-dma.txt, edu-msi-busmaster.txt, system-reset-effects.txt,
// smmu-edu-sid8.txt / irq-intercept-in-gic.txt (ordering), edu-dma-out-of-range-*.txt.
import t from 'tap';
import { pino } from 'pino';
import { Edu } from '../../src/devices/edu.js';
import type { Iommu } from '../../src/memory/dma-view.js';
import { deviceRig, registryDevice, RIG_RAM } from './rig.js';

const RAM = RIG_RAM;

function setup(opts: { dmaMask?: bigint; iommu?: Iommu; events?: string[] } = {}) {
  const events = opts.events ?? [];
  const logs: string[] = [];
  const dev = registryDevice('edu', Edu, { dma_mask: opts.dmaMask ?? 0xffffffffffffffffn });
  const log = pino({ level: 'trace' }, { write: (s: string) => void logs.push(JSON.parse(s).msg) });
  // What the host bridge would do for "writel BAR0 0x10000000; writew COMMAND 0x0006".
  const rig = deviceRig(dev, {
    iommu: opts.iommu,
    log,
    setIntx: (level) => events.push(`intx ${level}`),
    programBar0: true,
    command: 0x0006,
  });
  const rd = (off: number, size: number) => rig.rd(off, size);
  const wr = (off: number, size: number, v: bigint) => rig.wr(off, v, size);
  return { dev, clock: rig.clock, memory: rig.memory, events, logs, rd, wr, ram: rig.hex, poke: rig.poke };
}

t.test('config space matches the 10.2.2 identity, pin and MSI capability', async (t) => {
  const dev = registryDevice('edu', Edu);
  const expected: Array<[number, number]> = [
    [0x00, 0x11e81234],
    [0x04, 0x00100000],
    [0x08, 0x00ff0010],
    [0x0c, 0],
    [0x2c, 0x11001af4],
    [0x34, 0x40],
    [0x3c, 0x100],
    [0x40, 0x00800005],
    [0x44, 0],
    [0x48, 0],
    [0x4c, 0],
  ];
  for (const [off, v] of expected) t.equal(dev.configRead(off, 4), v, `config 0x${off.toString(16)}`);
  dev.configWrite(0x10, 4, 0xffffffff);
  t.equal(dev.configRead(0x10, 4), 0xfff00000, 'BAR0 sizes as 1 MiB');
  t.equal(dev.configRead(0x14, 4), 0);
});

t.test('BAR0 reads as captured in edu-registers.txt', async (t) => {
  const { rd } = setup();
  const readl: Array<[number, bigint]> = [
    [0x00, 0x010000edn],
    [0x04, 0n],
    [0x08, 0n],
    [0x0c, 0xffffffffn],
    [0x20, 0n],
    [0x24, 0n],
    [0x28, 0xffffffffn],
    [0x60, 0xffffffffn],
    [0x64, 0xffffffffn],
    [0x80, 0n],
    [0x84, 0xffffffffn],
    [0x88, 0n],
    [0x90, 0n],
    [0x98, 0n],
    [0xa0, 0xffffffffn],
    [0x100, 0xffffffffn],
    [0xffffc, 0xffffffffn],
  ];
  for (const [off, v] of readl) t.equal(rd(off, 4), v, `readl 0x${off.toString(16)}`);
  t.equal(rd(0x00, 8), 0xffffffffffffffffn, 'readq below 0x80');
  t.equal(rd(0x80, 8), 0n, 'readq at 0x80');
  t.equal(rd(0x00, 2), 0n, 'readw rejected');
  t.equal(rd(0x00, 1), 0n, 'readb rejected');
  t.equal(rd(0x02, 4), 0n, 'unaligned readl: two rejected 2-byte reads');
});

t.test('liveness stores the NOT; an unaligned writeq also starts a factorial', async (t) => {
  const { rd, wr } = setup();
  wr(0x04, 4, 0x12345678n);
  t.equal(rd(0x04, 4), 0xedcba987n);
  wr(0x04, 8, 0n);
  t.equal(rd(0x04, 4), 0xffffffffn);
  t.equal(rd(0x08, 4), 1n, '0x08 <- 0 computed 0! = 1');
});

t.test('factorial wraps in 32 bits and completes at once', async (t) => {
  const { rd, wr } = setup();
  const cases: Array<[bigint, bigint]> = [
    [5n, 0x78n],
    [12n, 0x1c8cfc00n],
    [13n, 0x7328cc00n],
    [0n, 1n],
  ];
  for (const [n, r] of cases) {
    wr(0x08, 4, n);
    t.equal(rd(0x20, 4), 0n, 'not computing');
    t.equal(rd(0x08, 4), r, `${n}!`);
  }
});

t.test('status keeps only bit 7; irq status is read-only', async (t) => {
  const { rd, wr } = setup();
  wr(0x20, 4, 0xffffffffn);
  t.equal(rd(0x20, 4), 0x80n);
  wr(0x20, 4, 0n);
  t.equal(rd(0x20, 4), 0n);
  wr(0x24, 4, 0x5n);
  t.equal(rd(0x24, 4), 0n);
});

t.test('DMA registers: 8-byte access, zero-extending 4-byte writes, no upper-half register', async (t) => {
  const { rd, wr } = setup();
  wr(0x80, 8, 0x1122334455667788n);
  t.equal(rd(0x80, 8), 0x1122334455667788n);
  t.equal(rd(0x80, 4), 0x55667788n);
  t.equal(rd(0x84, 4), 0xffffffffn);
  wr(0x80, 4, 0xaabbccddn);
  t.equal(rd(0x80, 8), 0xaabbccddn);
  wr(0x84, 4, 1n);
  t.equal(rd(0x80, 8), 0xaabbccddn);
  wr(0x98, 8, 0x6n);
  t.equal(rd(0x98, 8), 0n, 'command without RUN is ignored');
  t.equal(rd(0x90, 8), 0n);
});

t.test('INTx follows irq_status (edu-dma.txt)', async (t) => {
  const { rd, wr, events } = setup();
  wr(0x60, 4, 0x1n);
  t.same(events, ['intx 1']);
  wr(0x60, 4, 0x100n);
  t.equal(rd(0x24, 4), 0x101n);
  wr(0x64, 4, 0x1n);
  t.equal(rd(0x24, 4), 0x100n);
  t.equal(events.filter((e) => e === 'intx 0').length, 0, 'ack 0x1 leaves the line high');
  wr(0x64, 4, 0x100n);
  t.equal(events.at(-1), 'intx 0');
  events.length = 0;
  wr(0x60, 4, 0n);
  t.same(events, [], 'raise 0 with status 0 does nothing');
  wr(0x60, 4, 0xdeadbeefn);
  t.equal(rd(0x24, 4), 0xdeadbeefn);
  wr(0x64, 4, 0xffffffffn);
  t.same(events, ['intx 1', 'intx 0']);
});

t.test('factorial completion raises irq 0x1 when status bit 7 is set', async (t) => {
  const { rd, wr, events } = setup();
  wr(0x20, 4, 0x80n);
  wr(0x08, 4, 4n);
  t.same(events, ['intx 1']);
  t.equal(rd(0x20, 4), 0x80n);
  t.equal(rd(0x24, 4), 1n);
  t.equal(rd(0x08, 4), 0x18n);
});

t.test('DMA both ways with the ms-rounded 100 ms timer (edu-dma.txt)', async (t) => {
  const { rd, wr, clock, events, ram, poke } = setup();
  poke(RAM, '00112233445566778899aabbccddeeff');
  wr(0x80, 8, RAM);
  wr(0x88, 8, 0x40000n);
  wr(0x90, 8, 0x10n);
  wr(0x98, 8, 0x5n);
  t.equal(rd(0x98, 8), 0x5n);
  wr(0x80, 8, 0x123n);
  t.equal(rd(0x80, 8), RAM, 'frozen while RUN');
  clock.advanceBy(99999999n);
  t.equal(rd(0x98, 8), 0x5n);
  t.same(events, []);
  clock.advanceBy(1n);
  t.same(events, ['intx 1'], 'fires at 100000000');
  t.equal(rd(0x98, 8), 0x4n, 'RUN cleared, other bits kept');
  t.equal(rd(0x24, 4), 0x100n);
  wr(0x64, 4, 0x100n);
  wr(0x80, 8, 0x40000n);
  wr(0x88, 8, RAM + 0x1000n);
  wr(0x90, 8, 0x10n);
  wr(0x98, 8, 0x3n);
  t.equal(clock.nextDeadlineNs(), 200000000n);
  clock.advanceTo(200000000n);
  t.equal(ram(RAM + 0x1000n, 16), '00112233445566778899aabbccddeeff');
  // Offset inside the buffer and a zero count.
  wr(0x80, 8, RAM + 8n);
  wr(0x88, 8, 0x40ff8n);
  wr(0x90, 8, 8n);
  wr(0x98, 8, 1n);
  clock.advanceTo(clock.nextDeadlineNs()!);
  wr(0x80, 8, 0x40ff8n);
  wr(0x88, 8, RAM + 0x2000n);
  wr(0x98, 8, 3n);
  clock.advanceTo(clock.nextDeadlineNs()!);
  t.equal(clock.nowNs, 400000000n);
  t.equal(ram(RAM + 0x2000n, 8), '8899aabbccddeeff');
  events.length = 0;
  wr(0x90, 8, 0n);
  wr(0x98, 8, 7n);
  clock.advanceTo(clock.nextDeadlineNs()!);
  t.same(events, ['intx 1'], 'count 0 still completes and raises');
  wr(0x64, 4, 0x100n);
  // Deadline rounding and ignored re-arm.
  clock.advanceBy(0x1000n);
  t.equal(clock.nowNs, 500004096n);
  wr(0x98, 8, 1n);
  clock.advanceBy(50000000n);
  wr(0x98, 8, 5n);
  t.equal(rd(0x98, 8), 1n);
  t.equal(clock.nextDeadlineNs(), 600000000n);
  clock.advanceTo(600000000n);
  t.equal(rd(0x98, 8), 0n);
  t.equal(rd(0x24, 4), 0n);
});

t.test('MSI delivery, re-fire on every raise write, INTx when disabled (edu-msi-busmaster.txt)', async (t) => {
  const { dev, rd, wr, clock, events, ram, poke } = setup();
  dev.configWrite(0x44, 4, 0x40300000);
  dev.configWrite(0x48, 4, 0);
  dev.configWrite(0x4c, 2, 0xabcd);
  dev.configWrite(0x42, 2, 0x0001);
  t.equal(dev.configRead(0x40, 4), 0x00810005);
  wr(0x60, 4, 1n);
  t.equal(ram(0x40300000n, 8), 'cdab000000000000');
  poke(0x40300000n, '00000000');
  wr(0x60, 4, 0n);
  t.equal(ram(0x40300000n, 8), 'cdab000000000000', 'raise 0 re-fires while status != 0');
  poke(0x40300000n, '00000000');
  wr(0x64, 4, 1n);
  t.equal(rd(0x24, 4), 0n);
  t.equal(ram(0x40300000n, 8), '0000000000000000', 'ack sends nothing');
  wr(0x80, 8, RAM);
  wr(0x88, 8, 0x40000n);
  wr(0x90, 8, 8n);
  wr(0x98, 8, 5n);
  clock.advanceTo(clock.nextDeadlineNs()!);
  t.equal(ram(0x40300000n, 8), 'cdab000000000000', 'DMA completion sends MSI');
  wr(0x64, 4, 0x100n);
  t.same(
    events.filter((e) => e === 'intx 1'),
    [],
    'no INTx while MSI is on',
  );
  dev.configWrite(0x42, 2, 0);
  wr(0x60, 4, 1n);
  wr(0x64, 4, 1n);
  t.same(events.slice(-2), ['intx 1', 'intx 0']);
});

t.test('enabling MSI deasserts INTx; QME is clamped (oracle)', async (t) => {
  const { dev, wr, events } = setup();
  wr(0x60, 4, 1n);
  dev.configWrite(0x44, 4, 0x40300000);
  dev.configWrite(0x42, 2, 0x0071);
  t.equal(events.at(-1), 'intx 0');
  t.equal(dev.configRead(0x40, 4), 0x00810005);
});

t.test('bus mastering off: DMA reads zeros, writes are dropped, MSI dropped', async (t) => {
  const { dev, wr, clock, ram, poke } = setup();
  poke(RAM, '0102030405060708');
  dev.configWrite(0x04, 2, 0x0002);
  wr(0x80, 8, RAM);
  wr(0x88, 8, 0x40000n);
  wr(0x90, 8, 8n);
  wr(0x98, 8, 1n);
  clock.advanceTo(clock.nextDeadlineNs()!);
  wr(0x80, 8, 0x40000n);
  wr(0x88, 8, 0x40400000n);
  wr(0x98, 8, 3n);
  clock.advanceTo(clock.nextDeadlineNs()!);
  t.equal(ram(0x40400000n, 8), '0000000000000000', 'write dropped');
  dev.configWrite(0x04, 2, 0x0006);
  wr(0x98, 8, 3n);
  clock.advanceTo(clock.nextDeadlineNs()!);
  t.equal(ram(0x40400000n, 8), '0000000000000000', 'the earlier read filled zeros');
  dev.configWrite(0x04, 2, 0x0002);
  dev.configWrite(0x44, 4, 0x40300000);
  dev.configWrite(0x4c, 2, 0xabcd);
  dev.configWrite(0x42, 2, 1);
  wr(0x60, 4, 1n);
  t.equal(ram(0x40300000n, 4), '00000000', 'MSI dropped');
});

t.test('default dma_mask clamps bus addresses to 28 bits and logs it (edu-dma-out-of-range-f.txt)', async (t) => {
  const { dev, wr, clock, logs, ram, poke } = setup({ dmaMask: 0x0fffffffn });
  t.equal(dev.qomProperties().dma_mask.get(), 0x0fffffffn);
  poke(RAM, '1122334455667788');
  poke(0x08000000n + RAM, 'ffffffffffffffff');
  wr(0x80, 8, RAM);
  wr(0x88, 8, 0x40000n);
  wr(0x90, 8, 8n);
  wr(0x98, 8, 1n);
  clock.advanceTo(clock.nextDeadlineNs()!);
  t.same(logs, ['EDU: clamping DMA 0x0000000040000000 to 0x0000000000000000!']);
  t.same([...dev.buffer.subarray(0, 8)], [0, 0, 0, 0, 0, 0, 0, 0], 'read from unassigned 0x0');
  dev.qomProperties().dma_mask.set!(0xffffffffffffffffn);
  wr(0x80, 8, 0x40000n);
  wr(0x88, 8, RAM + 0x100n);
  wr(0x98, 8, 3n);
  clock.advanceTo(clock.nextDeadlineNs()!);
  t.equal(ram(RAM + 0x100n, 8), '0000000000000000');
  t.equal(logs.length, 1, 'no clamp message when nothing is dropped');
});

t.test('out-of-range DMA copies only the in-buffer part and logs the 10.2.2 text', async (t) => {
  const { dev, wr, clock, logs, ram, poke } = setup();
  poke(RAM, '0f0f0f0f0f0f0f0f');
  wr(0x80, 8, RAM);
  wr(0x88, 8, 0x41000n);
  wr(0x90, 8, 8n);
  wr(0x98, 8, 1n);
  clock.advanceTo(clock.nextDeadlineNs()!);
  t.same(logs, [
    'EDU: DMA range 0x0000000000041000-0x0000000000041007 out of bounds (0x0000000000040000-0x0000000000040fff)!',
  ]);
  t.equal(dev.qomProperties().dma_mask.get(), 0xffffffffffffffffn, 'dma_mask not overwritten');
  // Buffer → RAM from 0x40ff0, 0x40 bytes: the first 16 bytes come from the buffer, the rest is not written.
  dev.buffer.fill(0xaa, 0xff0);
  poke(RAM + 0x1000n, '55'.repeat(0x40));
  wr(0x80, 8, 0x40ff0n);
  wr(0x88, 8, RAM + 0x1000n);
  wr(0x90, 8, 0x40n);
  wr(0x98, 8, 3n);
  clock.advanceTo(clock.nextDeadlineNs()!);
  t.equal(
    logs[1],
    'EDU: DMA range 0x0000000000040ff0-0x000000000004102f out of bounds (0x0000000000040000-0x0000000000040fff)!',
  );
  t.equal(ram(RAM + 0x1000n, 0x40), 'aa'.repeat(16) + '55'.repeat(0x30));
  // A wrapping range and a huge count never touch memory outside the transfer's in-buffer part.
  wr(0x80, 8, 0xffffffff00000000n);
  wr(0x88, 8, RAM + 0x3000n);
  wr(0x90, 8, 8n);
  wr(0x98, 8, 3n);
  clock.advanceTo(clock.nextDeadlineNs()!);
  t.equal(ram(RAM + 0x3000n, 8), '0000000000000000');
  wr(0x80, 8, 0x40000n);
  wr(0x90, 8, 0x100000n);
  wr(0x98, 8, 3n);
  clock.advanceTo(clock.nextDeadlineNs()!);
  t.equal(ram(RAM + 0x3ff0n, 0x20), 'aa'.repeat(0x10) + '00'.repeat(0x10), 'only the 4 KiB buffer is copied');
});

t.test(
  'system_reset resets config and MSI but not edu state or a pending DMA (system-reset-effects.txt)',
  async (t) => {
    const { dev, rd, wr, clock, events, poke } = setup();
    wr(0x04, 4, 0x12345678n);
    wr(0x60, 4, 3n);
    wr(0x20, 4, 0x80n);
    wr(0x80, 8, RAM);
    wr(0x88, 8, 0x40000n);
    wr(0x90, 8, 8n);
    wr(0x98, 8, 5n);
    dev.configWrite(0x4c, 4, 0xffffffff);
    poke(RAM, '0102030405060708');
    clock.advanceBy(50000000n);
    events.length = 0;
    dev.reset();
    t.same(events, ['intx 0']);
    t.equal(dev.configRead(0x10, 4), 0);
    t.equal(dev.configRead(0x04, 4), 0x00100000);
    t.equal(dev.configRead(0x4c, 4), 0xffff0000, 'MSI data reset, bytes past the capability kept (oracle)');
    dev.configWrite(0x10, 4, 0x10000000);
    dev.configWrite(0x04, 2, 0x0006);
    t.equal(rd(0x04, 4), 0xedcba987n);
    t.equal(rd(0x20, 4), 0x80n);
    t.equal(rd(0x24, 4), 3n);
    t.equal(rd(0x80, 4), RAM);
    t.equal(rd(0x88, 4), 0x40000n);
    t.equal(rd(0x90, 4), 8n);
    t.equal(rd(0x98, 4), 5n);
    clock.advanceTo(clock.nextDeadlineNs()!);
    t.equal(clock.nowNs, 100000000n);
    t.same(events.slice(1), ['intx 1']);
    t.equal(rd(0x98, 4), 4n);
    t.equal(rd(0x24, 4), 0x103n);
    t.same([...dev.buffer.subarray(0, 8)], [1, 2, 3, 4, 5, 6, 7, 8]);
  },
);

t.test('a faulting DMA reports IOMMU events per 4-byte chunk before the INTx raise', async (t) => {
  const events: string[] = [];
  const iommu: Iommu = {
    translate: (sid, iova) => {
      events.push(`fault sid ${sid} 0x${iova.toString(16)}`);
      return { ok: false };
    },
  };
  const { wr, clock, dev } = setup({ iommu, events });
  dev.buffer.fill(0x77, 0, 8);
  wr(0x80, 8, RAM);
  wr(0x88, 8, 0x40000n);
  wr(0x90, 8, 8n);
  wr(0x98, 8, 5n);
  clock.advanceTo(clock.nextDeadlineNs()!);
  t.same(events, ['fault sid 8 0x40000000', 'fault sid 8 0x40000004', 'intx 1']);
  t.same([...dev.buffer.subarray(0, 8)], [0, 0, 0, 0, 0, 0, 0, 0], 'failed read fills zeros');
});
