/**
 * Replays the golden transcripts protocol/transcripts/qtest-*.txt (recorded from QEMU 10.2.2)
 * against qtestd: every reply line must be byte-identical. Needs no oracle.
 * Transcripts whose argv qtestd cannot start yet (missing device/SMMU) are skipped with a note;
 * transcripts marked `# KNOWN DEVIATION:` are tap todos.
 */
import t from 'tap';
import { skipMissingFeature } from '../helpers/oracle.js';
import { qtestdMissingFeature, runSession } from '../helpers/differential/compare.js';
import { TRANSCRIPT_DIR } from '../helpers/differential/record-transcripts.js';
import { loadTranscripts } from '../helpers/differential/transcript.js';

const transcripts = loadTranscripts(TRANSCRIPT_DIR);
t.ok(transcripts.length >= 5, `found ${transcripts.length} golden transcripts in ${TRANSCRIPT_DIR}`);

for (const tr of transcripts) {
  const missing = await qtestdMissingFeature(tr.args);
  if (missing) {
    await skipMissingFeature(
      t,
      `replay ${tr.name}`,
      `${tr.args.join(' ')}: ${missing} (device-dependent transcript skipped)`,
    );
    continue;
  }
  await t.test(`replay ${tr.name} (${tr.exchanges.length} requests)`, async (tt) => {
    const requests = tr.exchanges.map((e) => e.request);
    const res = await runSession('qtestd', tr.args, requests);
    const diffs: string[] = [];
    tr.exchanges.forEach((e, i) => {
      const got = res.replies[i] ?? [];
      if (got.length !== e.replies.length || got.some((l, k) => l !== e.replies[k])) {
        diffs.push(
          `${tr.name}:${e.line}: ${JSON.stringify(e.request)}\n    qtestd: ${JSON.stringify(got)}\n    QEMU:   ${JSON.stringify(e.replies)}`,
        );
      }
    });
    if (!res.done) diffs.push(`qtestd stopped answering (${res.exit}); stderr: ${res.stderr.slice(-500)}`);
    else if (!res.exitOk) diffs.push(`qtestd teardown: ${res.exit}`);
    if (tr.knownDeviation) {
      if (diffs.length)
        tt.fail(`${diffs.length} known differences:\n  ${diffs.join('\n  ')}`, { todo: tr.knownDeviation });
      else
        tt.pass(
          `known deviation FIXED (remove the KNOWN DEVIATION line / todo from golden-corpus.ts): ${tr.knownDeviation}`,
        );
      return;
    }
    if (diffs.length) {
      process.stderr.write(`replay ${tr.name}: ${diffs.length} differences\n  ${diffs.join('\n  ')}\n`);
      tt.fail(`${diffs.length} of ${tr.exchanges.length} replies differ:\n  ${diffs.join('\n  ')}`);
    } else tt.pass(`all ${tr.exchanges.length} replies match QEMU 10.2.2`);
  });
}
