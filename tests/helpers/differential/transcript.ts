/**
 * Golden qtest transcripts (protocol/transcripts/qtest-*.txt; format documented in
 * protocol/transcripts/README.md):
 *
 *   # free text                      comment
 *   # args: -machine virt,... -m 512  machine arguments (once, before the first request)
 *   # requires: device:edu smmuv3     optional: features qtestd must have (informational)
 *   # KNOWN DEVIATION: reason         qtestd is known to differ: the replay is a tap todo
 *   > request                        one request line as sent (without its LF)
 *   < reply                          one line received for the request above (IRQ lines first)
 *
 * Non-printable bytes and the backslash are escaped in `>`/`<` lines: \r \t \n \\ and \xHH.
 * A request `>` with nothing after `> ` is a blank line (QEMU sends no reply to it).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Exchange {
  request: string;
  replies: string[];
  /** 1-based line number of the `>` line in the file */
  line: number;
}

export interface Transcript {
  name: string;
  args: string[];
  requires: string[];
  /** set by a `# KNOWN DEVIATION: reason` line: replays against qtestd are expected to differ */
  knownDeviation?: string;
  exchanges: Exchange[];
}

export function escapeLine(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === '\\') out += '\\\\';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (c < 0x20 || c >= 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out;
}

export function unescapeLine(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{2}|[rtn\\])/g, (_m, e: string) => {
    switch (e) {
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case 'n':
        return '\n';
      case '\\':
        return '\\';
      default:
        return String.fromCharCode(parseInt(e.slice(1), 16));
    }
  });
}

/** split an args string on blanks (arguments never contain spaces here) */
export function splitArgs(s: string): string[] {
  return s.trim().split(/\s+/).filter(Boolean);
}

export function parseTranscript(name: string, text: string): Transcript {
  const t: Transcript = { name, args: [], requires: [], exchanges: [] };
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, i) => {
    if (raw.startsWith('# args:')) t.args = splitArgs(raw.slice(7));
    else if (raw.startsWith('# requires:')) t.requires.push(...splitArgs(raw.slice(11)));
    else if (raw.startsWith('# KNOWN DEVIATION:')) t.knownDeviation = raw.slice(18).trim();
    else if (raw.startsWith('#') || raw === '') return;
    else if (raw === '>' || raw.startsWith('> '))
      t.exchanges.push({ request: unescapeLine(raw.slice(2)), replies: [], line: i + 1 });
    else if (raw.startsWith('< ') || raw === '<') {
      const last = t.exchanges[t.exchanges.length - 1];
      if (!last) throw new Error(`${name}:${i + 1}: reply before any request`);
      last.replies.push(unescapeLine(raw.slice(2)));
    } else throw new Error(`${name}:${i + 1}: unrecognised line: ${raw}`);
  });
  return t;
}

export function serializeTranscript(
  header: string[],
  args: readonly string[],
  requires: readonly string[],
  exchanges: ReadonlyArray<{ request: string; replies: readonly string[]; comment?: string }>,
): string {
  const out: string[] = [];
  for (const h of header) out.push(`# ${h}`);
  out.push(`# args: ${args.join(' ')}`);
  if (requires.length) out.push(`# requires: ${requires.join(' ')}`);
  for (const e of exchanges) {
    if (e.comment) out.push(`# ${e.comment}`);
    out.push(`> ${escapeLine(e.request)}`);
    for (const r of e.replies) out.push(`< ${escapeLine(r)}`);
  }
  return out.join('\n') + '\n';
}

export function loadTranscripts(dir: string): Transcript[] {
  return readdirSync(dir)
    .filter((f) => /^qtest-.*\.txt$/.test(f))
    .sort()
    .map((f) => parseTranscript(f, readFileSync(join(dir, f), 'latin1')));
}
