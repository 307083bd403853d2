import t from 'tap';
import { AddressSpace } from '../../src/memory/address-space.js';
import { loadLE, toLE } from '../../src/memory/bytes.js';
import { RegisterFile } from '../../src/memory/register-file.js';
import type { RegisterTable } from '../../src/memory/register-file.js';
import { NO_ATTRS } from '../../src/memory/types.js';

const TABLE = {
  ID: { offset: 0x00, width: 32, access: 'ro', reset: 0x1234n },
  CTRL: { offset: 0x04, width: 32, access: 'rw', writeMask: 0xffn },
  STATUS: { offset: 0x08, width: 32, access: 'w1c', reset: 0xf0fn, writeMask: 0xfn },
  DOORBELL: { offset: 0x0c, width: 32, access: 'wo', write: 'doorbell' },
  BASE: { offset: 0x10, width: 64, access: 'rw', reset: 0x1122334455667788n },
  LOWONLY: { offset: 0x18, width: 64, access: 'rw', highHalf: false },
  COUNTER: { offset: 0x20, width: 32, access: 'ro', read: 'counter' },
} as const satisfies RegisterTable;

function make(unknown: 'raz' | 'ones' = 'raz') {
  const rings: bigint[] = [];
  const unknowns: Array<[bigint, number, boolean]> = [];
  let reads = 0;
  const rf = new RegisterFile({
    name: 'test',
    size: 0x100n,
    registers: TABLE,
    unknown,
    valid: { minSize: 4, maxSize: 8 },
    impl: { minSize: 4, maxSize: 8 },
    hooks: {
      read: { counter: () => BigInt(++reads) },
      write: {
        doorbell: (w) => {
          rings.push(w.data);
        },
      },
    },
    onUnknown: (off, size, isWrite) => unknowns.push([off, size, isWrite]),
  });
  const as = new AddressSpace('t');
  as.map(0x1000n, rf);
  const rd = (addr: number, size: number) => {
    const b = new Uint8Array(size);
    as.readBytes(BigInt(addr), b);
    return loadLE(b);
  };
  const wr = (addr: number, size: number, v: bigint) => {
    as.writeBytes(BigInt(addr), toLE(v, size));
  };
  return { rf, rings, unknowns, rd, wr };
}

t.test('reads reset values and ignores writes to ro registers', async (t) => {
  const { rf, rd, wr } = make();
  t.equal(rd(0x1000, 4), 0x1234n);
  wr(0x1000, 4, 0xffffffffn);
  t.equal(rd(0x1000, 4), 0x1234n);
  t.equal(rf.get('ID'), 0x1234n);
});

t.test('applies the write mask of rw registers', async (t) => {
  const { rd, wr } = make();
  wr(0x1004, 4, 0xabcdn);
  t.equal(rd(0x1004, 4), 0xcdn);
});

t.test('clears only written-one masked bits of w1c registers', async (t) => {
  const { rd, wr } = make();
  wr(0x1008, 4, 0xff5n);
  t.equal(rd(0x1008, 4), 0xf0an);
});

t.test('calls write hooks and reads wo registers per the unknown policy', async (t) => {
  const { rings, rd, wr, unknowns } = make('ones');
  wr(0x100c, 4, 7n);
  t.same(rings, [7n]);
  t.equal(rd(0x100c, 4), 0xffffffffn);
  t.same(unknowns, [[0xcn, 4, false]]);
});

t.test('serves 64-bit registers as a whole and as 32-bit halves', async (t) => {
  const { rd, wr } = make();
  t.equal(rd(0x1010, 8), 0x1122334455667788n);
  t.equal(rd(0x1010, 4), 0x55667788n);
  t.equal(rd(0x1014, 4), 0x11223344n);
  wr(0x1014, 4, 0xaabbccddn);
  t.equal(rd(0x1010, 8), 0xaabbccdd55667788n);
});

t.test('treats the upper half of a highHalf:false register as unknown', async (t) => {
  const { rd, wr } = make('ones');
  wr(0x1018, 8, 0x0102030405060708n);
  t.equal(rd(0x1018, 4), 0x05060708n);
  t.equal(rd(0x101c, 4), 0xffffffffn);
  wr(0x101c, 4, 0n);
  t.equal(rd(0x1018, 8), 0x0102030405060708n);
});

t.test('reads unknown offsets as zero or all ones', async (t) => {
  t.equal(make('raz').rd(0x1080, 4), 0n);
  t.equal(make('ones').rd(0x1080, 4), 0xffffffffn);
  t.equal(make('ones').rd(0x1080, 8), 0xffffffffffffffffn);
  // An 8-byte access to a 32-bit register does not fit it: unknown.
  t.equal(make('ones').rd(0x1000, 8), 0xffffffffffffffffn);
});

t.test('uses read hooks for the value read', async (t) => {
  const { rd } = make();
  t.equal(rd(0x1020, 4), 1n);
  t.equal(rd(0x1020, 4), 2n);
});

t.test('write hooks can replace the stored value', async (t) => {
  const rf = new RegisterFile({
    name: 'inv',
    size: 0x10n,
    unknown: 'raz',
    registers: { LIVE: { offset: 0, width: 32, access: 'rw', write: 'not' } } as const,
    hooks: { read: {}, write: { not: (w) => ~w.data } },
  });
  rf.write(0n, 4, 0x12345678n, NO_ATTRS);
  t.equal(rf.get('LIVE'), 0xedcba987n);
  rf.set('LIVE', 0x1_0000_0001n);
  t.equal(rf.get('LIVE'), 1n, 'set truncates to the width');
  rf.reset();
  t.equal(rf.get('LIVE'), 0n);
});

t.test('rejects overlapping registers', async (t) => {
  t.throws(
    () =>
      new RegisterFile({
        name: 'bad',
        size: 0x10n,
        unknown: 'raz',
        registers: { A: { offset: 0, width: 64, access: 'rw' }, B: { offset: 4, width: 32, access: 'rw' } } as const,
        hooks: { read: {}, write: {} },
      }),
  );
});
