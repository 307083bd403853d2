import t from 'tap';
import {
  consIncrement,
  entryAddress,
  isEmpty,
  isFull,
  occupancy,
  prodIncrement,
  queueLog2Size,
} from '../../src/smmu/queue-index.js';

t.test('LOG2SIZE is bits 4:0 of the base, clamped to 19', async (t) => {
  t.equal(queueLog2Size(0x4030_000an, 19), 10);
  t.equal(queueLog2Size(0x4030_001fn, 19), 19);
  t.equal(queueLog2Size(0x4030_0020n, 19), 0, 'bit 5 is not part of it');
});

t.test('empty / full with wrap bits (IHI 0070 3.5)', async (t) => {
  t.ok(isEmpty(0, 0, 3));
  t.ok(isEmpty(0x8, 0x8, 3));
  t.notOk(isEmpty(0x8, 0x0, 3));
  t.ok(isFull(0x8, 0x0, 3));
  t.ok(isFull(0x3, 0xb, 3));
  t.notOk(isFull(0x7, 0x0, 3));
  t.ok(isEmpty(0x8000_0010, 0x10, 3), 'bits above the wrap bit are ignored');
  t.ok(isEmpty(1, 0, 0) === false && isEmpty(2, 0, 0), 'log2size 0: one entry, wrap bit 0');
  t.ok(isFull(1, 0, 0));
});

t.test('increments: PROD drops upper bits, CONS keeps ERR', async (t) => {
  t.equal(prodIncrement(0x7, 3), 0x8);
  t.equal(prodIncrement(0xf, 3), 0x0);
  t.equal(prodIncrement(0x8000_0005, 3), 0x6, 'OVFLG and garbage cleared (oracle evq-prod-garbage)');
  t.equal(consIncrement(0x7f00_0000, 2), 0x7f00_0001, 'oracle cmd-cons-garbage');
  t.equal(consIncrement(0x0100_0007, 2), 0x0100_0000, 'wraps within index+wrap bits');
  t.equal(consIncrement(0xffff_ffff, 19), 0xfff0_0000);
});

t.test('entry addresses: base bits 51:6 + size × index, no size alignment', async (t) => {
  t.equal(entryAddress(0x4020_0003n, 5, 3, 32), 0x4020_00a0n);
  t.equal(entryAddress(0xfff0_0000_4020_0fffn, 9, 3, 16), 0x4020_0fc0n + 16n);
  t.equal(occupancy(0x9, 0x7, 3), 2);
  t.equal(occupancy(0x1, 0xe, 3), 3);
});
