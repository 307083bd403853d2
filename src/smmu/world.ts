/**
 * One security state of the SMMU (a "world", RFC SEC_SID): its bank, its own config cache and
 * IOTLB (so a Secure entry never serves a Non-secure lookup), how it reads its STE/CD/L1STD and
 * walks, and where its bypass output goes. Built by smmu-v3.ts, one per implemented bank.
 */
import type { IommuResult } from '../memory/dma-view.js';
import type { BusAccess } from '../memory/types.js';
import type { SmmuBank } from './bank.js';
import type { SecSid } from './bank-decode.js';
import type { ConfigCache } from './config-cache.js';
import type { GuardedMemory } from './guarded-memory.js';
import type { Iotlb } from './iotlb.js';
import { PERM } from './faults.js';
import { entryOutput } from './nested.js';
import type { ReadDescriptor } from './page-table-walk.js';
import type { TranslateIpa } from './translation-config.js';
import { doTranslate } from './translation.js';
import type { TranslationContext } from './translation.js';

/** One security state: its bank, its caches and how it reads its structures. */
export interface World {
  readonly sec: SecSid;
  readonly bank: SmmuBank;
  readonly configCache: ConfigCache;
  readonly iotlb: Iotlb;
  readonly ctx: TranslationContext;
  /** STE, CD and L1STD fetches. */
  readonly structures: GuardedMemory;
  /** Where bypass output goes (undefined: the Non-secure view). */
  readonly bypassTarget?: BusAccess;
  readonly cachedIpaTranslate: TranslateIpa;
}

export function makeWorld(
  sec: SecSid,
  bank: SmmuBank,
  caches: { configCache: ConfigCache; iotlb: Iotlb },
  walkRead: ReadDescriptor,
  structures: GuardedMemory,
  bypassTarget?: BusAccess,
): World {
  const { configCache, iotlb } = caches;
  const ctx: TranslationContext = { iotlb, read: walkRead };
  return { sec, bank, configCache, iotlb, ctx, structures, bypassTarget, cachedIpaTranslate: ipaThrough(ctx) };
}

/** Nested CD/TTB IPAs through stage 2 in a translation context (its IOTLB), as QEMU does during decode. */
export function ipaThrough(ctx: TranslationContext): TranslateIpa {
  return (cfg, ipa, cls) => {
    const r = doTranslate(ctx, cfg, ipa, PERM.RO, cls);
    return r.ok ? { ok: true, pa: entryOutput(r.entry, ipa) } : { ok: false, event: r.event };
  };
}

/** Bypass/disabled translations cover one target page (QEMU ~TARGET_PAGE_MASK, 4 KiB). */
const TARGET_PAGE_MASK = 0xfffn;

/** A bypassed transaction (SMMUEN = 0 with GBPA bypass, or an STE in bypass) in world `w`. */
export function bypassResult(w: World, iova: bigint): IommuResult {
  return w.bypassTarget
    ? { ok: true, pa: iova, mask: TARGET_PAGE_MASK, target: w.bypassTarget }
    : { ok: true, pa: iova, mask: TARGET_PAGE_MASK };
}
