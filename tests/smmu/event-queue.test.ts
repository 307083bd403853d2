import t from 'tap';
import { encodeEventRecord, writeEvent } from '../../src/smmu/event-queue.js';
import type { SmmuEvent } from '../../src/smmu/faults.js';
import { FakeMemory } from './fixtures.js';

import { bytesHex as hex } from '../helpers/bytes.js';

t.test('record bytes per event type (QEMU 10.2.2 layouts)', async (t) => {
  const cases: Array<[SmmuEvent, string]> = [
    [{ type: 'C_BAD_STE', sid: 8 }, '04000000' + '08000000' + '00'.repeat(24)], // smmu-edu-sid8 capture
    [{ type: 'C_BAD_STREAMID', sid: 0x1234 }, '02000000' + '34120000' + '00'.repeat(24)],
    [{ type: 'C_BAD_CD', sid: 1 }, '0a000000' + '01000000' + '00'.repeat(24)],
    [
      { type: 'F_STE_FETCH', sid: 8, fetchAddr: 0x1_7000_0200n },
      '03000000' + '08000000' + '00'.repeat(16) + '00020070' + '01000000',
    ],
    [
      { type: 'F_CD_FETCH', sid: 8, fetchAddr: 0x7000_0040n },
      '09000000' + '08000000' + '00'.repeat(8) + '40000070' + '00000000' + '00'.repeat(8),
    ],
    [
      { type: 'F_TRANSLATION', sid: 8, s2: false, cls: 'IN', rnw: true, inputAddr: 0x1234_5678_9010n, addr2: 0n },
      '10000000' + '08000000' + '00000000' + '08020000' + '10907856' + '34120000' + '00'.repeat(8),
    ],
    [
      { type: 'F_PERMISSION', sid: 8, s2: true, cls: 'IN', rnw: false, inputAddr: 0x1234_5020n, addr2: 0x1234_5020n },
      '13000000' + '08000000' + '00000000' + '80020000' + '20503412' + '00000000' + '20503412' + '00000000',
    ],
    [
      { type: 'F_WALK_EABT', sid: 8, s2: false, cls: 'TT', rnw: true, inputAddr: 0x1000n, addr2: 0x7000_0008n },
      '0b000000' + '08000000' + '00000000' + '08010000' + '00100000' + '00000000' + '08000070' + '00000000',
    ],
    [
      { type: 'F_ACCESS', sid: 3, s2: true, cls: 'CD', rnw: true, inputAddr: 0n, addr2: 0x4040_0000n },
      '12000000' + '03000000' + '00000000' + '88000000' + '00'.repeat(8) + '00004040' + '00000000',
    ],
    [
      { type: 'F_ADDR_SIZE', sid: 3, s2: false, cls: 'IN', rnw: false, inputAddr: 0xffff_0000_0000_1000n, addr2: 0n },
      '11000000' + '03000000' + '00000000' + '00020000' + '00100000' + '0000ffff' + '00'.repeat(8),
    ],
  ];
  for (const [e, want] of cases) t.equal(hex(encodeEventRecord(e)), want, e.type);
});

t.test('writeEvent: appends at PROD, reports full and write failures without moving PROD', async (t) => {
  const m = new FakeMemory();
  const q = { base: 0x4020_0001n, prod: 0, cons: 0, log2size: 1 };
  const rec = encodeEventRecord({ type: 'C_BAD_STE', sid: 8 });
  t.match(writeEvent(q, m, rec), { kind: 'written', addr: 0x4020_0000n, irq: true });
  t.match(writeEvent(q, m, rec), { kind: 'written', addr: 0x4020_0020n });
  t.equal(q.prod, 2);
  t.same(writeEvent(q, m, rec), { kind: 'full' });
  t.equal(q.prod, 2);
  q.cons = 1;
  t.match(writeEvent(q, m, rec), { kind: 'written', addr: 0x4020_0000n });
  t.equal(q.prod, 3);
  const bad = { base: 0x7000_0000n, prod: 0, cons: 0, log2size: 3 };
  t.same(writeEvent(bad, m, rec), { kind: 'write-failed', addr: 0x7000_0000n });
  t.equal(bad.prod, 0);
  const odd = { base: 0x4020_1000n, prod: 3, cons: 4, log2size: 3 };
  t.match(
    writeEvent(odd, m, rec),
    { kind: 'written', irq: false },
    'queue looks empty afterwards: no IRQ (QEMU checks emptiness)',
  );
});
