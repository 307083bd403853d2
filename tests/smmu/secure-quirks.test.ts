/**
 * More of the Secure SMMU's rules (docs/secure-smmu.md), each on its own: the quirks that
 * secure-bank.test.ts checks only together (queues-ns-memory, ssec-commands,
 * invalidate-both-worlds on every command kind), no quirk at all without secure-impl (the
 * Non-secure bank stays QEMU 10.2.2's), the gate for every space, S_INIT's enable condition, SEC_SID
 * without secure-impl, and cache isolation in both directions for the config cache and the IOTLB.
 */
import t from 'tap';
import { decodeBankOffset } from '../../src/smmu/bank-decode.js';
import { quirkSet } from '../../src/smmu/quirks.js';
import type { SmmuQuirks } from '../../src/smmu/quirks.js';
import { cdWords, cmd, FakeMemory, secureRig, steWords } from './fixtures.js';
import type { SecureRig } from './fixtures.js';

const SEC = { space: 0 };
const NS = { space: 1 };
const OP = { CFGI_STE: 0x03, TLBI_NH_ALL: 0x10, TLBI_S12_VMALL: 0x28, TLBI_NSNH_ALL: 0x30, SYNC: 0x46 };
const SSEC = 1 << 10;

/** STE for SID 0 → CD → 4-level stage-1 walk, all in `mem` at `base`; output page base + 0x40_0000 (+ `tag`). */
function s1Setup(mem: FakeMemory, base: bigint, ns: boolean, tag = 0n): bigint {
  const strtab = base + 0x10_0000n;
  const cd = base + 0x10_1000n;
  const l0 = base + 0x20_0000n;
  mem.words(strtab, steWords({ config: 5, ctx: cd }));
  const words = cdWords({ ttb0: l0, epd1: 1, asid: 1 });
  words[2] = (words[2] | (ns ? 1 : 0)) >>> 0; // NSCFG0
  mem.words(cd, words);
  const nstable = ns ? 1n << 63n : 0n;
  for (let lv = 0; lv < 3; lv++) mem.w64(l0 + BigInt(lv) * 0x1000n, (l0 + BigInt(lv + 1) * 0x1000n) | 3n | nstable);
  mem.w64(l0 + 0x3000n, (base + 0x40_0000n + tag) | 0x743n | (ns ? 0x20n : 0n));
  return strtab;
}

/** Linear stream table, queues after it (in the same memory), SMMUEN | CMDQEN. */
function enable(r: SecureRig, bank: number, strtab: bigint, cmdq = strtab + 0x8000n): void {
  r.wq(bank + 0x80, strtab);
  r.wl(bank + 0x88, 0);
  r.wq(bank + 0x90, cmdq | 4n);
  r.wq(bank + 0xa0, strtab + 0x9000n);
  r.wl(bank + 0x20, 0x9);
}

/** Put commands at the queue's start and publish them; returns CMDQ_CONS.ERR. */
function submit(r: SecureRig, bank: number, mem: FakeMemory, qbase: bigint, ...cmds: number[][]): number {
  cmds.forEach((c, i) => mem.words(qbase + BigInt(16 * i), c));
  r.wl(bank + 0x98, cmds.length);
  return (r.rl(bank + 0x9c) >> 24) & 0x7f;
}

/** Both worlds enabled with their own tables; SID 0 translated once in each (both caches filled). */
function twoWorlds(quirks: Partial<SmmuQuirks>) {
  const r = secureRig({ quirks });
  const s = s1Setup(r.sMem, 0x0e00_0000n, false);
  const n = s1Setup(r.nsMem, 0x4000_0000n, true);
  enable(r, 0x8000, s);
  enable(r, 0, n);
  r.smmu.translate(0, 0x234n, false, SEC);
  r.smmu.translate(0, 0x234n, false, NS);
  const sizes = () => ({
    nsCfg: r.smmu.configCache.size,
    nsTlb: r.smmu.iotlb.size,
    sCfg: r.smmu.secureCaches!.configCache.size,
    sTlb: r.smmu.secureCaches!.iotlb.size,
  });
  return { r, sq: s + 0x8000n, nq: n + 0x8000n, sizes };
}

t.test('without secure-impl no quirk applies: the Non-secure bank is 10.2.2', async (t) => {
  const r = secureRig({ secureImpl: false, quirks: quirkSet('rfc') });
  t.equal(r.smmu.secureCaches, undefined, 'one world');
  r.wl(0x20, 0xffffffff);
  t.equal(r.rl(0x24), 0x3df, 'CR0ACK mask 0xFFFFFC20');
  r.wl(0x20, 1);
  r.wl(0x2c, 5);
  t.equal(r.rl(0x2c), 5, 'CR2 stored while SMMUEN (no access checks)');
  r.wl(0x70, 7);
  t.equal(r.rl(0x70), 7, 'GERROR_IRQ_CFG1 stored');
  r.wl(0x3c, 1);
  t.equal(r.rl(0x3c), 0, '0x03C RAZ/WI');
  t.equal(r.rl(0x8004), 0, '0x8004 (S_IDR1) reads 0');
  r.wl(0x8028, 0xd75);
  t.equal(r.rl(0x8028), 0, '0x8028 writes ignored');
  // SEC_SID: a sec-sid=secure device with space Secure is a Non-secure stream
  r.wl(0x20, 0);
  r.wl(0x44, 0x80000000);
  const x = r.smmu.translate(0, 0x0e00_0000n, true, SEC);
  t.ok(x.ok && x.target === undefined, 'bypass by the Non-secure bank to the Non-secure view');
});

t.test('the gate: space Secure or the secure bit', async (t) => {
  for (const [attrs, pass] of [
    [{ space: 0 }, true],
    [{ space: 2 }, false], // the series' gate: space Secure or the secure bit (qtest `space=root` sets both)
    [{ space: 2, secure: true }, true],
    [{ space: 1 }, false],
    [{ space: 3 }, false],
    [{ space: 3, secure: true }, true],
    [{ secure: false }, true],
  ] as const) {
    t.equal(
      decodeBankOffset(0x8020n, attrs, true) !== null,
      pass,
      `${JSON.stringify(attrs)}: ${pass ? 'passes' : 'refused'}`,
    );
  }
});

t.test('S_INIT acts only while the addressed bank is disabled (CR0 and CR0ACK)', async (t) => {
  const { r, sizes } = twoWorlds(quirkSet('rfc'));
  t.same(sizes(), { nsCfg: 1, nsTlb: 1, sCfg: 1, sTlb: 1 });
  r.wl(0x803c, 1);
  t.same(sizes(), { nsCfg: 1, nsTlb: 1, sCfg: 1, sTlb: 1 }, 'Secure bank enabled: ignored');
  r.wl(0x3c, 1);
  t.same(sizes(), { nsCfg: 1, nsTlb: 1, sCfg: 1, sTlb: 1 }, 'ns-init-alias: the NS bank is enabled, ignored');
  r.wl(0x8020, 0);
  t.equal(r.rl(0x8024), 0, 'S_CR0ACK follows');
  t.equal(r.rl(0x803c), 0, 'S_INIT reads 0');
  r.wl(0x803c, 1);
  t.same(sizes(), { nsCfg: 0, nsTlb: 0, sCfg: 0, sTlb: 0 }, 'both worlds cleared');
});

t.test('queues-ns-memory, alone', async (t) => {
  for (const on of [true, false]) {
    const r = secureRig({ quirks: { ...quirkSet('architectural'), 'queues-ns-memory': on } });
    const strtab = s1Setup(r.sMem, 0x0e00_0000n, false);
    enable(r, 0x8000, strtab); // Secure CMDQ in Secure RAM
    const err = submit(r, 0x8000, r.sMem, strtab + 0x8000n, cmd(OP.SYNC));
    t.equal(err, on ? 2 : 0, `queues-ns-memory=${on}: a Secure CMDQ in Secure RAM ${on ? 'aborts' : 'works'}`);
    t.equal(r.rl(0x8060) & 1, on ? 1 : 0, 'S_GERROR.CMDQ_ERR');
    t.equal(r.rl(0x60) & 1, 0, 'GERROR of the Non-secure bank untouched');
    // the same queue placed in Non-secure RAM: read through the Non-secure view only with the quirk
    const r2 = secureRig({ quirks: { ...quirkSet('architectural'), 'queues-ns-memory': on } });
    enable(r2, 0x8000, s1Setup(r2.sMem, 0x0e00_0000n, false), 0x4800_0000n);
    t.equal(submit(r2, 0x8000, r2.nsMem, 0x4800_0000n, cmd(OP.SYNC)), on ? 0 : 2, 'a Secure CMDQ in NS RAM');
  }
});

t.test('ssec-commands, alone', async (t) => {
  for (const on of [true, false]) {
    const q = { ...quirkSet('architectural'), 'ssec-commands': on };
    const { r, sq, nq, sizes } = twoWorlds(q);
    t.equal(submit(r, 0x8000, r.sMem, sq, cmd(OP.CFGI_STE, SSEC, 0)), on ? 1 : 0, `ssec-commands=${on}: SSec CFGI`);
    t.equal(sizes().sCfg, on ? 1 : 0, on ? 'nothing invalidated' : 'the Secure STE is invalidated');
    t.equal(sizes().nsCfg, 1, 'the Non-secure STE stays');
    r.wl(0x8020, 0);
    r.wl(0x8064, r.rl(0x8060)); // acknowledge S_GERROR, restart the queue
    r.wl(0x809c, 0);
    r.wl(0x8098, 0);
    r.wl(0x8020, 9);
    t.equal(submit(r, 0x8000, r.sMem, sq, cmd(OP.TLBI_S12_VMALL)), on ? 2 : 0, 'TLBI_S12_VMALL on the Secure queue');
    // SSec on the Non-secure queue is illegal in both settings
    t.equal(submit(r, 0, r.nsMem, nq, cmd(OP.CFGI_STE, SSEC, 0)), 1, 'SSec CFGI on the NS queue: CERROR_ILL');
  }
});

t.test('invalidate-both-worlds, per command', async (t) => {
  for (const on of [true, false]) {
    const q = { ...quirkSet('architectural'), 'invalidate-both-worlds': on };
    let w = twoWorlds(q);
    t.equal(submit(w.r, 0, w.r.nsMem, w.nq, cmd(OP.CFGI_STE, 0, 0)), 0);
    t.same(
      w.sizes(),
      { nsCfg: 0, nsTlb: 1, sCfg: on ? 0 : 1, sTlb: 1 },
      `invalidate-both-worlds=${on}: CFGI_STE (SSec 0) on the NS queue`,
    );
    w = twoWorlds(q);
    t.equal(submit(w.r, 0x8000, w.r.sMem, w.sq, cmd(OP.TLBI_NH_ALL)), 0);
    t.same(w.sizes(), { nsCfg: 1, nsTlb: on ? 0 : 1, sCfg: 1, sTlb: 0 }, 'TLBI_NH_ALL on the Secure queue');
    w = twoWorlds(q);
    t.equal(submit(w.r, 0, w.r.nsMem, w.nq, cmd(OP.TLBI_NH_ALL)), 0);
    t.same(w.sizes(), { nsCfg: 1, nsTlb: 0, sCfg: 1, sTlb: on ? 0 : 1 }, 'TLBI_NH_ALL on the NS queue');
  }
});

t.test('cache isolation: neither world answers the other, in either order', async (t) => {
  for (const first of ['secure', 'non-secure'] as const) {
    const r = secureRig({ quirks: quirkSet('rfc') });
    // same SID, same ASID, same IOVA; the outputs differ by world
    enable(r, 0x8000, s1Setup(r.sMem, 0x0e00_0000n, false, 0x1000n));
    enable(r, 0, s1Setup(r.nsMem, 0x4000_0000n, true, 0x2000n));
    const sec = () => r.smmu.translate(0, 0x234n, false, SEC);
    const ns = () => r.smmu.translate(0, 0x234n, false, NS);
    const a = first === 'secure' ? sec() : ns();
    const b = first === 'secure' ? ns() : sec();
    const want = (w: 'secure' | 'non-secure') => (w === 'secure' ? 0x0e40_1234n : 0x4040_2234n);
    t.ok(a.ok && a.pa === want(first), `${first} first: its own output`);
    const other = first === 'secure' ? 'non-secure' : 'secure';
    t.ok(b.ok && b.pa === want(other), `then the ${other} lookup walks its own tables`);
    t.equal(r.smmu.configCache.size, 1, 'one Non-secure config');
    t.equal(r.smmu.secureCaches!.configCache.size, 1, 'one Secure config');
    // the cached answers stay per world after the tables are gone
    r.sMem.w64(0x0e10_0000n, 0n);
    r.nsMem.w64(0x4010_0000n, 0n);
    const s2 = sec();
    const n2 = ns();
    t.ok(s2.ok && s2.pa === want('secure') && n2.ok && n2.pa === want('non-secure'), 'hits stay in their world');
  }
});
