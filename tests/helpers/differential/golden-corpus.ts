/**
 * The small fixed corpus stored as golden transcripts in protocol/transcripts/qtest-*.txt.
 * Replies are recorded FROM THE ORACLE by record-transcripts.ts; this file only holds requests.
 * Relevant cases of reference/qemu-10.2.2/qtest/qtest-oddities.txt are included, minus DTB reads.
 */
import { GIC_PATH, SMMU_PATH } from './generator.js';
import { VIRT_ARGS, VIRT_SMMU_ARGS } from './variants.js';

export interface GoldenCorpus {
  /** file name: protocol/transcripts/<name>.txt */
  name: string;
  title: string;
  args: string[];
  /** requests; a string starting with '#' followed by a space is a comment, not sent */
  requests: string[];
  /** replay against qtestd is expected to fail (known deviation): tap todo with this reason */
  todo?: string;
}

const EDU_ARGS = [...VIRT_SMMU_ARGS, '-device', 'edu,dma_mask=0xffffffffffffffff'];
const PTD_ARGS = [...VIRT_SMMU_ARGS, '-device', 'pci-testdev'];
const RAM = '0x40200000';

const regionReads = (addrs: string[]) => addrs.flatMap((a) => [`readb ${a}`, `readw ${a}`, `readl ${a}`, `readq ${a}`]);

export const GOLDEN: GoldenCorpus[] = [
  {
    name: 'qtest-oddities',
    title: 'qtest tokenizer/number/data-format oddities (reference qtest-oddities.txt, minus DTB reads)',
    args: VIRT_ARGS,
    requests: [
      '# write with fewer hex digits than size / odd digit count / no 0x prefix / non-hex',
      `memset ${RAM} 0x8 0xee`, `write ${RAM} 0x8 0x1122`, `read ${RAM} 0x8`,
      `memset ${RAM} 0x8 0xee`, `write ${RAM} 0x4 0x123`, `read ${RAM} 0x8`,
      `memset ${RAM} 0x8 0xee`, `write ${RAM} 0x2 1122`, `read ${RAM} 0x8`,
      `memset ${RAM} 0x8 0xee`, `write ${RAM} 0x2 0xzz11`, `read ${RAM} 0x8`,
      `memset ${RAM} 0x8 0xee`, `write ${RAM} 0x2 0x1zz1`, `read ${RAM} 0x8`,
      `memset ${RAM} 0x8 0xee`, `write ${RAM} 0x4 0x`, `read ${RAM} 0x8`,
      `memset ${RAM} 0x8 0xee`, `write ${RAM} 0x4 0x1`, `read ${RAM} 0x8`,
      `memset ${RAM} 0x8 0xee`, `write ${RAM} 0x2 0x11223344`, `read ${RAM} 0x8`,
      `memset ${RAM} 0x8 0xee`, `write ${RAM} 0x4 0xABcdEF01`, `read ${RAM} 0x8`,
      `write ${RAM} 0x0 0x00`, `read ${RAM} 0x1`,
      '# b64write: too short, exact, longer payload than SIZE, size 0',
      `b64write ${RAM} 0x4 QQ`,
      `b64write ${RAM} 0x4 QUJDRA==`, `read ${RAM} 0x8`,
      `b64write ${RAM} 0x2 QUJDRA==`, `read ${RAM} 0x8`,
      `b64write ${RAM} 0x0 QUJDRA==`, `b64read ${RAM} 0x0`, `b64read ${RAM} 0x5`,
      '# memset: size 0, pattern wider than a byte',
      `memset ${RAM} 0x0 0x55`, `memset ${RAM} 0x4 0x1ff`, `read ${RAM} 0x4`,
      '# port I/O (virt: the CPU I/O space is empty)',
      'inb 0x0', 'inw 0x0', 'inl 0x0', 'outb 0x0 0x12', 'inb 0x0', 'inl 0xffff', 'inw 0xffff', 'inl 0xfffe', 'outl 0xfffd 0xffffffff',
      '# number parsing: truncation, decimal, octal, 0X, negative, +, leading zeros',
      `writeb ${RAM} 0x1ff`, `readb ${RAM}`, 'readb 1075838976', 'readb 010', 'readb 0X40200000', 'readb -1',
      'readb +0x40200000', 'readb 0x0000040200000', `readb -${(2n ** 64n - 0x40200000n).toString()}`, `writel ${RAM} -1`, `readl ${RAM}`,
      `writeq ${RAM} 01777777777777777777777`, `readq ${RAM}`,
      '# whitespace, comments, case, extra tokens',
      `readb ${RAM} `, ` readb ${RAM}`, '#', '# a comment', `readb ${RAM} extra tokens are ignored`,
      '', 'endianness', '\t', 'endianness\r', 'foo\r', 'READB 0x0', 'endianness big',
      '# unknown commands and hooks of other machines',
      'rtas foo', 'csr get_csr 0 0', 'qom-tests', 'module_load foo bar',
      '# irq commands that fail',
      'irq_intercept_in /machine/nonexistent', `irq_intercept_in ${GIC_PATH} foo`, `set_irq_in /machine/nonexistent unnamed-gpio-in 4 1`,
      `set_irq_in ${GIC_PATH} unnamed-gpio-in 4 1`,
    ],
  },
  {
    name: 'qtest-clock',
    title: 'clock_step / clock_set under -accel qtest (no pending timer on plain virt)',
    args: VIRT_ARGS,
    requests: [
      'clock_step', 'clock_step 0', 'clock_step -5', 'clock_step 1000', 'clock_set 500', 'clock_set 1000',
      'clock_set 5000', 'clock_step 0x10', 'clock_step 010', 'clock_step +7', 'clock_set -1', 'clock_set 0X2000',
      'clock_step 999999999', 'clock_set 1000009999', 'clock_step', 'clock_set 1000010000',
    ],
  },
  {
    name: 'qtest-regions',
    title: 'reads of every region of the virt memory map (except the DTB), main argv without a device',
    args: VIRT_SMMU_ARGS,
    requests: [
      '# GIC: byte and word reads only here (8-byte GIC reads are a known deviation)',
      ...['0x8000000', '0x8010000', '0x80a0000'].flatMap((a) => [`readb ${a}`, `readl ${a}`]),
      ...regionReads(['0x0', '0x9050000', '0xa000000', '0xc000000',
        '0x10000000', '0x20000000', '0x3eff0000', '0x3f000000', '0x40100000', '0x5ffffffc', '0x60000000',
        '0x4010000000', '0x4010010000', '0x4010100000', '0x8000000000', '0xffffffffffffffff']),
      'read 0x5ffffff8 0x10', 'read 0x3efffff8 0x10', 'read 0x3effff00 0x200', 'b64read 0x5fffffff 0x2',
      'read 0x4010000000 0x40', 'b64read 0x4010000000 0x100',
    ],
  },
  {
    name: 'qtest-ecam',
    title: 'ECAM: host bridge config space, empty functions, BAR sizing (no BARs), write masks',
    args: VIRT_ARGS,
    requests: [
      'read 0x4010000000 0x100', 'readl 0x4010000000', 'readw 0x4010000002', 'readl 0x4010000008', 'readb 0x401000000e',
      'readl 0x4010000100', 'readl 0x4010000ffc', 'readw 0x4010000001', 'readl 0x4010000002', 'readq 0x4010000006',
      '# empty function, other bus, 8-byte and unaligned',
      'readw 0x4010008000', 'readl 0x4010008000', 'readq 0x40100ff000', 'readl 0x4010100000', 'readl 0x401ff00000',
      'read 0x4010008000 0x10',
      '# BAR sizing on the host bridge (it has none)',
      'writel 0x4010000010 0xffffffff', 'readl 0x4010000010', 'writel 0x4010000030 0xffffffff', 'readl 0x4010000030',
      '# command (IO/MEM/MASTER stick), interrupt line, cache line size',
      'writew 0x4010000004 0x0007', 'readw 0x4010000004', 'writeb 0x401000003c 0xff', 'readl 0x401000003c',
      'writeb 0x401000000c 0x10', 'readl 0x401000000c', 'writew 0x4010000004 0x0000', 'readw 0x4010000004',
      '# writes to empty functions are ignored',
      'writel 0x4010008004 0xffffffff', 'readl 0x4010008004',
    ],
  },
  {
    name: 'qtest-irq',
    title: 'irq_intercept_in on the GIC and set_irq_in (SPIs), one intercepted device per process',
    args: VIRT_ARGS,
    requests: [
      `set_irq_in ${GIC_PATH} unnamed-gpio-in 10 1`,
      `irq_intercept_in ${GIC_PATH}`,
      `set_irq_in ${GIC_PATH} unnamed-gpio-in 10 1`, `set_irq_in ${GIC_PATH} unnamed-gpio-in 10 1`,
      `set_irq_in ${GIC_PATH} unnamed-gpio-in 10 2`, `set_irq_in ${GIC_PATH} unnamed-gpio-in 10 0`,
      `set_irq_in ${GIC_PATH} unnamed-gpio-in 0x4a -1`, `set_irq_in ${GIC_PATH} unnamed-gpio-in 74 0`,
      `set_irq_in ${GIC_PATH} unnamed-gpio-in 255 1`, `set_irq_in ${GIC_PATH} unnamed-gpio-in 0 1`,
      'inb 0x0',
      `irq_intercept_in ${GIC_PATH}`, `irq_intercept_in /machine/unattached/device[5]`,
      `irq_intercept_out ${GIC_PATH}`, `irq_intercept_in ${GIC_PATH} foo`, 'irq_intercept_out /machine/nonexistent',
    ],
  },
  {
    name: 'qtest-smmu-regs',
    title: 'SMMUv3 register page at 0x09050000: ID registers, access sizes, page-1 alias, safe writes',
    args: VIRT_SMMU_ARGS,
    requests: [
      ...['0x00', '0x04', '0x08', '0x0c', '0x10', '0x14', '0x18', '0x1c', '0x20', '0x24', '0x28', '0x2c', '0x40', '0x44',
        '0x50', '0x54', '0x60', '0x64', '0x80', '0x88', '0x90', '0x98', '0x9c', '0xa0', '0xa8', '0xac', '0xfd0', '0xfe0',
        '0xfe4', '0xfe8', '0xfec', '0xff0', '0xff4', '0xff8', '0xffc', '0x100a8', '0x10000', '0x8000'].map((o) => `readl ${(0x09050000 + Number(o)).toString(16).replace(/^/, '0x')}`),
      'readb 0x9050000', 'readw 0x9050000', 'readq 0x9050000', 'readq 0x9050080', 'readl 0x9050002', 'read 0x9050000 0x10',
      'writel 0x9050044 0x1234', 'readl 0x9050044', 'writel 0x9050044 0x80100000', 'readl 0x9050044', 'writel 0x9050044 0x80000000',
      'readl 0x9050044', 'writel 0x9050028 0xd75', 'readl 0x9050028', 'writeq 0x9050090 0x4e16b00a', 'readq 0x9050090',
      'readl 0x9050094', 'writel 0x9050094 0x1', 'readq 0x9050090', 'writeq 0x90500a0 0x4e17000a', 'readq 0x90500a0',
      'writel 0x9050088 0x5', 'readl 0x9050088', 'writeq 0x9050080 0x4e179000', 'readq 0x9050080', 'writel 0x9050050 0x5',
      'readl 0x9050054', 'writel 0x90500b0 0x1234', 'readl 0x90500b0', 'writel 0x9050000 0xffffffff', 'readl 0x9050000',
      'writel 0x9050020 0x5', 'readl 0x9050024', 'readl 0x9060024', 'writel 0x9050020 0x0', 'readl 0x9050024',
      'writeb 0x9050028 0x1', 'readl 0x9050028', `irq_intercept_out ${SMMU_PATH} sysbus-irq`, `irq_intercept_out ${SMMU_PATH}`,
    ],
  },
  {
    name: 'qtest-edu',
    title: 'edu at 00:01.0: config space, BAR sizing, registers, INTx via the GIC, DMA with clock_step',
    args: EDU_ARGS,
    requests: [
      'readl 0x4010008000', 'readl 0x4010008004', 'readl 0x4010008008', 'readl 0x401000802c', 'readl 0x4010008034',
      'readl 0x401000803c', 'readl 0x4010008040', 'writel 0x4010008010 0xffffffff', 'readl 0x4010008010',
      'writel 0x4010008010 0x10000000', 'writew 0x4010008004 0x0007', 'readw 0x4010008004',
      'readl 0x10000000', 'writel 0x10000004 0x12345678', 'readl 0x10000004', 'readb 0x10000000', 'readq 0x10000000',
      'readl 0x1000000c', 'readl 0x10000002', 'readq 0x10000080',
      `irq_intercept_in ${GIC_PATH}`,
      'writel 0x10000060 0x1', 'readl 0x10000024', 'writel 0x10000060 0x100', 'writel 0x10000064 0x1', 'writel 0x10000064 0x100',
      `memset ${RAM} 0x10 0x5a`, `writel 0x10000080 ${RAM}`, 'writel 0x10000088 0x40000', 'writel 0x10000090 0x10',
      'writel 0x10000098 0x5', 'readl 0x10000098', 'writel 0x10000080 0x0', 'readl 0x10000080', 'clock_step 99999999',
      'clock_step', 'readl 0x10000098', 'readl 0x10000024', 'writel 0x10000064 0x100',
      'writel 0x10000080 0x40000', 'writeq 0x10000088 0x40300000', 'writel 0x10000090 0x10', 'writel 0x10000098 0x3',
      'clock_step', 'read 0x40300000 0x10',
    ],
  },
  {
    name: 'qtest-pci-testdev',
    title: 'pci-testdev at 00:01.0: BARs, test selection, mmio/portio triggers',
    args: PTD_ARGS,
    requests: [
      'readl 0x4010008000', 'readl 0x4010008008', 'readl 0x401000803c', 'writel 0x4010008010 0xffffffff', 'readl 0x4010008010',
      'writel 0x4010008014 0xffffffff', 'readl 0x4010008014', 'writel 0x4010008010 0x10000000', 'writel 0x4010008014 0x1000',
      'writew 0x4010008004 0x0003', 'readb 0x10000000', 'writeb 0x10000000 0x0', 'read 0x10000000 0x20',
      'writeb 0x10000800 0xfa', 'writeb 0x10000800 0x12', 'writel 0x10000800 0xfa', 'readl 0x1000000c',
      'writeb 0x10000000 0x2', 'writeb 0x10000802 0xfa', 'writel 0x10000800 0xfa0000', 'readl 0x1000000c',
      'writeb 0x3eff1000 0x0', 'read 0x3eff1000 0x20', 'writeb 0x3eff1083 0xfa', 'readl 0x3eff100c', 'writeb 0x3eff1000 0x3',
      'readl 0x3eff1000',
    ],
  },
  {
    name: 'qtest-pci-intx-gic',
    title: 'host bridge COMMAND bit 6 read-only, INTx re-drive on INTx-Disable, GIC registers',
    args: VIRT_ARGS,
    requests: [
      '# gpex host bridge COMMAND: bit 6 is read-only',
      'writel 0x4010000004 0xffffffff', 'readl 0x4010000004', 'writel 0x4010000004 0x0', 'readl 0x4010000004',
      '# INTx-Disable change re-drives the INTx lines (SPI 3..6) with the bus level',
      `irq_intercept_in ${GIC_PATH}`, `set_irq_in ${GIC_PATH} unnamed-gpio-in 3 1`, `set_irq_in ${GIC_PATH} unnamed-gpio-in 6 1`,
      'writew 0x4010000004 0x0400', 'writew 0x4010000004 0x0400', `set_irq_in ${GIC_PATH} unnamed-gpio-in 4 1`,
      'writew 0x4010000004 0x0000',
      '# GIC distributor/redistributor registers',
      'readl 0x8000000', 'readq 0x8000000', 'readl 0x8000004', 'readl 0x8000008', 'readl 0x800ffe8', 'readl 0x80a0008', 'readl 0x80a000c',
    ],
  },
  {
    name: 'qtest-gic-intercept-out',
    title: 'irq_intercept_out <gic> sysbus-irq is OK (the GIC has named outputs); afterwards irq_intercept_in on the same device is OK but intercepts nothing',
    args: VIRT_ARGS,
    requests: [
      `irq_intercept_out ${GIC_PATH} sysbus-irq`, `irq_intercept_in ${GIC_PATH}`, `set_irq_in ${GIC_PATH} unnamed-gpio-in 20 1`, 'inb 0x0',
    ],
  },
];
