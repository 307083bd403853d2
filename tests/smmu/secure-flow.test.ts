/**
 * The Secure SMMU end to end in one in-process machine: the author's `secure-s1-only` flow of
 * docs/secure-smmu.md step by step (tables written straight into the Secure view, registers by
 * attribute-less MMIO as libqos does), and the Non-secure `ns-s1-only` flow with sec-sid=non-secure.
 */
import t from 'tap';
import { makeSession } from '../helpers/session.js';
import type { Machine } from '../../src/machine/machine.js';
import type { BusAccess } from '../../src/memory/types.js';

const ECAM = 0x40_1000_0000n;
const BAR0 = 0x1000_0000n;
const SMMU = 0x0905_0000n;

const le = (v: bigint, n: number) => Uint8Array.from({ length: n }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
const wr = (m: BusAccess, a: bigint, v: bigint, n: number) => m.writeBytes(a, le(v, n));
const rd = (m: BusAccess, a: bigint, n: number) => {
  const b = new Uint8Array(n);
  m.readBytes(a, b);
  return b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
};

function boot(secure: boolean): Machine {
  const argv = [
    '-machine',
    `virt,acpi=off,gic-version=3,iommu=smmuv3${secure ? ',secure=on' : ''}`,
    ...(secure ? ['-global', 'arm-smmuv3.secure-impl=true'] : []),
    '-smp',
    '1',
    '-m',
    '512',
    '-cpu',
    'max',
    '-net',
    'none',
    '-device',
    `iommu-testdev,sec-sid=${secure ? 'secure' : 'non-secure'}`,
  ];
  const m = makeSession(argv).machine;
  // 00:01.0: BAR0 and COMMAND = MEMORY | MASTER
  const cfg = ECAM + (8n << 12n);
  wr(m.system, cfg + 0x10n, BAR0, 4);
  wr(m.system, cfg + 0x04n, 6n, 2);
  return m;
}

/** §3.3 steps 4–6 with the space offset (0 Secure, 0x40000000 Non-secure) and NS bits. */
function writeTables(mem: BusAccess, ns: boolean): void {
  const off = ns ? 0x4000_0000n : 0n;
  const ste = [0x0e178fcb + Number(off), 0, 0, 0, 0, 0x000d0094, 0x0e4d0000 + Number(off), 0];
  ste.forEach((w, i) => wr(mem, 0x0e179200n + off + BigInt(4 * i), BigInt(w >>> 0), 4));
  const cd = ns ? [0xc0000010, 0x1e206204, 0x4e4d0001, 0, 0x00000001] : [0xc0000010, 0x1e206204, 0x0e4d0000, 0, 0];
  for (let i = 0; i < 16; i++) wr(mem, 0x0e178fc0n + off + BigInt(4 * i), BigInt((cd[i] ?? 0) >>> 0), 4);
  const nonLeaf = ns ? 0x8000_0000_0000_0003n : 3n;
  const leaf = ns ? 0x0400_0000_0000_0763n : 0x0400_0000_0000_0743n;
  const t = (a: bigint) => a + off;
  wr(mem, t(0x0e4d0008n), t(0x0e4d1000n) | nonLeaf, 8);
  wr(mem, t(0x0e4d1010n), t(0x0e4d2000n) | nonLeaf, 8);
  wr(mem, t(0x0e4d2018n), t(0x0e4d3000n) | nonLeaf, 8);
  wr(mem, t(0x0e4d3020n), t(0x0ecba000n) | leaf, 8);
}

/** §3.3 steps 7/8 on the bank at `base`. */
function programBank(m: Machine, base: bigint, ns: boolean): void {
  const off = ns ? 0x4000_0000n : 0n;
  const w = (o: number, v: bigint, n = 4) => wr(m.system, base + BigInt(o), v, n);
  w(0x44, 0x8000_0000n);
  w(0x20, 0n);
  w(0x28, 0xd75n);
  w(0x90, 0x0e16b00an + off, 8);
  w(0x9c, 0n);
  w(0x98, 0n);
  w(0xa0, 0x0e17000an + off, 8);
  w(0xa8, 0n);
  w(0xac, 0n);
  w(0x88, 5n);
  w(0x80, 0x0e179000n + off, 8);
  w(0x20, 0xdn);
}

function dma(m: Machine, gpa: bigint, attrs: number): bigint {
  const w = (o: number, v: bigint) => wr(m.system, BAR0 + BigInt(o), v, 4);
  const gva = 0x80_8060_4567n;
  w(0x04, gva & 0xffff_ffffn);
  w(0x08, gva >> 32n);
  w(0x1c, gpa & 0xffff_ffffn);
  w(0x20, gpa >> 32n);
  w(0x0c, 4n);
  w(0x18, BigInt(attrs));
  w(0x14, 1n);
  rd(m.system, BAR0, 4);
  return rd(m.system, BAR0 + 0x10n, 4);
}

t.test('secure-s1-only (docs/secure-smmu.md, the author test step by step)', async (t) => {
  const m = boot(true);
  const sec = m.secureView!;
  t.ok(sec, 'secure=on gives a Secure view');
  t.equal(rd(m.system, SMMU + 0x8004n, 4), 0x8000_0010n, 'S_IDR1 = SECURE_IMPL | SIDSIZE 16');
  sec.fill(0x0ecba567n, 4n, 0);
  writeTables(sec, false);
  t.equal(rd(sec, 0x0e178fc4n, 4), 0x1e206204n, 'CD reads back from the Secure view');
  t.equal(rd(m.system, 0x0e178fc4n, 4), 0n, 'Secure RAM is not in the Non-secure view');
  programBank(m, SMMU, true);
  programBank(m, SMMU + 0x8000n, false);
  t.equal(rd(m.system, SMMU + 0x8024n, 4), 0xdn, 'S_CR0ACK');
  t.equal(rd(m.system, SMMU + 0x8044n, 4), 0n, 'S_GBPA');
  t.equal(dma(m, 0x0ecba567n, 0x9), 0n, 'RESULT = 0 (DMA through the Secure bank, read back Secure)');
  t.equal(rd(sec, 0x0ecba567n, 4), 0x1234_5678n, 'memread Secure gives 78 56 34 12');
  const snap = m.smmu!.debugSnapshot() as {
    secureBank: { configCache: { size: number } };
    configCache: { size: number };
  };
  t.equal(snap.secureBank.configCache.size, 1, 'the Secure world cached the STE');
  t.equal(snap.configCache.size, 0, 'the Non-secure world did not');
});

t.test('ns-s1-only with sec-sid=non-secure (no secure=on)', async (t) => {
  const m = boot(false);
  t.equal(m.secureView, undefined);
  t.equal(rd(m.system, SMMU + 0x8004n, 4), 0n, 'no Secure bank without secure-impl');
  writeTables(m.system, true);
  programBank(m, SMMU, true);
  t.equal(dma(m, 0x4ecba567n, 0xa), 0n, 'RESULT = 0');
  t.equal(rd(m.system, 0x4ecba567n, 4), 0x1234_5678n);
});

t.test('a Secure DMA attribute from a sec-sid=non-secure device stays Non-secure', async (t) => {
  const m = boot(true);
  // Re-plug is not needed: flip the device's sec-sid to non-secure.
  for (const d of m.userDevices.keys()) d.secSid = 0;
  writeTables(m.secureView!, false);
  programBank(m, SMMU, true);
  programBank(m, SMMU + 0x8000n, false);
  t.not(dma(m, 0x0ecba567n, 0x9), 0n, 'translated by the (empty) Non-secure stream table: fails');
  const snap = m.smmu!.debugSnapshot() as { secureBank: { configCache: { size: number } } };
  t.equal(snap.secureBank.configCache.size, 0, 'the Secure world was not consulted');
});
