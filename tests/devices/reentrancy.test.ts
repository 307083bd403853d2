/**
 * Device re-entrancy (src/devices/reentrancy.ts) for the RFC test devices, which the oracle does
 * not have: a DMA that reaches the device's own BAR from inside its MMIO access is refused with
 * an access error, as QEMU's re-entrancy guard does, so iommu-testdev reports DMA_TX_FAIL (its
 * pattern write to its own registers fails) and smmu-testdev DMA_TX_FAIL; nothing recurses, the
 * registers hold their values, and the session answers on. edu's MSI at its own raise-IRQ
 * register would loop forever without the guard.
 */
import t from 'tap';
import { VIRT_ARGS } from '../helpers/differential/variants.js';
import { DEVICES, Driver } from '../helpers/hardening/machine-driver.js';
import { hexU64 as hex } from '../helpers/bytes.js';

const ARGS = [...VIRT_ARGS, '-device', 'edu', '-device', 'iommu-testdev', '-device', 'smmu-testdev'];

t.test('iommu-testdev: a DMA at its own registers fails with DMA_TX_FAIL; no recursion', async (t) => {
  const d = new Driver(ARGS);
  d.setupDevices();
  const b = DEVICES.iommu.bar;
  // the DMA writes the pattern over DMA_TRIGGERING..DMA_RESULT and reads it back from there
  t.equal(d.iommuDma(b, 0x14, b), 0xdead0002n, 'DMA_TX_FAIL');
  t.equal(d.readl(b + 0x0cn), 0x14n, 'DMA_LEN kept its value (the write was refused)');
  t.equal(d.cmd('endianness'), 'OK little');
});

t.test('smmu-testdev: a DMA at its own registers fails with DMA_TX_FAIL', async (t) => {
  const d = new Driver(ARGS);
  d.setupDevices();
  const b = DEVICES.smmuTestdev.bar;
  t.equal(d.smmuTestdevDma(b, 0x40, 0), 0xdead0002n, 'write direction: DMA_TX_FAIL');
  t.equal(d.smmuTestdevDma(b + 0x28n, 8, 1), 0xdead0002n, 'read direction: DMA_TX_FAIL');
  t.equal(d.readl(b + 0x30n), 8n, 'DMA_LEN kept its value');
});

t.test('edu: MSI at its own raise-IRQ register from an MMIO write stops after one level', async (t) => {
  const d = new Driver(ARGS);
  d.setupDevices();
  const b = DEVICES.edu.bar;
  const cfg = (off: number) => hex(d.cfgAddr(DEVICES.edu.slot, off));
  d.ok(`writel ${cfg(0x44)} ${hex(b + 0x60n)}`);
  d.ok(`writel ${cfg(0x48)} 0x0`);
  d.ok(`writew ${cfg(0x4c)} 0x1`);
  d.ok(`writew ${cfg(0x42)} 0x1`);
  t.equal(d.cmd(`writel ${hex(b + 0x60n)} 0x2`), 'OK', 'no internal error, no stack overflow');
  t.equal(d.readl(b + 0x24n), 2n, 'IRQ status: the cause written, not the MSI data');
  t.equal(d.cmd('endianness'), 'OK little');
});
