/**
 * SmmuV3: the SMMUv3 device as QEMU 10.2.2 models it (hw/arm/smmuv3.c), as a front end over its
 * register banks (bank.ts): an MMIO region of 0x20000 bytes (page 1 aliases page 0) decoded to a
 * bank, and the Iommu the PCI DMA path calls once per page or chunk: SMMUEN/GBPA, config cache,
 * STE abort or bypass, S1/S2/nested translation through the IOTLB, events into the bank's event
 * queue. Composes the pure pieces of this folder. Not modelled: MSIs, PRI, ATS, stall,
 * SubstreamIDs (see docs/smmu.md#coverage).
 */
import type { Logger } from '../base/log.js';
import type { IrqLine } from '../sim/irq.js';
import type { Iommu, IommuResult } from '../memory/dma-view.js';
import type { AccessSize, Addr, BusAccess, IoRegion, MemTxAttrs } from '../memory/types.js';
import { hex, U64_MASK } from './bits.js';
import { SmmuBank, SEC_SID_NS } from './bank.js';
import type { BankMemory, SmmuStats } from './bank.js';
import { ConfigCache } from './config-cache.js';
import { Iotlb } from './iotlb.js';
import type { CommandTarget } from './command-queue.js';
import { PERM } from './faults.js';
import type { EventInfo } from './faults.js';
import { accessPerm, entryOutput, walkForStage } from './nested.js';
import { CR0_RESERVED, field, idrValues } from './registers.js';
import type { SmmuRegName, SmmuStageSupport } from './registers.js';
import { decodeConfig } from './translation-config.js';
import type { ConfigDecodeDeps, SmmuFeatures, TransCfg, TranslateIpa } from './translation-config.js';
import type { JsonValue } from './debug-json.js';
import { smmuDebugSnapshot, streamDecodeJson } from './debug-snapshot.js';
import type { SmmuBankDebugState } from './debug-snapshot.js';
import { doTranslate } from './translation.js';
import type { TranslationContext } from './translation.js';

export interface SmmuV3Irqs {
  eventq: IrqLine;
  priq: IrqLine;
  cmdSync: IrqLine;
  gerror: IrqLine;
}

export interface SmmuV3Options {
  /** System memory: STE/CD/PTE fetches, queue reads, event writes. */
  memory: BusAccess;
  irqs: SmmuV3Irqs;
  log: Logger;
  /** Implemented stages (QEMU `stage` property); virt ≥ 9.2 uses 'nested'. Default 'nested'. */
  stage?: SmmuStageSupport;
}

/** Bypass/disabled translations cover one target page (QEMU ~TARGET_PAGE_MASK, 4 KiB). */
const TARGET_PAGE_MASK = 0xfffn;

export class SmmuV3 implements IoRegion, Iommu {
  readonly kind = 'io' as const;
  readonly name = 'smmuv3';
  readonly size = 0x20000n;
  /** QEMU smmu_mem_ops: 4- and 8-byte accesses, aligned; 1/2-byte accesses rejected by the bus. */
  readonly valid = { minSize: 4, maxSize: 8, unaligned: false } as const;
  readonly impl = { minSize: 4, maxSize: 8, unaligned: false } as const;

  readonly stage: SmmuStageSupport;
  readonly features: SmmuFeatures;
  readonly configCache = new ConfigCache();
  readonly iotlb = new Iotlb();
  /** The Non-secure programming interface. */
  readonly ns: SmmuBank;

  private readonly memory: BusAccess;
  private readonly irqs: SmmuV3Irqs;
  private readonly log: Logger;
  /** Re-entrancy guard (QEMU mem_reentrancy_guard): our own MMIO touched while in MMIO. */
  private mmioDepth = 0;
  private reentryBlocked = false;
  private readonly stats: SmmuStats = {
    translations: 0,
    faults: 0,
    eventsRecorded: 0,
    eventsDropped: 0,
    eventqAborts: 0,
    commandsExecuted: 0,
    commandErrors: 0,
  };

  /** Activity counters (translations, faults, events, commands) for metrics. */
  get counters(): Readonly<SmmuStats> {
    return this.stats;
  }

  constructor(opts: SmmuV3Options) {
    this.memory = opts.memory;
    this.irqs = opts.irqs;
    this.log = opts.log;
    this.stage = opts.stage ?? 'nested';
    const idr = idrValues(this.stage);
    this.features = {
      s1p: field('IDR0', 'S1P', idr.IDR0) === 1,
      s2p: field('IDR0', 'S2P', idr.IDR0) === 1,
      oasField: field('IDR5', 'OAS', idr.IDR5),
    };
    const commands: CommandTarget = {
      s1p: this.features.s1p,
      s2p: this.features.s2p,
      configCache: this.configCache,
      iotlb: this.iotlb,
      signalSync: () => this.irqs.cmdSync.pulse(),
      unhandled: (name) => this.log.debug({ unimp: true }, `smmuv3: unhandled command ${name}`),
    };
    this.ns = new SmmuBank({
      sec: SEC_SID_NS,
      idr: idr as Partial<Record<SmmuRegName, number>>,
      rules: { cr0AckReserved: CR0_RESERVED, accessChecks: false, init: false },
      memory: this.bankMemory,
      irqs: this.irqs,
      log: this.log,
      stats: this.stats,
      commands,
    });
    this.reset();
  }

  /** Device reset (QEMU smmu_base_reset_exit + smmuv3_init_regs). */
  reset(): void {
    this.configCache.clear();
    this.iotlb.invalidateAll();
    this.ns.reset();
  }

  // ---------------------------------------------------------------- MMIO

  read(offset: bigint, size: AccessSize, _attrs: MemTxAttrs): bigint {
    if (this.mmioDepth > 0) return this.blockReentry('read', offset);
    this.mmioDepth++;
    try {
      return this.ns.read(offset & 0xffffn, size);
    } catch (e) {
      this.log.error({ err: e }, 'smmuv3: internal error in MMIO read');
      return 0n;
    } finally {
      this.mmioDepth--;
    }
  }

  write(offset: bigint, size: AccessSize, value: bigint, _attrs: MemTxAttrs): void {
    if (this.mmioDepth > 0) {
      this.blockReentry('write', offset);
      return;
    }
    this.mmioDepth++;
    try {
      this.ns.write(offset & 0xffffn, size, value);
    } catch (e) {
      this.log.error({ err: e }, 'smmuv3: internal error in MMIO write');
    } finally {
      this.mmioDepth--;
    }
  }

  private blockReentry(what: string, offset: bigint): bigint {
    this.reentryBlocked = true;
    this.log.warn({ guestError: true }, `smmuv3: blocked re-entrant IO (${what} at ${hex(offset)})`);
    return 0n;
  }

  // ---------------------------------------------------------------- memory access

  /** Read through system memory; null if any part failed or hit our own MMIO re-entrantly. */
  private readonly readBlock = (pa: bigint, length: number): Uint8Array | null => {
    const buf = new Uint8Array(length);
    const before = this.reentryBlocked;
    this.reentryBlocked = false;
    const r = this.memory.readBytes(pa & U64_MASK, buf);
    const blocked = this.reentryBlocked;
    this.reentryBlocked = before;
    return r === 'ok' && !blocked ? buf : null;
  };

  private readonly readDescriptor = (pa: bigint): bigint | null => {
    // Plain RAM (the usual case): no buffer, no dispatch; anything else takes readBlock's path.
    const fast = this.memory.readU64LE?.(BigInt.asUintN(64, pa));
    if (fast !== undefined) return fast;
    const b = this.readBlock(pa, 8);
    if (!b) return null;
    let v = 0n;
    for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    return v;
  };

  private readonly writeBlock = {
    writeBytes: (addr: Addr, data: Uint8Array) => {
      const before = this.reentryBlocked;
      this.reentryBlocked = false;
      const r = this.memory.writeBytes(addr & U64_MASK, data);
      const blocked = this.reentryBlocked;
      this.reentryBlocked = before;
      return blocked ? ('error' as const) : r;
    },
    readBytes: (addr: Addr, out: Uint8Array) => this.memory.readBytes(addr, out),
  };

  /** Queue DMA of the banks. */
  private readonly bankMemory: BankMemory = { read: this.readBlock, write: this.writeBlock };

  // ---------------------------------------------------------------- translation

  private readonly ctx: TranslationContext = { iotlb: this.iotlb, read: this.readDescriptor };

  private decodeDeps(translateIpa: TranslateIpa): ConfigDecodeDeps {
    return { features: this.features, strtab: this.ns.strtab(), read: this.readBlock, translateIpa };
  }

  /** Nested CD/TTB IPAs through stage 2 with the IOTLB, as QEMU does during decode. */
  private readonly cachedIpaTranslate: TranslateIpa = (cfg, ipa, cls) => {
    const r = doTranslate(this.ctx, cfg, ipa, PERM.RO, cls);
    return r.ok ? { ok: true, pa: entryOutput(r.entry, ipa) } : { ok: false, event: r.event };
  };

  /** QEMU smmuv3_get_config after a config-cache miss: decode (and cache on success). */
  private decodeAndCache(sid: number): { cfg: TransCfg } | { event: EventInfo | null } {
    const r = decodeConfig(sid, this.decodeDeps(this.cachedIpaTranslate));
    if (!r.ok) {
      this.log.warn({ guestError: true }, `smmuv3: config for sid ${hex(sid)}: ${r.reason}`);
      return { event: r.event };
    }
    this.configCache.insert(sid, r.cfg);
    return { cfg: r.cfg };
  }

  translate(requesterId: number, iova: Addr, isWrite: boolean, _attrs: MemTxAttrs): IommuResult {
    try {
      return this.translateOrFault(requesterId & 0xffff, BigInt.asUintN(64, iova), isWrite);
    } catch (e) {
      this.log.error({ err: e }, 'smmuv3: internal error in translate');
      return { ok: false };
    }
  }

  /** ~outMask, kept for the last address mask seen (it is the same for most translations). */
  private outMask = 0n;
  private outNotMask = -1n;

  private translateOrFault(sid: number, iova: bigint, isWrite: boolean): IommuResult {
    this.stats.translations++;
    const bank = this.ns;
    if (!bank.enabled) {
      return bank.gbpaAbort() ? { ok: false } : { ok: true, pa: iova, mask: TARGET_PAGE_MASK };
    }
    let cfg = this.configCache.lookup(sid);
    let event: EventInfo | null = null;
    if (!cfg) {
      const got = this.decodeAndCache(sid);
      if ('cfg' in got) cfg = got.cfg;
      else event = got.event;
    }
    if (cfg) {
      if (cfg.aborted) return { ok: false };
      if (cfg.bypassed) return { ok: true, pa: iova, mask: TARGET_PAGE_MASK };
      const perm = accessPerm(isWrite);
      const r = doTranslate(this.ctx, cfg, iova, perm, 'IN');
      if (r.ok) {
        const e = r.entry;
        // The memory core refuses a translation whose permission lacks the access (no event).
        if ((e.perm & perm) === 0) return { ok: false };
        const mask = e.addrMask;
        if (mask !== this.outMask) {
          this.outMask = mask;
          this.outNotMask = ~mask;
        }
        // ((out & ~mask) | (iova & mask)) & U64_MASK with out = entryOutput(e, iova), written so
        // that V8 computes it in 64-bit integers (asUintN(64, …) of +, &, | is exact mod 2^64).
        return {
          ok: true,
          pa: BigInt.asUintN(64, ((e.translatedAddr + (iova & mask)) & this.outNotMask) | (iova & mask)),
          mask,
        };
      }
      event = r.event;
    }
    this.stats.faults++;
    if (event) {
      // QEMU smmuv3_fixup_event: InputAddr of walk faults is the transaction address.
      if ('s2' in event) event = { ...event, inputAddr: iova };
      this.log.warn(
        { guestError: true },
        `smmuv3: translation failed for sid ${hex(sid)} iova ${hex(iova)} (${event.type})`,
      );
      bank.recordEvent({ ...event, sid });
    }
    return { ok: false };
  }

  // ---------------------------------------------------------------- introspection

  /** Everything observable about the SMMU as plain JSON (bigints as hex strings). */
  debugSnapshot(): JsonValue {
    return smmuDebugSnapshot({
      stage: this.stage,
      ...bankDebugState(this.ns, this.configCache, this.iotlb),
      stats: { ...this.stats },
    });
  }

  /**
   * Decode the STE (and CD) for a StreamID as a translation would, without recording events,
   * filling or counting caches (nested IPAs are walked directly, not through the IOTLB). Memory is
   * read through the system address space, so only RAM-resident structures are side-effect free.
   */
  decodeStreamForDebug(sid: number): JsonValue {
    const walkIpa: TranslateIpa = (cfg, ipa) => {
      const r = walkForStage('s2', cfg, ipa, PERM.RO, this.readDescriptor);
      return r.ok ? { ok: true, pa: entryOutput(r.entry, ipa) } : { ok: false, event: null };
    };
    const s = sid & 0xffff;
    const r = decodeConfig(s, this.decodeDeps(walkIpa));
    return streamDecodeJson(
      s,
      this.ns.cr0('SMMUEN'),
      this.ns.strtab(),
      r,
      this.configCache.entries().some(([k]) => k === s),
    );
  }
}

function bankDebugState(bank: SmmuBank, configCache: ConfigCache, iotlb: Iotlb): SmmuBankDebugState {
  return {
    regs: bank.registerValues() as Record<SmmuRegName, bigint>,
    cmdqLog2size: bank.cmdqLog2size,
    eventqLog2size: bank.eventqLog2size,
    strtab: bank.strtab(),
    configCache,
    iotlb,
    recent: bank.recent,
  };
}

export type { JsonValue as SmmuDebugJson };
