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

const secure = BASE_ARGS.map((a) => (a.startsWith('virt,') ? `${a},secure=on` : a));
const CASES: Array<[string, string[]]> = [
  ['base', [...BASE_ARGS]],
  ['edu', [...BASE_ARGS, '-device', 'edu']],
  ['pci-testdev', [...BASE_ARGS, '-device', 'pci-testdev']],
  ['secure', secure],
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

for (const [name, args] of CASES) {
  t.test(`info mtree (${name}) matches the capture`, async (tc) => {
    const q = await startPeer('qtestd', args);
    tc.teardown(() => q.s.teardown());
    const golden = readFileSync(join(REPO_ROOT, 'protocol/captures/qemu-10.2.2/hmp/mtree', `${name}.txt`), 'utf8');
    const got = await mtree(q);
    tc.match(got, /^address-space: /, 'starts with an address space');
    tc.ok(got.endsWith('\r\n\r\n'), 'CRLF line ends, blank line after the last block');
    tc.same(mtreeBlocks(got), mtreeBlocks(golden), 'same blocks, each byte-exact');
  });

  await withOracle(t, `info mtree (${name}) matches the oracle`, async (tv) => {
    const q = await startPeer('qtestd', args);
    const o = await startPeer('oracle', args);
    tv.teardown(async () => {
      await q.s.teardown();
      await o.s.teardown();
    });
    tv.same(mtreeBlocks(await mtree(q)), mtreeBlocks(await mtree(o)), 'same blocks, each byte-exact');
  });
}
