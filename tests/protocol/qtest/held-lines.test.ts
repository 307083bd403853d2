/**
 * Unfinished lines fed as borrowed chunks, the way a direct socket delivers them
 * (src/transport/direct-socket.ts: every read lands in one reused buffer, overwritten after the
 * call): the endpoint keeps their bytes in the LongLine's reused memory
 * (src/protocol/qtest/long-line.ts). Lines cut at every position around the read size, lines of
 * exactly the read size and one byte either side, lines in succession (the reused memory never
 * shows a previous line's bytes), lines decoded as they arrive with words after the payload, the
 * peer not reading at times: the replies (and, through read-backs, guest memory) are exactly
 * those of the input fed whole. And a kept payload whose last part lies in the read memory is
 * copied out of it by QtestLine.own (what the endpoint calls when a line waits).
 */
import t from 'tap';
import { QtestLine } from '../../../src/protocol/qtest/line.js';
import { makeSession, RecordingLink, runQtest } from '../../helpers/session.js';
import { hex, seededBytes as bytes } from '../../helpers/bytes.js';

const K = 1024;
/** A direct socket's read size. */
const READ = 64 * K;
const RAM = 0x40100000;

const back = (size: number): string => `b64read ${hex(RAM)} ${hex(size)}\n`;
/** A `write` line of exactly `len` bytes with its LF (an odd-length payload where it must be). */
function writeOfLength(len: number, seed: number): string {
  for (let size = 1; ; size++) {
    const head = `write ${hex(RAM)} ${hex(size)} 0x`;
    const digits = len - 1 - head.length;
    if (Math.ceil(digits / 2) === size) return `${head}${bytes(size, seed).toString('hex').slice(0, digits)}\n`;
  }
}

/**
 * Everything a fresh session answers to `input` delivered as `pieces` (lengths; the rest in
 * READ-byte reads), each copied into one reused buffer, borrowed, then overwritten; `refuse`:
 * the peer stops reading now and then (input is held back meanwhile).
 */
function fed(input: Buffer, pieces: number[], refuse = false): string {
  const link = new RecordingLink();
  let writes = 0;
  if (refuse) link.accept = () => ++writes % 3 !== 0;
  const ep = makeSession().attachQtest(link);
  const memory = Buffer.alloc(READ);
  let at = 0;
  let k = 0;
  while (at < input.length) {
    const n = Math.min(k < pieces.length ? pieces[k] : READ, READ, input.length - at);
    k++;
    input.copy(memory, 0, at, at + n);
    ep.input(memory.subarray(0, n), true);
    memory.fill(0x21); // the socket reads into it again
    at += n;
    if (refuse && k % 2 === 0) ep.drained();
  }
  for (let i = 0; refuse && i < 100; i++) ep.drained();
  return link.out;
}

/** First-read lengths to try (1 … READ): every one near the start, near `marks` and near READ. */
function cuts(marks: number[], span = 6): number[] {
  const out = new Set<number>();
  for (const m of [0, READ, ...marks]) for (let d = -span; d <= span; d++) if (m + d >= 1 && m + d <= READ) out.add(m + d);
  return [...out].sort((a, b) => a - b);
}

const d32 = bytes(32 * K, 1);
const SCRIPTS: Record<string, string> = {
  // a 65,563-byte line: one full read and a few bytes
  '32 KiB hex write': `write ${hex(RAM)} ${hex(32 * K)} 0x${d32.toString('hex')}\n${back(32 * K)}`,
  '48 KiB b64write': `b64write ${hex(RAM)} ${hex(48 * K)} ${bytes(48 * K, 2).toString('base64')}\n${back(48 * K)}`,
  'lines of READ-1, READ, READ+1 bytes': [READ - 1, READ, READ + 1].map((n, i) => writeOfLength(n, 10 + i) + back(32 * K)).join(''),
  'a long line that is not a payload line, READ bytes': `readl 0x${'0'.repeat(READ - 17)}40100000\n`,
  'lines in succession (reused memory)': [40, 24, 56, 8]
    .map((k, i) => `write ${hex(RAM)} ${hex(k * K)} 0x${bytes(k * K, 20 + i).toString('hex')}\n${back(64 * K)}`)
    .join(''),
  // decoded as they arrive (from 128 KiB held), with words after the payload kept
  'decoded as it arrives, words after the payload': [
    `write ${hex(RAM)} ${hex(100 * K)} 0x${bytes(100 * K, 5).toString('hex')} space=non-secure`,
    `b64write ${hex(RAM)} ${hex(150 * K)} ${bytes(150 * K, 6).toString('base64')}`,
    `write ${hex(RAM)} ${hex(70 * K)} 0x${bytes(70 * K, 7).toString('hex')} secure`,
    back(150 * K),
  ].join('\n'),
};

for (const [name, script] of Object.entries(SCRIPTS)) {
  t.test(name, async (t) => {
    const input = Buffer.from(script, 'latin1');
    const want = runQtest(script);
    const replies = script.split('\n').length - 1;
    t.equal(want.split('\n').length - 1, replies, 'fed whole: one reply per line');
    // line ends: the positions where a cut changes what is held
    const ends: number[] = [];
    for (let i = input.indexOf(0x0a); i >= 0; i = input.indexOf(0x0a, i + 1)) ends.push(i, i + 1 - READ, i + 1 - 2 * READ);
    let bad = 0;
    const tried = cuts(ends);
    for (const first of tried) if (fed(input, [first]) !== want) bad++;
    t.equal(bad, 0, `first read of each of ${tried.length} lengths, then ${READ}-byte reads: the replies fed whole`);
    // every read short: 3 bytes less than READ, and one of 4093 (not a divisor of anything)
    t.equal(fed(input, Array(Math.ceil(input.length / (READ - 3))).fill(READ - 3)), want, 'reads of READ-3 bytes');
    t.equal(fed(input, Array(Math.ceil(input.length / 4093)).fill(4093)), want, 'reads of 4093 bytes');
    t.equal(fed(input, [1000], true), want, 'the peer not reading at times (input held back)');
  });
}

t.test('a kept payload whose last part lies in reused memory: own() copies that part', async (t) => {
  // (the endpoint calls own() with its read memory when a line waits for a job or a stream)
  const d = bytes(20 * K, 11);
  const text = Buffer.from(`write ${hex(RAM)} ${hex(20 * K)} 0x${d.toString('hex')}`, 'latin1');
  const memory = Buffer.alloc(READ);
  const cut = 30_000;
  text.copy(memory, 0, cut);
  const line = new QtestLine();
  t.ok(line.setParts([Buffer.from(text.subarray(0, cut)), memory.subarray(0, text.length - cut)], text.length), 'a payload line');
  line.own(memory.buffer);
  memory.fill(0x21);
  const p = line.payloadBytes!;
  t.equal(Buffer.from(p.view(0, p.length)).toString('latin1'), `0x${d.toString('hex')}`, 'the payload as received');
});
