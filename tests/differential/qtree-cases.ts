/**
 * The `info qtree` cases (machine arguments and qtest steps before the call) shared by qtree.test.ts
 * and the way its captures are taken (protocol/captures/qemu-10.2.2/hmp/qtree/README.md).
 */
import { BASE_ARGS } from '../helpers/launch.js';
import { call, startPeer } from '../protocol/qmp/peer.js';
import type { QmpPeer } from '../protocol/qmp/peer.js';

const secure = BASE_ARGS.map((a) => (a.startsWith('virt,') ? `${a},secure=on` : a));
/** ECAM (high) address of bus:devfn register `reg`. */
const cfg = (bus: number, devfn: number, reg: number): string =>
  `0x${(0x40_1000_0000 + bus * 0x10_0000 + devfn * 0x1000 + reg).toString(16)}`;
/** pci-testdev BARs programmed and decoding, the root port's bus numbers, the edu behind it mapped. */
const BRIDGE = [
  `writel ${cfg(0, 8, 0x10)} 0x10100000`,
  `writel ${cfg(0, 8, 0x14)} 0x1000`,
  `writew ${cfg(0, 8, 4)} 0x3`,
  `writeb ${cfg(0, 0x10, 0x19)} 0x1`,
  `writeb ${cfg(0, 0x10, 0x1a)} 0x1`,
  `writew ${cfg(0, 0x10, 0x20)} 0x1020`,
  `writew ${cfg(0, 0x10, 0x22)} 0x1020`,
  `writew ${cfg(0, 0x10, 4)} 0x7`,
  `writel ${cfg(1, 0, 0x10)} 0x10200000`,
  `writew ${cfg(1, 0, 4)} 0x6`,
];
const ROOT_PORTS = ['-device', 'pcie-root-port,chassis=1', '-device', 'pcie-root-port,chassis=2,id=r2'];
/** name, machine arguments, qtest steps, flags after `info qtree` (e.g. ` -b`). */
export const CASES: Array<[string, string[], string[], string?]> = [
  ['base', [...BASE_ARGS], []],
  ['edu', [...BASE_ARGS, '-device', 'edu'], []],
  ['pci-testdev', [...BASE_ARGS, '-device', 'pci-testdev'], []],
  ['secure', secure, []],
  [
    'props',
    [
      ...BASE_ARGS,
      ...['-device', 'pci-testdev,membar=0x100000,membar-backed=on,multifunction=on,addr=03.0,romsize=4096,id=t'],
      ...['-device', 'edu,dma_mask=0xffff'],
    ],
    [],
  ],
  [
    'root-ports',
    [
      ...[...BASE_ARGS, ...ROOT_PORTS, '-device', 'edu,bus=pcie.0', '-device', 'edu,bus=r2,id=e2'],
      ...['-device', 'pcie-root-port,chassis=3,port=3,slot=2,hotplug=off,io-reserve=4096,disable-acs=on'],
    ],
    [],
  ],
  [
    'bridge',
    [...BASE_ARGS, '-device', 'pci-testdev', '-device', 'pcie-root-port,chassis=1,id=rp', '-device', 'edu,bus=rp'],
    BRIDGE,
  ],
  [
    'brief',
    [...BASE_ARGS, '-device', 'edu', '-device', 'pcie-root-port,chassis=1', '-device', 'pci-testdev,bus=pcie.0'],
    [],
    ' -b',
  ],
  ['virt-default', ['-machine', 'virt', '-cpu', 'max', '-m', '512', '-net', 'none'], []],
  ['gicv2-secure-smp2', ['-machine', 'virt,secure=on', '-cpu', 'max', '-smp', '2', '-m', '512', '-net', 'none'], []],
  [
    'secure-smp3',
    [
      '-machine',
      'virt,acpi=off,gic-version=3,iommu=smmuv3,secure=on',
      '-cpu',
      'max',
      '-smp',
      '3',
      '-m',
      '1024',
      '-net',
      'none',
    ],
    [],
  ],
];

/** Send qtest lines one at a time, each answered `OK`. */
export async function qtest(p: QmpPeer, lines: readonly string[]): Promise<void> {
  const sock = p.s.qtest;
  let buf = '';
  for (const line of lines) {
    const reply = await new Promise<string>((resolve) => {
      const onData = (d: Buffer): void => {
        buf += d.toString('latin1');
        const i = buf.indexOf('\n');
        if (i < 0) return;
        sock.off('data', onData);
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        resolve(l);
      };
      sock.on('data', onData);
      sock.write(line + '\n');
    });
    if (reply !== 'OK') throw new Error(`${line}: ${reply}`);
  }
}

export async function qtree(p: QmpPeer, flags = ''): Promise<string> {
  const reply = JSON.parse(
    await call(
      p,
      JSON.stringify({ execute: 'human-monitor-command', arguments: { 'command-line': `info qtree${flags}` } }),
    ),
  ) as { return: string };
  return reply.return;
}

/** qtestd and the oracle started with `args`, `steps` run on each; both end with `t`. */
export async function bothAfter(
  t: { teardown(fn: () => Promise<void>): void },
  args: string[],
  steps: readonly string[],
): Promise<{ q: QmpPeer; o: QmpPeer }> {
  const q = await startPeer('qtestd', args);
  const o = await startPeer('oracle', args);
  t.teardown(async () => {
    await q.s.teardown();
    await o.s.teardown();
  });
  await qtest(q, steps);
  await qtest(o, steps);
  return { q, o };
}
