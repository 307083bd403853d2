#!/usr/bin/env node
// Recapture protocol/captures/qemu-10.2.2/hmp/qtree/*.txt: the oracle's `info qtree` for each case of
// tests/differential/qtree-cases.ts. Needs a build (npx tsc -p .) and QTEST_ORACLE_PREFIX.
import { writeFileSync } from 'node:fs';
import process from 'node:process';
import { join } from 'node:path';
import { CASES, qtest, qtree } from '../dist/tests/differential/qtree-cases.js';
import { startPeer } from '../dist/tests/protocol/qmp/peer.js';

const dir = join(import.meta.dirname, '..', 'protocol/captures/qemu-10.2.2/hmp/qtree');
for (const [name, args, steps, flags] of CASES) {
  const o = await startPeer('oracle', args);
  try {
    await qtest(o, steps);
    writeFileSync(join(dir, `${name}.txt`), await qtree(o, flags));
    process.stderr.write(`${name}.txt\n`);
  } finally {
    await o.s.teardown();
  }
}
