/**
 * The golden transcripts must still be what the oracle produces (re-recording them from the same
 * corpus gives identical files): catches stale goldens and a changed oracle. Oracle-dependent.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { withOracle } from '../helpers/oracle.js';
import { GOLDEN } from '../helpers/differential/golden-corpus.js';
import { recordCorpus, TRANSCRIPT_DIR } from '../helpers/differential/record-transcripts.js';

await withOracle(t, 'golden transcripts are current (re-recorded from the oracle)', async (tt) => {
  for (const c of GOLDEN) {
    const file = join(TRANSCRIPT_DIR, `${c.name}.txt`);
    const fresh = await recordCorpus(c, 'oracle');
    let stored = '';
    try {
      stored = readFileSync(file, 'latin1');
    } catch {
      /* missing */
    }
    tt.equal(
      fresh,
      stored,
      `${c.name}.txt matches the oracle (re-record: node dist/tests/helpers/differential/record-transcripts.js --write ${c.name})`,
    );
  }
});
