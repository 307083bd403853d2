import t from 'tap';
import { ChunkQueue, indexOfNL } from '../../../src/protocol/qtest/chunk-queue.js';
import { QtestLine } from '../../../src/protocol/qtest/line.js';

t.test('indexOfNL finds the first LF at or after `from`, across the short scan and the native search', async (t) => {
  for (const len of [1, 63, 64, 65, 130, 5000]) {
    for (const at of [0, 1, 62, 63, 64, 65, 100, len - 1]) {
      if (at >= len) continue;
      const buf = Buffer.alloc(len, 0x61);
      buf[at] = 0x0a;
      t.equal(indexOfNL(buf, 0), at, `len ${len}, LF at ${at}`);
      t.equal(indexOfNL(buf, at), at, `len ${len}, from the LF itself`);
      t.equal(indexOfNL(buf, at + 1), -1, `len ${len}, from past the LF`);
      if (at > 10) t.equal(indexOfNL(buf, 10), at, `len ${len}, from 10`);
    }
    t.equal(indexOfNL(Buffer.alloc(len, 0x61), 0), -1, `len ${len}, no LF`);
  }
});

t.test('ChunkQueue: one chunk in a field, later ones in order', async (t) => {
  const q = new ChunkQueue();
  t.ok(q.empty);
  const a = Buffer.from('ab\ncd\n');
  const b = Buffer.from('ef\n');
  q.push(a);
  q.push(b);
  t.equal(q.head, a);
  q.advance(3);
  t.equal(q.head, a, 'partly scanned: stays');
  t.equal(q.offset, 3);
  q.advance(6);
  t.equal(q.head, b, 'scanned to its end: the next chunk');
  t.equal(q.offset, 0);
  q.shift();
  t.ok(q.empty);
});

t.test('QtestLine: words and NUL bytes of short (scanned in JS) and long lines', async (t) => {
  const line = new QtestLine();
  for (const pad of [0, 100, 200]) {
    const text = `readl 0x1000 ${'x'.repeat(pad)}`;
    const buf = Buffer.from(`${text}\n`, 'latin1');
    line.set(buf, 0, text.length);
    t.equal(line.count, 3, `${text.length} bytes: 3 words`);
    t.equal(line.word(1), '0x1000');
    t.equal(line.word(2), 'x'.repeat(pad));
    t.notOk(line.hasNul(), 'no NUL');
    buf[text.length - 1] = 0;
    line.set(buf, 0, text.length);
    t.ok(line.hasNul(), 'a NUL at the end');
    line.set(buf, 0, text.length - 1);
    t.notOk(line.hasNul(), 'a NUL past the end does not count');
    t.equal(line.collapse().count, pad > 1 ? 3 : 2, 'collapse keeps the bytes');
  }
  const two = Buffer.from('readl  0x1000', 'latin1');
  line.set(two, 0, two.length);
  t.same([line.count, line.word(1), line.word(2)], [3, '', '0x1000'], 'a double space makes an empty word');
});
