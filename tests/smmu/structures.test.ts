import t from 'tap';
import { decodeCd, decodeL1std, decodeSte, encodeCd, encodeL1std, encodeSte } from '../../src/smmu/structures.js';
import { wordsOf } from '../../src/smmu/bits.js';
import { cdWords, steWords } from './fixtures.js';

t.test('STE decode reads the architectural bit positions', async (t) => {
  const s = decodeSte(
    steWords({
      config: 7,
      ctx: 0x1234_5678_9ac0n,
      s1cdmax: 3,
      s1stalld: 1,
      vmid: 0xbeef,
      s2t0sz: 24,
      s2sl0: 2,
      s2tg: 2,
      s2ps: 5,
      s2aa64: 1,
      s2endi: 1,
      s2affd: 1,
      s2s: 1,
      s2r: 1,
      s2ttb: 0xabcd_1234_5670n,
      s2ha: 1,
      s2hd: 1,
    }),
  );
  t.match(s, {
    V: 1,
    Config: 7,
    S1CDMax: 3,
    S1STALLD: 1,
    S2VMID: 0xbeef,
    S2T0SZ: 24,
    S2SL0: 2,
    S2TG: 2,
    S2PS: 5,
    S2AA64: 1,
    S2ENDI: 1,
    S2AFFD: 1,
    S2S: 1,
    S2R: 1,
    S2HA: 1,
    S2HD: 1,
  });
  t.equal(s.S1ContextPtr, 0x1234_5678_9ac0n);
  t.equal(s.S2TTB, 0xabcd_1234_5670n);
});

t.test('QEMU 10.2.2 reads only bits 47:x of S1ContextPtr and S2TTB, 50:4 of TTBn', async (t) => {
  const w = new Array(16).fill(0);
  w[0] = 0x40;
  w[1] = 0x00ff_0001; // bits 55:48 set architecturally
  w[6] = 0x10;
  w[7] = 0x000f_0002;
  const s = decodeSte(w);
  t.equal(s.S1ContextPtr, 0x1_0000_0040n);
  t.equal(s.S2TTB, 0x2_0000_0010n);
  const c = cdWords({ ttb0: 0xf_0000_0000_0000n });
  t.equal(decodeCd(c).TTB0, 0x7_0000_0000_0000n, '19 high bits');
});

t.test('CD decode', async (t) => {
  const c = decodeCd(
    cdWords({
      t0sz: 20,
      tg0: 2,
      epd0: 0,
      endi: 1,
      t1sz: 25,
      tg1: 3,
      epd1: 0,
      ips: 5,
      affd: 1,
      tbi: 3,
      aa64: 1,
      hd: 1,
      ha: 1,
      s: 1,
      r: 1,
      a: 1,
      asid: 0x1e20,
      had0: 1,
      had1: 1,
      ttb0: 0x4e4d0000n,
      ttb1: 0x1_2345_6780n,
    }),
  );
  t.match(c, {
    T0SZ: 20,
    TG0: 2,
    EPD0: 0,
    ENDI: 1,
    T1SZ: 25,
    TG1: 3,
    EPD1: 0,
    V: 1,
    IPS: 5,
    AFFD: 1,
    TBI: 3,
    AA64: 1,
    HD: 1,
    HA: 1,
    S: 1,
    R: 1,
    A: 1,
    ASID: 0x1e20,
    HAD0: 1,
    HAD1: 1,
  });
  t.equal(c.TTB0, 0x4e4d0000n);
  t.equal(c.TTB1, 0x1_2345_6780n);
});

t.test('encode produces what the hand-built words hold (round trip)', async (t) => {
  const ste = encodeSte({
    V: 1,
    Config: 6,
    S2T0SZ: 0x14,
    S2SL0: 2,
    S2TG: 0,
    S2PS: 5,
    S2AA64: 1,
    S2TTB: 0x4e4d0000n,
    S1ContextPtr: 0x4e179080n,
  });
  t.same(
    wordsOf(ste).slice(0, 8),
    steWords({ config: 6, ctx: 0x4e179080n, s2t0sz: 0x14, s2sl0: 2, s2ps: 5, s2r: 0, s2ttb: 0x4e4d0000n }).slice(0, 8),
  );
  // CD image of the RFC builder (docs/smmu.md#structures-the-builder-writes)
  const cd = encodeCd({ ASID: 0x1e20, AA64: 1, V: 1, A: 1, IPS: 4, EPD1: 1, T0SZ: 0x10, R: 1, TTB0: 0x4e4d0000n });
  t.same(wordsOf(cd).slice(0, 4), cdWords({ asid: 0x1e20, t1sz: 0, tg1: 0, ttb0: 0x4e4d0000n }).slice(0, 4));
  const back = decodeSte(ste);
  t.equal(back.S1ContextPtr, 0x4e179080n);
});

t.test('L1STD: Span and the unmasked L2Ptr', async (t) => {
  const b = encodeL1std({ Span: 7, L2Ptr: 0xffff_0000_4051_0000n });
  const d = decodeL1std(b);
  t.equal(d.Span, 7);
  t.equal(d.L2Ptr, 0xffff_0000_4051_0000n, 'QEMU takes the whole high word');
  t.equal(decodeL1std([0x4051_001f, 0]).L2Ptr, 0x4051_0000n, 'low 5 bits are Span');
});
