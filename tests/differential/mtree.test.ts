/**
 * HMP `info mtree` on the modelled `virt` board: qtestd against the golden captures
 * (protocol/captures/qemu-10.2.2/hmp/mtree/*.txt, no oracle needed) and against the oracle itself.
 *
 * QEMU prints the address-space blocks (and so the alias sections met while walking them) in an order
 * taken from a pointer hash, which changes from run to run; the comparison is therefore over the
 * blocks as a sorted list, each block byte-exact (protocol/deviations.md, "HMP").
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { BASE_ARGS, REPO_ROOT } from '../helpers/launch.js';
import { withOracle } from '../helpers/oracle.js';
import { call, startPeer } from '../protocol/qmp/peer.js';
import type { QmpPeer } from '../protocol/qmp/peer.js';
import { bothAfter, qtest } from './qtree-cases.js';

const secure = BASE_ARGS.map((a) => (a.startsWith('virt,') ? `${a},secure=on` : a));
const FOUR = [
  ...['-device', 'edu', '-device', 'pci-testdev'],
  ...['-device', 'pcie-root-port,id=rp,chassis=1', '-device', 'edu,bus=rp'],
];
/** ECAM (high) address of bus:devfn register `reg`. */
const cfg = (bus: number, devfn: number, reg: number): string =>
  `0x${(0x40_1000_0000 + bus * 0x10_0000 + devfn * 0x1000 + reg).toString(16)}`;
/** edu BAR0 and pci-testdev BAR0/BAR1 programmed and decoding (edu also bus master). */
const BARS = [
  `writel ${cfg(0, 8, 0x10)} 0x10000000`,
  `writew ${cfg(0, 8, 4)} 0x7`,
  `writel ${cfg(0, 0x10, 0x10)} 0x10100000`,
  `writel ${cfg(0, 0x10, 0x14)} 0x1000`,
  `writew ${cfg(0, 0x10, 4)} 0x3`,
];
/** ... then the root port's bus numbers, memory and I/O windows, and the edu behind it. */
const BRIDGE = [
  ...BARS,
  `writeb ${cfg(0, 0x18, 0x19)} 0x1`,
  `writeb ${cfg(0, 0x18, 0x1a)} 0x1`,
  `writew ${cfg(0, 0x18, 0x20)} 0x1020`,
  `writew ${cfg(0, 0x18, 0x22)} 0x1020`,
  `writeb ${cfg(0, 0x18, 0x1c)} 0x20`,
  `writeb ${cfg(0, 0x18, 0x1d)} 0x20`,
  `writew ${cfg(0, 0x18, 4)} 0x7`,
  `writel ${cfg(1, 0, 0x10)} 0x10200000`,
  `writew ${cfg(1, 0, 4)} 0x6`,
];
/** ... then the root port's VGA enable, with I/O decoding on and memory decoding off. */
const VGA = [...BRIDGE, `writew ${cfg(0, 0x18, 0x3e)} 0x8`, `writew ${cfg(0, 0x18, 4)} 0x5`];
const CASES: Array<[string, string[], string[]]> = [
  ['base', [...BASE_ARGS], []],
  ['edu', [...BASE_ARGS, '-device', 'edu'], []],
  ['pci-testdev', [...BASE_ARGS, '-device', 'pci-testdev'], []],
  ['secure', secure, []],
  ['bars', [...BASE_ARGS, ...FOUR], BARS],
  ['bridge', [...BASE_ARGS, ...FOUR], BRIDGE],
  ['bridge-vga', [...BASE_ARGS, ...FOUR], VGA],
  ['virt-default', ['-machine', 'virt', '-cpu', 'max', '-m', '512', '-net', 'none'], []],
  [
    'secure-smp2',
    [
      ...['-machine', 'virt,acpi=off,gic-version=3,iommu=smmuv3,secure=on', '-cpu', 'max', '-smp', '2'],
      ...['-m', '1024', '-net', 'none', '-device', 'pcie-root-port,chassis=1'],
    ],
    [],
  ],
  [
    'two-ports',
    [
      ...BASE_ARGS,
      ...['-device', 'pcie-root-port,chassis=1,id=r1', '-device', 'pcie-root-port,chassis=2,id=r2'],
      ...['-device', 'edu,bus=r2', '-device', 'pci-testdev,bus=r1'],
    ],
    [],
  ],
];

/** The blocks of an `info mtree` text, address spaces first, each group sorted. */
export function mtreeBlocks(text: string): string[] {
  const blocks = text
    .split(/\r?\n\r?\n/)
    .map((b) => b.trim())
    .filter((b) => b !== '');
  const as = blocks.filter((b) => b.startsWith('address-space: ')).sort();
  return [...as, ...blocks.filter((b) => !b.startsWith('address-space: ')).sort()];
}

async function mtree(p: QmpPeer): Promise<string> {
  const reply = JSON.parse(
    await call(p, '{"execute": "human-monitor-command", "arguments": {"command-line": "info mtree"}}'),
  ) as { return: string };
  return reply.return;
}

for (const [name, args, steps] of CASES) {
  t.test(`info mtree (${name}) matches the capture`, async (tc) => {
    const q = await startPeer('qtestd', args);
    tc.teardown(() => q.s.teardown());
    await qtest(q, steps);
    const golden = readFileSync(join(REPO_ROOT, 'protocol/captures/qemu-10.2.2/hmp/mtree', `${name}.txt`), 'utf8');
    const got = await mtree(q);
    tc.match(got, /^address-space: /, 'starts with an address space');
    tc.ok(got.endsWith('\r\n\r\n'), 'CRLF line ends, blank line after the last block');
    tc.same(mtreeBlocks(got), mtreeBlocks(golden), 'same blocks, each byte-exact');
  });

  await withOracle(t, `info mtree (${name}) matches the oracle`, async (tv) => {
    const { q, o } = await bothAfter(tv, args, steps);
    tv.same(mtreeBlocks(await mtree(q)), mtreeBlocks(await mtree(o)), 'same blocks, each byte-exact');
  });
}
