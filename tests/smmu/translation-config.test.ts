import t from 'tap';
import { decodeConfig, s2TableConfigValid, s2t0szValid } from '../../src/smmu/translation-config.js';
import type { ConfigDecodeDeps, SmmuFeatures, TranslateIpa } from '../../src/smmu/translation-config.js';
import { CDADDR, cdWords, FakeMemory, STRTAB, steWords } from './fixtures.js';
import type { CdOpts, SteOpts } from './fixtures.js';

const NESTED: SmmuFeatures = { s1p: true, s2p: true, oasField: 4 };
const S1ONLY: SmmuFeatures = { s1p: true, s2p: false, oasField: 4 };
const S2ONLY: SmmuFeatures = { s1p: false, s2p: true, oasField: 4 };
const identity: TranslateIpa = (_cfg, ipa) => ({ ok: true, pa: ipa });

function decode(ste: SteOpts, cd?: CdOpts, features = NESTED, translateIpa = identity, sid = 8) {
  const m = new FakeMemory();
  m.words(STRTAB + BigInt(64 * sid), steWords({ ctx: CDADDR, ...ste }));
  if (cd) m.words(CDADDR, cdWords({ ttb0: 0x4100_0000n, ...cd }));
  const deps: ConfigDecodeDeps = {
    features,
    strtab: { base: STRTAB, log2size: 5, twoLevel: false, split: 0 },
    read: m.readBlock,
    translateIpa,
  };
  return decodeConfig(sid, deps);
}

t.test('STE.V = 0 → C_BAD_STE', async (t) => {
  t.match(decode({ v: 0 }), { ok: false, event: { type: 'C_BAD_STE' } });
});

t.test('Config 0–3 abort, 4 bypass, without further checks', async (t) => {
  for (const c of [0, 1, 2, 3])
    t.match(decode({ config: c, s1cdmax: 5, s2aa64: 0 }), { ok: true, cfg: { aborted: true } }, `config ${c}`);
  t.match(decode({ config: 4, s1cdmax: 5 }), { ok: true, cfg: { bypassed: true } });
});

t.test('stage requested but not implemented → C_BAD_STE', async (t) => {
  t.match(decode({ config: 6 }, undefined, S1ONLY), { ok: false, event: { type: 'C_BAD_STE' } });
  t.match(decode({ config: 7 }, {}, S1ONLY), { ok: false, event: { type: 'C_BAD_STE' } });
  t.match(decode({ config: 5 }, {}, S2ONLY), { ok: false, event: { type: 'C_BAD_STE' } });
});

t.test('VMID: S2VMID when S2P, else −1 (even for a stage-1 STE)', async (t) => {
  t.match(decode({ config: 5, vmid: 77 }, {}), { ok: true, cfg: { s2: { vmid: 77 }, stage: 's1' } });
  t.match(decode({ config: 5, vmid: 77 }, {}, S1ONLY), { ok: true, cfg: { s2: { vmid: -1 } } });
});

t.test('every stage-2 STE check (decode_ste_s2_cfg)', async (t) => {
  const base: SteOpts = { config: 6, s2ttb: 0x4200_0000n, s2t0sz: 25, s2sl0: 1 };
  t.match(decode(base), {
    ok: true,
    cfg: { stage: 's2', oas: 44, s2: { granuleShift: 12, effPs: 44, tsz: 25, sl0: 1, recordFaults: true } },
  });
  const bad: Array<[string, SteOpts]> = [
    ['S2AA64 = 0 (QEMU asserts; deviation)', { s2aa64: 0 }],
    ['S2TG = 3', { s2tg: 3 }],
    ['S2SL0 = 3', { s2sl0: 3 }],
    ['S2TTB beyond 44 bits', { s2ttb: 0x1000_0000_0000n }],
    ['S2TTB beyond S2PS = 32 bits', { s2ps: 0, s2ttb: 0x1_0000_0000n }],
    ['S2T0SZ 40', { s2t0sz: 40 }],
    ['S2T0SZ 19 < 64 − 44', { s2t0sz: 19 }],
    ['S2PS 0 forces S2T0SZ ≥ 32', { s2ps: 0, s2t0sz: 31, s2ttb: 0x4200_0000n }],
    ['17 concatenated tables', { s2t0sz: 20, s2sl0: 1 }],
    ['S2ENDI', { s2endi: 1 }],
    ['S2S', { s2s: 1 }],
    ['S1CDMax ≠ 0', { s1cdmax: 1 }],
    ['S1STALLD', { s1stalld: 1 }],
  ];
  for (const [name, o] of bad) t.match(decode({ ...base, ...o }), { ok: false, event: { type: 'C_BAD_STE' } }, name);
  t.match(decode({ ...base, s2ha: 1, s2hd: 1 }), { ok: true }, 'S2HA/S2HD are not even checked');
  t.match(decode({ ...base, s2ps: 7 }), { ok: true, cfg: { s2: { effPs: 44 } } }, 'S2PS capped by OAS');
  t.match(decode({ ...base, s2tg: 1, s2t0sz: 20, s2sl0: 1 }), { ok: true, cfg: { s2: { granuleShift: 16 } } }, '64K');
  t.match(decode({ ...base, s2tg: 2, s2t0sz: 20, s2sl0: 2 }), { ok: true, cfg: { s2: { granuleShift: 14 } } }, '16K');
});

t.test('S2T0SZ limits and concatenation rule', async (t) => {
  t.ok(s2t0szValid(20, 12, 44));
  t.notOk(s2t0szValid(19, 12, 44));
  t.ok(s2t0szValid(16, 16, 48));
  t.notOk(s2t0szValid(15, 12, 48));
  t.ok(s2TableConfigValid(1, 24, 12), '4K SL0=1 40-bit: 2 tables');
  t.ok(s2TableConfigValid(1, 21, 12), '16 tables');
  t.notOk(s2TableConfigValid(1, 20, 12), '32 tables');
  t.ok(s2TableConfigValid(2, 39, 12), 'inconsistent but accepted by QEMU (1 table)');
});

t.test('CD checks → C_BAD_CD', async (t) => {
  const ok = decode({ config: 5 }, {});
  t.match(ok, {
    ok: true,
    cfg: {
      stage: 's1',
      asid: 1,
      oas: 44,
      recordFaults: true,
      tt: [
        { tsz: 16, granuleShift: 12, ttb: 0x4100_0000n },
        { disabled: true, tsz: 0 },
      ],
    },
  });
  const bad: Array<[string, CdOpts]> = [
    ['V = 0', { v: 0 }],
    ['AA64 = 0', { aa64: 0 }],
    ['A = 0', { a: 0 }],
    ['S = 1', { s: 1 }],
    ['HA', { ha: 1 }],
    ['HD', { hd: 1 }],
    ['T0SZ 15', { t0sz: 15 }],
    ['T0SZ 40', { t0sz: 40 }],
    ['TG0 3', { tg0: 3 }],
    ['ENDI', { endi: 1 }],
    ['TTB0 ≥ 2^44', { ttb0: 0x1000_0000_0000n }],
    ['TG1 0 with EPD1 = 0', { epd1: 0, tg1: 0 }],
    ['TTB0 ≥ 2^32 with IPS 0', { ips: 0, ttb0: 0x1_0000_0000n }],
  ];
  for (const [name, o] of bad) t.match(decode({ config: 5 }, o), { ok: false, event: { type: 'C_BAD_CD' } }, name);
  t.match(
    decode({ config: 5 }, { epd0: 1, t0sz: 3, tg0: 3 }),
    { ok: true, cfg: { tt: [{ disabled: true, tsz: 0 }] } },
    'EPD0 skips TT0 checks',
  );
  t.match(decode({ config: 5 }, { epd0: 1, epd1: 1 }), { ok: true }, 'both disabled is accepted');
  t.match(decode({ config: 5 }, { ips: 6 }), { ok: true, cfg: { oas: 44 } }, 'IPS 6 clamps to the OAS (QEMU asserts)');
  t.match(decode({ config: 5 }, { ips: 7 }), { ok: true, cfg: { oas: 44 } }, 'IPS 7 clamps to the OAS (QEMU asserts)');
  t.match(decode({ config: 5 }, { ips: 2 }), { ok: true, cfg: { oas: 40 } });
  t.match(decode({ config: 5 }, { tbi: 3, affd: 1, r: 0, had0: 1 }), {
    ok: true,
    cfg: { tbi: 3, affd: true, recordFaults: false, tt: [{ had: true }] },
  });
  t.match(
    decode({ config: 5 }, { epd1: 0, tg1: 1, t1sz: 20, ttb1: 0x4200_0000n }),
    { ok: true, cfg: { tt: [{}, { granuleShift: 14, tsz: 20 }] } },
    'TG1 1 = 16K',
  );
});

t.test('CD fetch failure → F_CD_FETCH with the fetch address', async (t) => {
  t.match(decode({ config: 5, ctx: 0x7000_0040n }), {
    ok: false,
    event: { type: 'F_CD_FETCH', fetchAddr: 0x7000_0040n },
  });
});

t.test('SID beyond the table → C_BAD_STREAMID; STE outside RAM → F_STE_FETCH', async (t) => {
  t.match(decode({ config: 4 }, undefined, NESTED, identity, 40), { ok: false, event: { type: 'C_BAD_STREAMID' } });
  const m = new FakeMemory();
  const r = decodeConfig(1, {
    features: NESTED,
    strtab: { base: 0x7000_0000n, log2size: 5, twoLevel: false, split: 0 },
    read: m.readBlock,
    translateIpa: identity,
  });
  t.match(r, { ok: false, event: { type: 'F_STE_FETCH', fetchAddr: 0x7000_0040n } });
});

t.test('nested: CD address and TTBs go through stage 2, faults pass through', async (t) => {
  const seen: Array<[bigint, string, boolean]> = [];
  const shift: TranslateIpa = (cfg, ipa, cls) => {
    seen.push([ipa, cls, cfg.recordFaults]);
    return { ok: true, pa: ipa };
  };
  const r = decode(
    { config: 7, s2ttb: 0x4200_0000n },
    { epd1: 0, tg1: 2, t1sz: 16, ttb1: 0x4300_0000n },
    NESTED,
    shift,
  );
  t.match(r, { ok: true, cfg: { stage: 'nested' } });
  t.same(
    seen,
    [
      [CDADDR, 'CD', false],
      [0x4100_0000n, 'TT', false],
      [0x4300_0000n, 'TT', false],
    ],
    'CD.R not yet latched while translating',
  );
  const failing: TranslateIpa = (_c, ipa, cls) =>
    cls === 'TT'
      ? { ok: false, event: { type: 'F_TRANSLATION', s2: true, cls: 'TT', rnw: true, inputAddr: 0n, addr2: ipa } }
      : { ok: true, pa: ipa };
  t.match(decode({ config: 7, s2ttb: 0x4200_0000n }, {}, NESTED, failing), {
    ok: false,
    event: { type: 'F_TRANSLATION', cls: 'TT', addr2: 0x4100_0000n },
  });
  const silent: TranslateIpa = () => ({ ok: false, event: null });
  t.match(
    decode({ config: 7, s2ttb: 0x4200_0000n }, {}, NESTED, silent),
    { ok: false, event: null },
    'unrecorded fault: no event',
  );
  const moved: TranslateIpa = (_c, ipa) => ({ ok: true, pa: ipa + 0x100_0000n });
  t.match(decode({ config: 7, s2ttb: 0x4200_0000n, ctx: CDADDR - 0x100_0000n }, {}, NESTED, moved), {
    ok: true,
    cfg: { tt: [{ ttb: 0x4200_0000n }] },
    trace: { cdAddr: CDADDR },
  });
});
