/**
 * Record the golden transcripts protocol/transcripts/qtest-*.txt FROM THE ORACLE:
 *
 *   npx tsc -p . && QTEST_ORACLE_PREFIX=/var/tmp/qemu-oracle \
 *     node dist/tests/helpers/differential/record-transcripts.js --write [name...]
 *
 * Requests come from golden-corpus.ts; every reply is QEMU 10.2.2's.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../launch.js';
import { oracle } from '../oracle.js';
import { GOLDEN } from './golden-corpus.js';
import type { GoldenCorpus } from './golden-corpus.js';
import { runSession } from './compare.js';
import { serializeTranscript } from './transcript.js';

export const TRANSCRIPT_DIR = join(REPO_ROOT, 'protocol', 'transcripts');

export const isComment = (r: string) => r.startsWith('# ') || r === '#-';

/** Run a corpus on a target; returns the transcript text. */
export async function recordCorpus(c: GoldenCorpus, target: 'oracle' | 'qtestd' = 'oracle'): Promise<string> {
  const sent = c.requests.filter((r) => !isComment(r));
  const res = await runSession(target, c.args, sent);
  if (!res.done || !res.exitOk) throw new Error(`${c.name}: ${target} did not complete (${res.exit}): ${res.stderr}`);
  const ex: Array<{ request: string; replies: string[]; comment?: string }> = [];
  let pending: string | undefined;
  let k = 0;
  for (const r of c.requests) {
    if (isComment(r)) {
      pending = pending ? `${pending}\n# ${r.slice(2)}` : r.slice(2);
      continue;
    }
    ex.push({ request: r, replies: res.replies[k++]!, comment: pending });
    pending = undefined;
  }
  const header = [
    `${c.name}: ${c.title}`,
    'Recorded from real QEMU 10.2.2 (qemu-oracle, -accel qtest) by tests/helpers/differential/record-transcripts.ts.',
    'Format: protocol/transcripts/README.md.',
  ];
  if (c.todo) header.push(`KNOWN DEVIATION: ${c.todo}`);
  return serializeTranscript(header, c.args, [], ex);
}

async function main(): Promise<void> {
  if (!oracle) {
    process.stderr.write('QTEST_ORACLE_PREFIX not set: cannot record transcripts\n');
    process.exit(2);
  }
  const args = process.argv.slice(2);
  if (!args.includes('--write')) {
    process.stderr.write(
      'usage: record-transcripts.js --write [name...]  (overwrites protocol/transcripts/<name>.txt)\n',
    );
    process.exit(2);
  }
  const names = args.filter((a) => a !== '--write');
  mkdirSync(TRANSCRIPT_DIR, { recursive: true });
  for (const c of GOLDEN) {
    if (names.length && !names.includes(c.name)) continue;
    const text = await recordCorpus(c);
    writeFileSync(join(TRANSCRIPT_DIR, `${c.name}.txt`), text, 'latin1');
    process.stderr.write(`recorded ${c.name}.txt\n`);
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) await main();
