/**
 * Staged (src/protocol/qtest/staged.ts): a payload decoded chunk by chunk as it arrives gives,
 * for every SIZE (cap), exactly the bytes the whole-line decoders give (codecs.ts, which follow
 * QEMU 10.2.2's qtest.c and glib): random payloads of every shape (canonical, junk, inner and
 * final padding, odd lengths, invalid hex digits), cut into random chunks, with caps below,
 * at and past the data, across block boundaries.
 */
import t from 'tap';
import { decodeBase64InPlace, decodeWriteHexInto } from '../../../src/protocol/qtest/codecs.js';
import { STAGE_BLOCK, Staged } from '../../../src/protocol/qtest/staged.js';

/** Deterministic pseudo-random numbers (seeded). */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** The whole-line decoders' result for SIZE `cap`. */
function expected(kind: 'hex' | 'b64', text: Buffer, cap: number): { bytes: Buffer; decoded: number } {
  const out = Buffer.alloc(cap);
  if (kind === 'hex') {
    decodeWriteHexInto(text, 0, text.length, 0, out);
    return { bytes: out, decoded: -1 };
  }
  const r = decodeBase64InPlace(text, 0, text.length);
  out.set(r.buffer.subarray(0, Math.min(cap, r.buffer.length)));
  return { bytes: out, decoded: r.decodedLength };
}

function staged(kind: 'hex' | 'b64', text: Buffer, cap: number, cuts: number[]): { bytes: Buffer; decoded: number; length: number } {
  const s = new Staged(kind, cap);
  let from = 0;
  for (const to of [...cuts, text.length]) {
    // each chunk its own Buffer, as the socket hands them
    s.add(Buffer.from(text.subarray(from, to)), 0, to - from);
    from = to;
  }
  s.end();
  const out = Buffer.alloc(cap);
  const scratch = new Uint8Array(STAGE_BLOCK);
  const piece = 48 * 1024;
  for (let off = 0; off < cap; off += piece) out.set(s.view(off, Math.min(piece, cap - off), scratch), off);
  // views that straddle blocks, at odd offsets
  if (cap > 5000) out.set(s.view(cap - 5000, 4096, scratch), cap - 5000);
  // the blocks go back to the pool with these bytes in them: the next payloads must not see them
  s.release();
  return { bytes: out, decoded: s.decodedLength, length: s.length };
}

function cutsOf(len: number, r: (n: number) => number, mode: number): number[] {
  const cuts: number[] = [];
  let at = 0;
  for (;;) {
    at += mode === 0 ? 65536 : mode === 1 ? 1 + r(7) : 1 + r(20000);
    if (at >= len) return cuts;
    cuts.push(at);
  }
}

function text(kind: 'hex' | 'b64', n: number, r: (n: number) => number, shape: number): Buffer {
  const data = Buffer.alloc(n);
  for (let i = 0; i < n; i++) data[i] = r(256);
  let s = kind === 'hex' ? `0x${data.toString('hex')}` : data.toString('base64');
  const junk = kind === 'hex' ? ['z', 'G', '\r', '-', '\xe9', '\0'] : ['*', '\r', '=', '==', '!', '\t', '-', '_', '\xff', '\0', '\n'];
  if (shape === 1 || shape === 3) {
    // junk inside
    for (let k = 0; k < 6; k++) {
      const at = r(s.length + 1);
      s = s.slice(0, at) + junk[r(junk.length)] + s.slice(at);
    }
  }
  if (shape === 2 || shape === 3) s = s.slice(0, s.length - 1 - r(3)); // a cut-off end
  if (shape === 4 && kind === 'hex') s = s.slice(2); // no 0x
  return Buffer.from(s, 'latin1');
}

for (const kind of ['hex', 'b64'] as const) {
  t.test(`${kind}: chunk by chunk = the whole-line decoder, for every cap`, async (t) => {
    const r = rng(kind === 'hex' ? 11 : 12);
    let cases = 0;
    let wrong = 0;
    for (const n of [1, 2, 3, 5, 100, 4099, 70_000, STAGE_BLOCK + 1234]) {
      for (let shape = 0; shape < 5; shape++) {
        const tx = text(kind, n, r, shape);
        const decodedMax = kind === 'hex' ? (tx.length >> 1) + 2 : tx.length + 2;
        for (const cap of [0, 1, n - 1, n, n + 1, decodedMax, tx.length + 3].filter((c) => c >= 0)) {
          const want = expected(kind, tx, cap);
          for (let mode = 0; mode < 3; mode++) {
            if (mode === 1 && tx.length > 100_000) continue; // tiny chunks: the small payloads
            const got = staged(kind, tx, cap, cutsOf(tx.length, r, mode));
            cases++;
            const same = got.bytes.equals(want.bytes) && got.length === tx.length && (kind === 'hex' || got.decoded === want.decoded);
            if (!same) {
              wrong++;
              if (wrong < 5) t.fail(`n ${n} shape ${shape} cap ${cap} chunks ${mode}: differs`);
            }
          }
        }
      }
    }
    t.equal(wrong, 0, `${cases} payloads decode as the whole-line decoder`);
  });
}

t.test('b64: each kind of stray character inside a long run of alphabet', async (t) => {
  const r = rng(5);
  const base = text('b64', 60_000, r, 0).toString('latin1');
  let wrong = 0;
  let cases = 0;
  for (const junk of ['-', '_', '=', '==', '*', '\r', '\n', '\t', '\0', '\x7f', '\x80', '\xff', '.', ':']) {
    for (const at of [0, 1, 3, 4, 1000, 1001, 65_535, 65_536, 79_998]) {
      const tx = Buffer.from(base.slice(0, at) + junk + base.slice(at), 'latin1');
      for (const cap of [45_000, 80_000]) {
        cases++;
        const want = expected('b64', tx, cap);
        const got = staged('b64', tx, cap, cutsOf(tx.length, r, 0));
        if (!got.bytes.equals(want.bytes) || got.decoded !== want.decoded) {
          wrong++;
          if (wrong < 5) t.fail(`${JSON.stringify(junk)} at ${at}, cap ${cap}: differs`);
        }
      }
    }
  }
  t.equal(wrong, 0, `${cases} payloads decode as the whole-line decoder`);
});
