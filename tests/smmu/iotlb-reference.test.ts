/**
 * The bucketed IOTLB against a plain reference model: one Map keyed by the full
 * (ASID, VMID, IOVA, TG, level) string, scanned linearly for every invalidation, written straight
 * from QEMU's smmu-common.c semantics. Randomized operation sequences (seeded) compare lookups
 * (entry identity), sizes, entry order, capacity flushes and invalidation counts after every step,
 * including the 256-entry flush, every invalidation kind, TTL exact-key deletes and odd inputs
 * (unaligned or huge IOVAs, levels and TnSZ outside the usual ranges).
 */
import t from 'tap';
import { Iotlb, IOTLB_MAX_ENTRIES } from '../../src/smmu/iotlb.js';
import type { IotlbKey } from '../../src/smmu/iotlb.js';
import type { TlbEntry } from '../../src/smmu/page-table-walk.js';
import type { GranuleShift } from '../../src/smmu/granules.js';

const U64 = (1n << 64n) - 1n;

class ReferenceIotlb {
  readonly map = new Map<string, { key: IotlbKey; entry: TlbEntry }>();
  capacityFlushes = 0;

  private static k(asid: number, vmid: number, iova: bigint, tg: number, level: number): string {
    return `${asid}|${vmid}|${iova.toString(16)}|${tg}|${level}`;
  }

  lookupAllLevels(asid: number, vmid: number, granuleShift: number, tsz: number, iova: bigint): TlbEntry | undefined {
    const tg = (granuleShift - 10) / 2;
    const stride = granuleShift - 3;
    const start = 4 - Math.floor((64 - tsz - 4) / stride);
    if (start < 0) return undefined;
    for (let level = start; level <= 3; level++) {
      const shift = granuleShift + (3 - level) * stride;
      const aligned = iova & ~((1n << BigInt(shift)) - 1n);
      const hit = this.map.get(ReferenceIotlb.k(asid, vmid, aligned, tg, level));
      if (hit) return hit.entry;
    }
    return undefined;
  }

  insert(asid: number, vmid: number, entry: TlbEntry): void {
    if (this.map.size >= 256) {
      this.map.clear();
      this.capacityFlushes++;
    }
    const key = { asid, vmid, iova: entry.iova, tg: (entry.granuleShift - 10) / 2, level: entry.level };
    this.map.set(ReferenceIotlb.k(asid, vmid, key.iova, key.tg, key.level), { key, entry });
  }

  private remove(pred: (k: IotlbKey, e: TlbEntry) => boolean): number {
    let n = 0;
    for (const [s, v] of this.map) {
      if (pred(v.key, v.entry)) {
        this.map.delete(s);
        n++;
      }
    }
    return n;
  }

  private static hits(e: TlbEntry, addr: bigint, rangeMask: bigint): boolean {
    return (addr & ~e.addrMask & U64) === e.iova || (e.iova & ~rangeMask & U64) === addr;
  }

  invalidateAll(): void {
    this.map.clear();
  }
  invalidateAsidVmid(asid: number, vmid: number): number {
    return this.remove((k) => k.asid === asid && k.vmid === vmid);
  }
  invalidateVmid(vmid: number): number {
    return this.remove((k) => k.vmid === vmid);
  }
  invalidateVmidS1(vmid: number): number {
    return this.remove((k) => k.vmid === vmid && k.asid >= 0);
  }
  invalidateIova(asid: number, vmid: number, iova: bigint, tg: number, numPages: bigint, ttl: number): number {
    const granule = tg ? tg * 2 + 10 : 12;
    if (ttl && numPages === 1n && asid >= 0 && this.map.delete(ReferenceIotlb.k(asid, vmid, iova, tg, ttl))) return 1;
    const mask = ((numPages << BigInt(granule)) - 1n) & U64;
    return this.remove(
      (k, e) => (asid < 0 || asid === k.asid) && (vmid < 0 || vmid === k.vmid) && ReferenceIotlb.hits(e, iova, mask),
    );
  }
  invalidateIpa(vmid: number, ipa: bigint, tg: number, numPages: bigint, ttl: number): number {
    const granule = tg ? tg * 2 + 10 : 12;
    if (ttl && numPages === 1n && this.map.delete(ReferenceIotlb.k(-1, vmid, ipa, tg, ttl))) return 1;
    const mask = ((numPages << BigInt(granule)) - 1n) & U64;
    return this.remove((k, e) => k.asid < 0 && k.vmid === vmid && ReferenceIotlb.hits(e, ipa, mask));
  }
}

/** xorshift32, so failures replay from the seed. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  const int = (n: number) => next() % n;
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const big = (bits: number) => {
    let v = 0n;
    for (let i = 0; i < bits; i += 16) v = (v << 16n) | BigInt(next() & 0xffff);
    return v & ((1n << BigInt(bits)) - 1n);
  };
  return { int, pick, big };
}

const GRANULES: readonly GranuleShift[] = [12, 14, 16];

function runSequence(seed: number, steps: number): { ok: boolean; where: string } {
  const r = rng(seed);
  const tlb = new Iotlb();
  const ref = new ReferenceIotlb();
  const asids = [-1, 0, 1, 2, 0xffff];
  const vmids = [-1, 0, 1, 0xffff];
  // A small pool of addresses so inserts, lookups and invalidations collide often.
  const bases = [0n, 0x4000_0000n, 0x1234_5600_0000n, 0xffff_ffff_ffe0_0000n, 0x8000_0000_0000n];
  const addr = (): bigint => {
    const roll = r.int(20);
    if (roll === 0) return r.big(64);
    if (roll === 1) return U64;
    return (r.pick(bases) + (r.big(24) << BigInt(r.pick([0, 12, 12, 12, 14, 16, 21])))) & U64;
  };
  const entryFor = (iova: bigint): TlbEntry => {
    const g = r.pick(GRANULES);
    const level = r.int(12) === 0 ? r.pick([-1, 4]) : r.pick([0, 1, 2, 3, 3, 3]);
    const shift = g + (3 - level) * (g - 3);
    const mask = shift >= 0 && shift < 64 ? (1n << BigInt(shift)) - 1n : 0xfffn;
    const aligned = r.int(15) === 0 ? iova : iova & ~mask & U64; // sometimes an unaligned (odd) key
    return {
      iova: aligned,
      translatedAddr: r.big(48) & ~mask,
      addrMask: mask,
      perm: r.int(4),
      parentPerm: r.int(4),
      level,
      granuleShift: g,
    };
  };
  const sameEntries = () => {
    const a = tlb.entries();
    const b = [...ref.map.values()];
    if (a.length !== b.length) return false;
    return a.every(
      (x, i) =>
        x.entry === b[i]!.entry &&
        JSON.stringify(x.key, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v)) ===
          JSON.stringify(b[i]!.key, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v)),
    );
  };
  let lastLookup: [number, number, number, number, bigint] | undefined;
  for (let step = 0; step < steps; step++) {
    const op = r.int(100);
    let what: string;
    let got: unknown;
    let want: unknown;
    if (op < 40) {
      // Bursts of inserts so the 256-entry flush happens regularly.
      const n = r.int(4) === 0 ? 1 + r.int(60) : 1;
      for (let i = 0; i < n; i++) {
        const asid = r.pick(asids);
        const vmid = r.pick(vmids);
        const e = entryFor(addr());
        tlb.insert(asid, vmid, e);
        ref.insert(asid, vmid, e);
        // A lookup right after an insert catches a stale last-hit memo.
        const probe = (e.iova + BigInt(r.int(0x1000))) & U64;
        if (
          tlb.lookupAllLevels(asid, vmid, e.granuleShift, 16, probe) !==
          ref.lookupAllLevels(asid, vmid, e.granuleShift, 16, probe)
        ) {
          return { ok: false, where: `step ${step}: lookup after insert ${i}` };
        }
      }
      what = `insert×${n}`;
    } else if (op < 75) {
      // Half the time around a live entry (with its ASID, VMID and granule) so lookups hit.
      const live = [...ref.map.values()];
      const k = live.length > 0 && r.int(2) === 0 ? r.pick(live).key : undefined;
      const asid = k ? k.asid : r.pick(asids);
      const vmid = k ? k.vmid : r.pick(vmids);
      const g = k && r.int(4) > 0 ? k.tg * 2 + 10 : r.pick(GRANULES);
      const tsz = r.int(10) === 0 ? r.int(64) : 16 + r.int(24);
      // Repeat lookups around one address to exercise the last-hit memo.
      const base = k ? k.iova : addr();
      what = `lookup ${asid}/${vmid}/${g}/${tsz}/${base.toString(16)}`;
      for (let i = 0; i < 4; i++) {
        const iova = (base + BigInt(r.pick([0, 1, 0x800, 0x1000, 0x20_0000, 0x4000_0000]))) & U64;
        lastLookup = [asid, vmid, g, tsz, iova];
        got = tlb.lookupAllLevels(asid, vmid, g, tsz, iova);
        want = ref.lookupAllLevels(asid, vmid, g, tsz, iova);
        if (got !== want) return { ok: false, where: `step ${step}: ${what} + ${i}` };
      }
      continue;
    } else if (op < 77) {
      tlb.invalidateAll();
      ref.invalidateAll();
      what = 'all';
    } else if (op < 81) {
      const [a, v] = [r.pick(asids), r.pick(vmids)];
      got = tlb.invalidateAsidVmid(a, v);
      want = ref.invalidateAsidVmid(a, v);
      what = `asid ${a} vmid ${v}`;
    } else if (op < 84) {
      const v = r.pick(vmids);
      got = tlb.invalidateVmid(v);
      want = ref.invalidateVmid(v);
      what = `vmid ${v}`;
    } else if (op < 87) {
      const v = r.pick(vmids);
      got = tlb.invalidateVmidS1(v);
      want = ref.invalidateVmidS1(v);
      what = `vmid s1 ${v}`;
    } else if (op < 95) {
      // Often an address taken from a live entry, with its TG and level as the TTL hint.
      const live = [...ref.map.values()];
      const useLive = live.length > 0 && r.int(2) === 0;
      const k = useLive ? r.pick(live).key : undefined;
      const a = k && r.int(2) === 0 ? k.asid : r.pick(asids);
      const v = k && r.int(2) === 0 ? k.vmid : r.pick(vmids);
      const iova = k ? k.iova : addr();
      const tg = k && r.int(3) > 0 ? k.tg : r.int(4);
      const ttl = k && r.int(3) > 0 ? k.level : r.int(4);
      const pages = r.int(3) === 0 ? BigInt(1 + r.int(64)) << BigInt(r.int(4)) : 1n;
      got = tlb.invalidateIova(a, v, iova, tg, pages, ttl);
      want = ref.invalidateIova(a, v, iova, tg, pages, ttl);
      what = `iova ${a}/${v}/${iova.toString(16)} tg ${tg} pages ${pages} ttl ${ttl}`;
    } else {
      const live = [...ref.map.values()].filter((x) => x.key.asid < 0);
      const k = live.length > 0 && r.int(2) === 0 ? r.pick(live).key : undefined;
      const v = k ? k.vmid : r.pick(vmids);
      const ipa = k ? k.iova : addr();
      const tg = k && r.int(3) > 0 ? k.tg : r.int(4);
      const ttl = k && r.int(3) > 0 ? k.level : r.int(4);
      const pages = r.int(3) === 0 ? BigInt(1 + r.int(64)) << BigInt(r.int(4)) : 1n;
      got = tlb.invalidateIpa(v, ipa, tg, pages, ttl);
      want = ref.invalidateIpa(v, ipa, tg, pages, ttl);
      what = `ipa ${v}/${ipa.toString(16)} tg ${tg} pages ${pages} ttl ${ttl}`;
    }
    if (got !== want)
      return { ok: false, where: `step ${step}: ${what}: returned ${String(got)}, reference ${String(want)}` };
    // The last lookup again after every change: a stale last-hit memo would answer it wrongly.
    if (lastLookup && tlb.lookupAllLevels(...lastLookup) !== ref.lookupAllLevels(...lastLookup)) {
      return { ok: false, where: `step ${step}: ${what}: repeated lookup differs` };
    }
    if (tlb.size !== ref.map.size)
      return { ok: false, where: `step ${step}: ${what}: size ${tlb.size} vs ${ref.map.size}` };
    if (tlb.capacityFlushes !== ref.capacityFlushes)
      return { ok: false, where: `step ${step}: ${what}: capacity flushes` };
    if ((step & 7) === 0 && !sameEntries()) return { ok: false, where: `step ${step}: ${what}: entries differ` };
  }
  return sameEntries() ? { ok: true, where: '' } : { ok: false, where: 'final entries differ' };
}

t.test('bucketed IOTLB matches the reference model on random operation sequences', async (t) => {
  const seeds = Number(process.env.QTESTD_IOTLB_SEEDS ?? 60);
  let flushes = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const res = runSequence(seed * 7919, 1500);
    if (!res.ok) {
      t.fail(`seed ${seed * 7919}: ${res.where}`);
      return;
    }
    flushes++;
  }
  t.equal(flushes, seeds, `${seeds} sequences of 1500 operations agree`);
});

t.test('capacity flush, overwrite order and the last-hit memo', async (t) => {
  const tlb = new Iotlb();
  const e = (iova: bigint, level = 3, g: GranuleShift = 12): TlbEntry => {
    const shift = g + (3 - level) * (g - 3);
    return {
      iova,
      translatedAddr: 0x4000_0000n,
      addrMask: (1n << BigInt(shift)) - 1n,
      perm: 3,
      parentPerm: 3,
      level,
      granuleShift: g,
    };
  };
  const first = e(0x1000n);
  tlb.insert(1, 0, first);
  for (let i = 2; i < IOTLB_MAX_ENTRIES + 1; i++) tlb.insert(1, 0, e(BigInt(i) << 12n));
  t.equal(tlb.size, IOTLB_MAX_ENTRIES);
  const again = e(0x1000n);
  tlb.insert(1, 0, again);
  t.equal(tlb.size, 1, 'overwriting an existing key at capacity flushes first (QEMU checks the size before inserting)');
  t.equal(tlb.capacityFlushes, 1);
  tlb.invalidateAll();
  tlb.insert(1, 0, e(0x1000n));
  tlb.insert(1, 0, e(0x2000n));
  const replaced = e(0x1000n);
  tlb.insert(1, 0, replaced);
  t.same(
    tlb.entries().map((x) => x.key.iova),
    [0x1000n, 0x2000n],
    'an overwritten key keeps its place in insertion order',
  );
  t.equal(tlb.entries()[0]!.entry, replaced);

  // last-hit memo: a lookup hit, then a finer entry inserted before the hit level must win
  tlb.invalidateAll();
  const block = e(0x4000_0000n, 1);
  tlb.insert(1, 0, block);
  t.equal(tlb.lookupAllLevels(1, 0, 12, 16, 0x4000_1234n), block);
  t.equal(tlb.lookupAllLevels(1, 0, 12, 16, 0x4020_0000n), block, 'memo covers the whole block');
  const coarser = e(0n, 0);
  tlb.insert(1, 0, coarser);
  t.equal(
    tlb.lookupAllLevels(1, 0, 12, 16, 0x4000_1234n),
    coarser,
    'an insert at an earlier level invalidates the memo',
  );
  t.equal(tlb.invalidateIova(1, 0, 0n, 1, 1n, 0), 1);
  t.equal(tlb.lookupAllLevels(1, 0, 12, 16, 0x4000_1234n), block, 'a delete invalidates the memo');
  tlb.invalidateAsidVmid(1, 0);
  t.equal(tlb.lookupAllLevels(1, 0, 12, 16, 0x4000_1234n), undefined);
  t.equal(tlb.lookupAllLevels(1, 0, 12, 16, 1n << 64n), undefined, 'an out-of-range IOVA takes the generic path');
});

t.test('bookkeeping caps: thousands of ASIDs/VMIDs (bucket pruning, id reuse, plan resets)', async (t) => {
  const tlb = new Iotlb();
  const ref = new ReferenceIotlb();
  const r = rng(4242);
  let checked = 0;
  for (let round = 0; round < 3; round++) {
    for (let asid = 0; asid < 3000; asid++) {
      const vmid = (asid * 7 + round) % 5;
      const iova = (BigInt(asid) << 21n) | (BigInt(r.int(512)) << 12n);
      if (r.int(10) === 0) {
        const e: TlbEntry = {
          iova: iova & ~0xfffn,
          translatedAddr: BigInt(asid) << 12n,
          addrMask: 0xfffn,
          perm: 3,
          parentPerm: 3,
          level: 3,
          granuleShift: 12,
        };
        tlb.insert(asid, vmid, e);
        ref.insert(asid, vmid, e);
      }
      const tsz = 16 + r.int(24);
      for (const probe of [iova, (BigInt(r.int(3000)) << 21n) | 0x123n]) {
        const a = r.int(2) === 0 ? asid : r.int(3000);
        const got = tlb.lookupAllLevels(a, vmid, 12, tsz, probe);
        const want = ref.lookupAllLevels(a, vmid, 12, tsz, probe);
        if (got !== want) {
          t.fail(`round ${round} asid ${asid}: lookup ${a}/${vmid}/${tsz}/${probe.toString(16)} differs`);
          return;
        }
        checked++;
      }
      if (r.int(500) === 0) {
        t.equal(tlb.invalidateVmid(vmid), ref.invalidateVmid(vmid));
      }
    }
  }
  t.equal(tlb.size, ref.map.size);
  t.equal(tlb.capacityFlushes, ref.capacityFlushes);
  t.ok(checked > 10000, `${checked} lookups agree`);
});
