/**
 * Device re-entrancy (src/devices/reentrancy.ts) against the oracle: edu's MSI aimed at its own
 * BAR from inside an MMIO write (raise-IRQ) is refused by QEMU's re-entrancy guard — the card
 * liveness and DMA-command registers it targets keep their values — while the same MSI and DMA
 * from edu's DMA timer (outside MMIO) go through. Every reply must be identical; qtestd neither
 * recurses nor reports an internal error.
 */
import t from 'tap';
import { VIRT_ARGS } from '../helpers/differential/variants.js';
import { withOracle } from '../helpers/oracle.js';
import { diffSession } from '../helpers/differential/compare.js';

const ARGS = [...VIRT_ARGS, '-device', 'edu,dma_mask=0xffffffffffffffff'];

// BAR0 at 0x10000000; MSI address (config 0x44) pointed at the BAR itself, data 0x1234.
const REQUESTS = [
  'writel 0x4010008010 0x10000000',
  'writew 0x4010008004 0x6',
  'readl 0x10000000',
  'writel 0x4010008044 0x10000004',
  'writel 0x4010008048 0x0',
  'writew 0x401000804c 0x1234',
  'writew 0x4010008042 0x1',
  'writel 0x10000004 0x5',
  'readl 0x10000004',
  'writel 0x10000060 0x1',
  'readl 0x10000004',
  'readl 0x10000024',
  'writel 0x4010008044 0x10000060',
  'writel 0x10000064 0x1',
  'writel 0x10000060 0x2',
  'readl 0x10000024',
  'writel 0x4010008044 0x10000008',
  'writel 0x10000060 0x4',
  'readl 0x10000008',
  'readl 0x10000020',
  'writeq 0x10000080 0x40000',
  'writeq 0x10000088 0x10000004',
  'writeq 0x10000090 0x4',
  'writel 0x10040000 0xcafe',
  'writeq 0x10000098 0x3',
  'clock_step 100000000',
  'readl 0x10000004',
  'readq 0x10000098',
  'writeq 0x10000080 0x10000000',
  'writeq 0x10000088 0x40000',
  'writeq 0x10000098 0x1',
  'clock_step 100000000',
  'readl 0x10040000',
  'writel 0x4010008044 0x10000098',
  'writeq 0x10000080 0x40000100',
  'writeq 0x10000088 0x40000',
  'writeq 0x10000098 0x5',
  'clock_step 100000000',
  'readq 0x10000098',
  'readl 0x10000024',
];

await withOracle(t, 'edu re-entrancy', async (t) => {
  const d = await diffSession(ARGS, REQUESTS);
  for (const m of d.mismatches)
    t.fail(`${m.request}: qtestd ${JSON.stringify(m.qtestd)} oracle ${JSON.stringify(m.oracle)}`);
  t.equal(d.mismatchCount, 0, `all ${REQUESTS.length} replies byte-identical`);
  t.ok(d.qtestd.done && d.oracle.done && d.qtestd.exitOk && d.oracle.exitOk, 'both sessions ended cleanly');
});
