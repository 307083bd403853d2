/**
 * The Secure SMMU's pieces (docs/secure-smmu.md): bank decode and aliasing, the Secure-bank gate,
 * SEC_SID selection, the per-level PA space of stage-1 walks, each quirk in both settings, and
 * cache isolation between the worlds.
 */
import t from 'tap';
import { decodeBankOffset } from '../../src/smmu/bank-decode.js';
import { walkStage1 } from '../../src/smmu/page-table-walk.js';
import type { Stage1Params, WalkSecurity } from '../../src/smmu/page-table-walk.js';
import { PERM } from '../../src/smmu/faults.js';
import { quirkSet } from '../../src/smmu/quirks.js';
import { cdWords, cmd, FakeMemory, secureRig, steWords } from './fixtures.js';
import type { SecureRig } from './fixtures.js';

const ENTRY = {
  iova: 0n,
  translatedAddr: 0n,
  addrMask: 0xfffn,
  perm: 3,
  parentPerm: 3,
  level: 3,
  granuleShift: 12,
} as const;
const SEC = { space: 0 };
const NS = { space: 1 };

t.test('decode: banks, aliasing, shared registers', async (t) => {
  t.same(decodeBankOffset(0x20n, {}, false), { sec: 0, rel: 0x20n });
  t.same(decodeBankOffset(0x8020n, {}, false), { sec: 0, rel: 0x8020n }, 'without secure-impl: 10.2.2 (RAZ/WI)');
  t.same(decodeBankOffset(0x8020n, {}, true), { sec: 1, rel: 0x20n });
  t.same(decodeBankOffset(0x18020n, {}, true), { sec: 1, rel: 0x20n }, 'page 1 aliases page 0');
  t.same(decodeBankOffset(0x1020n, {}, true), { sec: 0, rel: 0x20n }, '0x1000-0x7FFF alias the NS bank');
  t.same(decodeBankOffset(0x9020n, {}, true), { sec: 1, rel: 0x20n }, '0x9000-0xFFFF alias the Secure bank');
  for (const shared of [0x8018n, 0x801cn, 0x8040n]) t.equal(decodeBankOffset(shared, {}, true)!.sec, 0, 'shared');
  const { rl } = secureRig();
  t.equal(rl(0x8000), 0, 'S_IDR0');
  t.equal(rl(0x8004), 0x80000010, 'S_IDR1');
  t.equal(rl(0x801c), 1, 'AIDR shared');
  t.equal(rl(0x8044), 0x1000, 'S_GBPA reset');
  t.equal(rl(0x0004), 0x02730010, 'IDR1 unchanged');
});

t.test('the Secure-bank gate', async (t) => {
  t.equal(decodeBankOffset(0x8020n, NS, true), null, 'space Non-secure is refused');
  t.equal(decodeBankOffset(0x8020n, { space: 3 }, true), null, 'Realm is refused');
  t.not(decodeBankOffset(0x8020n, { space: 1, secure: true }, true), null, 'secure=1 passes');
  t.not(decodeBankOffset(0x8020n, {}, true), null, 'attribute-less passes (space 0)');
  const { rl, wl } = secureRig();
  wl(0x8028, 0xd75, NS);
  t.equal(rl(0x8028), 0, 'refused write dropped');
  wl(0x8028, 0xd75);
  t.equal(rl(0x8028, NS), 0, 'refused read is 0');
  t.equal(rl(0x8028, SEC), 0xd75);
});

/** STE 0 at stream table base, S1 via a CD and a 4-level walk; all tables and output in `mem`. */
function s1Setup(mem: FakeMemory, base: bigint, o: { nscfg: number; nstable: bigint; leafNs: bigint }) {
  const strtab = base + 0x10_0000n;
  const cd = base + 0x10_1000n;
  const l0 = base + 0x20_0000n;
  mem.words(strtab, steWords({ config: 5, ctx: cd }));
  const words = cdWords({ ttb0: l0, epd1: 1, asid: 1 });
  // NSCFG0 = CD word 2 bit 0, NSCFG1 = word 4 bit 0 (IHI 0070 5.4)
  words[2] = (words[2] | o.nscfg) >>> 0;
  words[4] = (words[4] | o.nscfg) >>> 0;
  mem.words(cd, words);
  for (let lv = 0; lv < 3; lv++) mem.w64(l0 + BigInt(lv) * 0x1000n, (l0 + BigInt(lv + 1) * 0x1000n) | 3n | o.nstable);
  mem.w64(l0 + 0x3000n, (base + 0x40_0000n) | 0x743n | o.leafNs);
  return strtab;
}

function enable(r: SecureRig, bank: number, strtab: bigint) {
  r.wq(bank + 0x80, strtab);
  r.wl(bank + 0x88, 0);
  r.wq(bank + 0x90, strtab + 0x8000n);
  r.wq(bank + 0xa0, strtab + 0x9000n);
  r.wl(bank + 0x20, 1);
}

t.test('SEC_SID selection and cache isolation', async (t) => {
  const r = secureRig();
  const sStrtab = s1Setup(r.sMem, 0x0e00_0000n, { nscfg: 0, nstable: 0n, leafNs: 0n });
  const nStrtab = s1Setup(r.nsMem, 0x4000_0000n, { nscfg: 1, nstable: 1n << 63n, leafNs: 1n << 5n });
  enable(r, 0x8000, sStrtab);
  enable(r, 0, nStrtab);
  const s = r.smmu.translate(0, 0x234n, false, SEC);
  t.ok(s.ok && s.pa === 0x0e40_0234n && s.target, 'sec-sid=secure + space Secure → Secure bank, Secure output');
  const n = r.smmu.translate(0, 0x234n, false, NS);
  t.ok(n.ok && n.pa === 0x4040_0234n && !n.target, 'space Non-secure → Non-secure bank');
  t.equal(r.smmu.iotlb.size, 1, 'one NS entry');
  t.equal(r.smmu.secureCaches!.iotlb.size, 1, 'one Secure entry, kept apart');
  // Same ASID, same IOVA: each world answers from its own entry.
  r.sMem.w64(0x0e20_3000n, 0n);
  r.nsMem.w64(0x4020_3000n, 0n);
  const again = r.smmu.translate(0, 0x234n, false, NS);
  t.ok(again.ok && again.pa === 0x4040_0234n, 'the Secure entry never serves a Non-secure lookup');
  const r2 = secureRig({ secSid: 0 });
  enable(r2, 0x8000, s1Setup(r2.sMem, 0x0e00_0000n, { nscfg: 0, nstable: 0n, leafNs: 0n }));
  const b = r2.smmu.translate(0, 0x234n, false, SEC);
  t.ok(b.ok && b.pa === 0x234n && !b.target, 'sec-sid=non-secure: the (disabled) Non-secure bank bypasses to NS');
});

t.test('per-level PA space of a stage-1 walk', async (t) => {
  const tt = { disabled: false, tsz: 16, granuleShift: 12 as const, ttb: 0x1000n, had: false };
  const p = (security?: WalkSecurity): Stage1Params => ({ tt: [tt, tt], tbi: 0, oas: 48, affd: false, security });
  const tables = new Map<bigint, bigint>([
    [0x1000n, 0x2000n | 3n | (1n << 63n)], // L0: NSTable=1
    [0x2000n, 0x3000n | 3n], // L1: NSTable=0
    [0x3000n, 0x4000n | 3n],
    [0x4000n, 0x9000n | 0x743n], // leaf NS=0
  ]);
  const seen: string[] = [];
  const read = (pa: bigint, ns?: boolean) => {
    seen.push(`${pa.toString(16)}:${ns === undefined ? '-' : ns ? 'ns' : 's'}`);
    return tables.get(pa) ?? null;
  };
  let r = walkStage1(p(), 0n, PERM.RO, read);
  t.same(seen.splice(0), ['1000:-', '2000:-', '3000:-', '4000:-'], 'no security: plain reads');
  t.ok(r.ok && !r.entry.secureOut);
  r = walkStage1(p({ startNs: [false, false], rule: 'architectural' }), 0n, PERM.RO, read);
  t.same(seen.splice(0), ['1000:s', '2000:ns', '3000:ns', '4000:ns'], 'Secure walk goes NS at NSTable=1 and stays');
  t.ok(r.ok && !r.entry.secureOut, 'architectural: an NS walk outputs NS');
  r = walkStage1(p({ startNs: [false, false], rule: 'rfc' }), 0n, PERM.RO, read);
  t.same(seen.splice(0), ['1000:s', '2000:ns', '3000:ns', '4000:ns'], 'rfc: S→NS is sticky too');
  t.ok(r.ok && r.entry.secureOut, 'rfc: the leaf NS bit alone selects the output');
  walkStage1(p({ startNs: [true, true], rule: 'rfc' }), 0n, PERM.RO, read);
  t.same(seen.splice(0), ['1000:ns', '2000:ns', '3000:s', '4000:s'], 'rfc: an NS walk meeting NSTable=0 turns Secure');
  walkStage1(p({ startNs: [true, true], rule: 'architectural' }), 0n, PERM.RO, read);
  t.same(seen.splice(0), ['1000:ns', '2000:ns', '3000:ns', '4000:ns'], 'architectural: an NS walk stays NS');
});

t.test('quirks, each in both settings', async (t) => {
  const arch = quirkSet('architectural');
  // ns-init-alias
  for (const on of [true, false]) {
    const r = secureRig({ quirks: { ...arch, 'ns-init-alias': on } });
    r.smmu.iotlb.insert(1, -1, ENTRY);
    r.wl(0x3c, 1);
    t.equal(r.smmu.iotlb.size, on ? 0 : 1, `ns-init-alias=${on}: NS 0x03C ${on ? 'is' : 'is not'} S_INIT`);
    r.wl(0x803c, 1);
    t.equal(r.smmu.iotlb.size, 0, 'S_INIT.INV_ALL clears both worlds');
  }
  // cr0ack-mask
  for (const on of [true, false]) {
    const r = secureRig({ quirks: { ...arch, 'cr0ack-mask': on } });
    r.wl(0x8020, 0xffffffff);
    t.equal(r.rl(0x8024), on ? 0x5df : 0x3ed, `cr0ack-mask=${on}`);
  }
  // access-checks
  for (const on of [true, false]) {
    const r = secureRig({ quirks: { ...arch, 'access-checks': on } });
    r.wl(0x20, 1);
    r.wl(0x2c, 0x5);
    t.equal(r.rl(0x2c), on ? 0 : 5, `access-checks=${on}: CR2 write while SMMUEN`);
    r.wl(0x70, 7);
    t.equal(r.rl(0x70), on ? 0 : 7, `access-checks=${on}: GERROR_IRQ_CFG1`);
  }
  // bypass-ns-output
  for (const on of [true, false]) {
    const r = secureRig({ quirks: { ...arch, 'bypass-ns-output': on } });
    r.wl(0x8044, 0x80000000); // S_GBPA: no abort
    const b = r.smmu.translate(0, 0x0e00_0000n, true, SEC);
    t.ok(b.ok, 'disabled Secure bank bypasses');
    t.equal(b.ok && b.target !== undefined, !on, `bypass-ns-output=${on}`);
  }
  // walk-security: an NS stream with leaf NS=0
  for (const on of [true, false]) {
    const r = secureRig({ quirks: { ...arch, 'walk-security': on }, secSid: 0 });
    enable(r, 0, s1Setup(r.nsMem, 0x4000_0000n, { nscfg: 1, nstable: 1n << 63n, leafNs: 0n }));
    const x = r.smmu.translate(0, 0x234n, false, NS);
    t.equal(x.ok && x.target !== undefined, on, `walk-security=${on}: NS stream leaf NS=0 outputs Secure`);
  }
  // ssec-commands + invalidate-both-worlds + queues-ns-memory: a CFGI_STE with SSec on the Secure queue
  for (const on of [true, false]) {
    const r = secureRig({ quirks: { ...arch, 'ssec-commands': on, 'queues-ns-memory': on } });
    const qmem = on ? r.nsMem : r.sMem;
    const qbase = on ? 0x4800_0000n : 0x0e80_0000n;
    r.wq(0x8090, qbase | 4n);
    qmem.words(qbase, cmd(0x03, 1 << 10, 8));
    r.wl(0x8020, 8);
    r.wl(0x8098, 1);
    t.equal((r.rl(0x809c) >> 24) & 0x7f, on ? 1 : 0, `ssec-commands=${on}: SSec=1 CFGI on the Secure queue`);
  }
  for (const on of [true, false]) {
    const r = secureRig({ quirks: { ...arch, 'invalidate-both-worlds': on } });
    r.smmu.secureCaches!.iotlb.insert(1, -1, ENTRY);
    r.wq(0x90, 0x4800_0000n | 4n);
    r.nsMem.words(0x4800_0000n, cmd(0x30));
    r.wl(0x20, 8);
    r.wl(0x98, 1);
    t.equal(r.smmu.secureCaches!.iotlb.size, on ? 0 : 1, `invalidate-both-worlds=${on}: TLBI_NSNH_ALL`);
  }
});

t.test('Secure stage 2 is C_BAD_STE (S_IDR1.SEL2 = 0)', async (t) => {
  const r = secureRig({ quirks: { 'queues-ns-memory': false } });
  r.sMem.words(0x0e10_0000n, [0xd, 0, 0, 0, 0, 0x000d0094, 0x0e4d0000, 0]);
  enable(r, 0x8000, 0x0e10_0000n);
  r.wl(0x8020, 5);
  t.notOk(r.smmu.translate(0, 0x1000n, false, SEC).ok);
  t.equal(r.sMem.r32(0x0e10_9000n) & 0xff, 0x04, 'C_BAD_STE in the Secure event queue (Secure memory)');
  const q = secureRig();
  q.sMem.words(0x0e10_0000n, [0xd, 0, 0, 0, 0, 0x000d0094, 0x0e4d0000, 0]);
  enable(q, 0x8000, 0x0e10_0000n);
  q.wl(0x8020, 5);
  q.smmu.translate(0, 0x1000n, false, SEC);
  t.equal(q.rl(0x8060) & 4, 4, 'queues-ns-memory (default): the event write fails → S_GERROR.EVENTQ_ABT_ERR');
});
