import t from 'tap';
import { ReplyWriter } from '../../../src/protocol/qtest/reply.js';

// The reply writer's encoders against Node's own: hex (two and four digits at a time, any
// alignment, runs across slab boundaries) and base64 (runs cut to the slab's free space), with
// and without slab reuse.

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 73 + (i >> 8) + 5) & 0xff;
  return b;
}

for (const reuse of [false, true]) {
  t.test(`hex and base64 of many sizes and offsets (slab reuse ${reuse ? 'on' : 'off'})`, async (t) => {
    let bad = 0;
    let cases = 0;
    for (const n of [1, 2, 3, 511, 512, 513, 1000, 48 * 1024, 65535, 65536, 65537, 200_001]) {
      for (const [off, lead] of [
        [0, 0],
        [1, 0],
        [3, 0],
        [0, 1],
        [0, 2],
        [2, 3],
        [1, 6],
      ]) {
        const src = pattern(n + off);
        const parts: Buffer[] = [];
        // The sink copies: with reuse on, the writer may write into a flushed slab again.
        const w = new ReplyWriter((p) => parts.push(Buffer.from(p)), () => reuse);
        // Text before the reply (any length), then the reply placed for aligned hex stores.
        w.text('y'.repeat(lead));
        w.beginBulk(5);
        w.text('OK 0x');
        w.hex(src, off, n + off);
        w.byte(10);
        w.text('OK ');
        for (let i = off; i < n + off; i += 48 * 1024) w.base64(src, i, Math.min(n + off, i + 48 * 1024));
        w.byte(10);
        w.flush();
        const body = src.subarray(off);
        const want = `${'y'.repeat(lead)}OK 0x${body.toString('hex')}\nOK ${body.toString('base64')}\n`;
        cases++;
        if (Buffer.concat(parts).toString('latin1') !== want) bad++;
      }
    }
    t.equal(bad, 0, `${cases} cases`);
  });
}

t.test('long text fills the slab to its end and continues', async (t) => {
  const parts: Buffer[] = [];
  const w = new ReplyWriter((p) => parts.push(Buffer.from(p)));
  const long = 'x'.repeat(70_000) + 'y'.repeat(70_000);
  w.text('OK ');
  w.text(long);
  w.byte(10);
  w.flush();
  t.equal(Buffer.concat(parts).toString('latin1'), `OK ${long}\n`);
});

t.test('slabs handed over are written again only after the sink consumed them (spare slabs)', async (t) => {
  const src = pattern(1 << 20);
  let consumed = false;
  let pieces: Buffer[] = [];
  // The sink keeps the pieces themselves (no copy), as a socket does until it has sent them.
  const w = new ReplyWriter((p) => pieces.push(p), () => consumed);
  const want = `OK 0x${src.toString('hex')}\nOK ${src.toString('base64')}\n`;
  for (let round = 0; round < 4; round++) {
    pieces = [];
    w.beginBulk(5); // the previous reply was consumed: its slabs become spares
    consumed = false; // the peer is not reading: nothing handed over may change
    w.text('OK 0x');
    for (let i = 0; i < src.length; i += 48 * 1024) w.hex(src, i, Math.min(src.length, i + 48 * 1024));
    w.byte(10);
    w.beginBulk(3);
    w.text('OK ');
    for (let i = 0; i < src.length; i += 48 * 1024) w.base64(src, i, Math.min(src.length, i + 48 * 1024));
    w.byte(10);
    w.flush();
    t.equal(Buffer.concat(pieces).toString('latin1'), want, `round ${round}: every piece intact`);
    consumed = true; // the peer read it all: the slabs may be written again
  }
});

t.test('a sink that never reports consumption (a qtest log) keeps no slabs alive', async (t) => {
  let handed = 0;
  const w = new ReplyWriter((p) => (handed += p.length));
  const src = pattern(1 << 20);
  for (let i = 0; i < 20; i++) {
    w.hex(src, 0, src.length);
    w.flush();
  }
  t.equal(handed, 40 << 20);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the private list, by name
  t.ok((w as any).retired.length <= 16, `retired slabs bounded (${(w as any).retired.length})`);
});
