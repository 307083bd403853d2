import t from 'tap';
import { QtestReplyParser, classifyLine } from '../../src/client/qtest-reply-parser.js';
import type { QtestMessage } from '../../src/client/qtest-reply-parser.js';

// A server transcript (protocol/qtest.md#framing): replies with IRQ lines before some of them,
// b64read of size 0 (`OK ` with a trailing space), FAIL/ERR lines and a malformed IRQ line.
const STREAM =
  'OK little\n' +
  'IRQ raise 3\n' +
  'OK 0x0000000000081b36\n' +
  'OK \n' +
  'IRQ lower 3\nIRQ raise 255\n' +
  "FAIL Unknown command 'foo'\n" +
  'ERR invalid argument size\n' +
  'IRQ sideways 1\n' +
  'OK 0x78563412\n';

const EXPECTED: QtestMessage[] = [
  { kind: 'reply', line: 'OK little' },
  { kind: 'irq', n: 3, level: true, line: 'IRQ raise 3' },
  { kind: 'reply', line: 'OK 0x0000000000081b36' },
  { kind: 'reply', line: 'OK ' },
  { kind: 'irq', n: 3, level: false, line: 'IRQ lower 3' },
  { kind: 'irq', n: 255, level: true, line: 'IRQ raise 255' },
  { kind: 'reply', line: "FAIL Unknown command 'foo'" },
  { kind: 'reply', line: 'ERR invalid argument size' },
  { kind: 'bad-irq', line: 'IRQ sideways 1' },
  { kind: 'reply', line: 'OK 0x78563412' },
];

const bytes = Buffer.from(STREAM, 'latin1');

t.test('classifies IRQ lines, replies and malformed IRQ lines', async (t) => {
  t.same(classifyLine('IRQ raise 0'), { kind: 'irq', n: 0, level: true, line: 'IRQ raise 0' });
  t.same(classifyLine('IRQ'), { kind: 'bad-irq', line: 'IRQ' });
  t.same(classifyLine('IRQX raise 1'), { kind: 'reply', line: 'IRQX raise 1' });
  t.same(classifyLine(''), { kind: 'reply', line: '' });
});

t.test('gives the same messages at every single split point (bytes and strings)', async (t) => {
  for (let i = 0; i <= bytes.length; i++) {
    const p = new QtestReplyParser();
    const got = [...p.push(bytes.subarray(0, i)), ...p.push(bytes.subarray(i))];
    if (JSON.stringify(got) !== JSON.stringify(EXPECTED)) t.fail(`byte split at ${i}`);
    const q = new QtestReplyParser();
    const got2 = [...q.push(STREAM.slice(0, i)), ...q.push(STREAM.slice(i))];
    if (JSON.stringify(got2) !== JSON.stringify(EXPECTED)) t.fail(`string split at ${i}`);
    if (p.pendingLength !== 0) t.fail(`pending after split at ${i}`);
  }
  t.pass(`${bytes.length + 1} split points`);
});

t.test('gives the same messages at every pair of split points', async (t) => {
  let bad = 0;
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= bytes.length; j++) {
      const p = new QtestReplyParser();
      const got = [...p.push(bytes.subarray(0, i)), ...p.push(bytes.subarray(i, j)), ...p.push(bytes.subarray(j))];
      if (JSON.stringify(got) !== JSON.stringify(EXPECTED)) bad++;
    }
  }
  t.equal(bad, 0);
});

t.test('byte at a time, and a partial line stays pending', async (t) => {
  const p = new QtestReplyParser();
  const got: QtestMessage[] = [];
  for (const b of bytes) got.push(...p.push(Uint8Array.of(b)));
  t.same(got, EXPECTED);
  t.same(p.push('OK 0x00'), []);
  t.equal(p.pendingLength, 7);
  t.same(p.push('ff\n'), [{ kind: 'reply', line: 'OK 0x00ff' }]);
});
