import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { harness } from './harness.js';
import { applyHostDirective, normaliseTimestamps, parseTranscript } from './replay.js';

import { REPO_ROOT } from '../../helpers/paths.js';
const DIR = `${REPO_ROOT}/protocol/transcripts`;
const files = readdirSync(DIR).filter((f) => f.startsWith('qmp-') && f.endsWith('.txt'));

t.ok(files.length >= 5, 'transcripts present');

for (const file of files) {
  t.test(file, (t) => {
    const h = harness({ negotiate: false });
    const steps = parseTranscript(readFileSync(`${DIR}/${file}`, 'utf8'));
    const greeting = h.out.map((l) => normaliseTimestamps(l.replace(/\r\n$/, '')));
    t.same(greeting, steps[0].expect.map(normaliseTimestamps), 'greeting');
    for (const step of steps.slice(1)) {
      if (step.host !== undefined) {
        const before = h.out.length;
        applyHostDirective(h.host, step.host);
        const got = h.out.slice(before).map((l) => normaliseTimestamps(l.replace(/\r\n$/, '')));
        t.same(got, step.expect.map(normaliseTimestamps), `host: ${step.host}`);
        continue;
      }
      const before = h.out.length;
      h.send((step.send as string) + '\n');
      const raw = h.out.slice(before);
      for (const line of raw) t.ok(line.endsWith('\r\n') && !line.slice(0, -2).includes('\n'), 'one CRLF-terminated line');
      t.same(raw.map((l) => normaliseTimestamps(l.slice(0, -2))), step.expect.map(normaliseTimestamps), step.send as string);
    }
    t.end();
  });
}
