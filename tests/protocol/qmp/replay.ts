/**
 * Transcript replay (format in protocol/qmp.md §Transcripts): `-> ` lines are sent (each followed by
 * LF; lines that follow a `-> ` line without a prefix continue that request), `<- ` lines are what must
 * come back, in order, byte for byte once timestamps are normalised; `#` lines are comments and
 * `## host: <directive>` lines act on the fake host. A `<- ` line before any `-> ` is the greeting.
 */
import type { FakeHost } from './fake-host.js';

export interface ReplayStep {
  send?: string;
  expect: string[];
  host?: string;
}

export function parseTranscript(text: string): ReplayStep[] {
  const steps: ReplayStep[] = [{ expect: [] }];
  let last = steps[0];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith('-> ')) {
      last = { send: line.slice(3), expect: [] };
      steps.push(last);
    } else if (line.startsWith('<- ')) {
      last.expect.push(line.slice(3));
    } else if (line.startsWith('## host: ')) {
      last = { host: line.slice('## host: '.length), expect: [] };
      steps.push(last);
    } else if (line.startsWith('#') || line === '') {
      continue;
    } else if (last.send !== undefined && last.expect.length === 0) {
      last.send += '\n' + line;
    } else {
      throw new Error(`unparseable transcript line: ${line}`);
    }
  }
  return steps;
}

/** Replace the values of event timestamps, which depend on the wall clock. */
export function normaliseTimestamps(line: string): string {
  return line.replace(/"timestamp": \{"seconds": \d+, "microseconds": \d+\}/g, '"timestamp": {"seconds": S, "microseconds": U}');
}

export function applyHostDirective(host: FakeHost, directive: string): void {
  const [verb, arg] = directive.split(/\s+/, 2);
  if (verb === 'emit') host.emit(JSON.parse(arg));
  else if (verb === 'state') host.state = arg as FakeHost['state'];
  else throw new Error(`unknown host directive ${directive}`);
}
