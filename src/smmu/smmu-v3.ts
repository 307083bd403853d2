/**
 * SmmuV3: the SMMUv3 device as QEMU 10.2.2 models it (hw/arm/smmuv3.c), as a front end over its
 * register banks (bank.ts): an MMIO region of 0x20000 bytes (page 1 aliases page 0) decoded to a
 * bank, and the Iommu the PCI DMA path calls once per page or chunk: SMMUEN/GBPA, config cache,
 * STE abort or bypass, S1/S2/nested translation through the IOTLB, events into the bank's event
 * queue. Composes the pure pieces of this folder. Not modelled: MSIs, PRI, ATS, stall,
 * SubstreamIDs (see docs/smmu.md#coverage).
 */
import { LimitError } from '../base/limits.js';
import type { Logger } from '../base/log.js';
import { TRACE_OFF } from '../base/trace.js';
import type { Tracer } from '../base/trace.js';
import { TRACE_IDS as T } from '../base/trace-events.js';
import type { IrqLine } from '../sim/irq.js';
import type { Iommu, IommuResult } from '../memory/dma-view.js';
import type { AccessSize, Addr, BusAccess, IoRegion, MemTxAttrs } from '../memory/types.js';
import { hex } from './bits.js';
import { newSmmuStats } from './bank.js';
import type { BankIrqs, SmmuBank, SmmuStats } from './bank.js';
import { decodeBankOffset, SEC_SID_NS, SEC_SID_S } from './bank-decode.js';
import type { SecSid } from './bank-decode.js';
import { bankQueueRegs } from './queue-peek.js';
import type { DebugQueueRegs } from './queue-peek.js';
import type { ReentryGuard } from './guarded-memory.js';
import { quirkSet } from './quirks.js';
import type { SmmuQuirks } from './quirks.js';
import type { ConfigCache } from './config-cache.js';
import type { Iotlb } from './iotlb.js';
import type { EventInfo } from './faults.js';
import { accessPerm } from './nested.js';
import { field, idrValues } from './registers.js';
import type { SmmuRegName, SmmuStageSupport } from './registers.js';
import { decodeConfig } from './translation-config.js';
import type { ConfigDecodeDeps, SmmuFeatures, TransCfg, TranslateIpa } from './translation-config.js';
import type { JsonValue } from './debug-json.js';
import { bankDebugState, debugDecodeStream, smmuDebugSnapshot, walkIpaDirect } from './debug-snapshot.js';
import { bypassResult, ipaThrough } from './world.js';
import type { World } from './world.js';
import { doTranslate } from './translation.js';
import { SmmuTrace } from './smmu-trace.js';
import { DryRunRecorder } from './dry-run.js';
import { buildWorlds } from './smmu-worlds.js';

/** The SMMU's interrupt lines: the banks' (EVTQ, CMD_SYNC, GERROR) and PRIQ (never raised). */
export interface SmmuV3Irqs extends BankIrqs {
  priq: IrqLine;
}

export interface SmmuV3Options {
  /** System memory (the Non-secure view): STE/CD/PTE fetches, queue reads, event writes. */
  memory: BusAccess;
  irqs: SmmuV3Irqs;
  log: Logger;
  /** Implemented stages (QEMU `stage` property); virt ≥ 9.2 uses 'nested'. Default 'nested'. */
  stage?: SmmuStageSupport;
  /** `secure-impl`: add the Secure programming interface (docs/secure-smmu.md). Default false. */
  secureImpl?: boolean;
  /** The Secure view of the machine (`-machine virt,secure=on`), if any. */
  secureMemory?: BusAccess;
  /** Quirk switches (secure-impl only); default all on (the series' behaviour). */
  quirks?: Partial<SmmuQuirks>;
  /** The `sec-sid` of the PCI function with this requester ID (1 = secure). Default: all 0. */
  secSidOf?: (requesterId: number) => number;
  /** Trace events (smmu_*, smmuv3_*); default: all off. */
  trace?: Tracer;
}

export class SmmuV3 implements IoRegion, Iommu {
  readonly kind = 'io' as const;
  readonly name = 'smmuv3';
  readonly size = 0x20000n;
  /** QEMU smmu_mem_ops: 4- and 8-byte accesses, aligned; 1/2-byte accesses rejected by the bus. */
  readonly valid = { minSize: 4, maxSize: 8, unaligned: false } as const;
  readonly impl = { minSize: 4, maxSize: 8, unaligned: false } as const;

  readonly stage: SmmuStageSupport;
  readonly features: SmmuFeatures;
  readonly secureImpl: boolean;
  readonly quirks: SmmuQuirks;
  /** Translations name their output view (the Secure interface is implemented). */
  readonly outputViews: boolean;
  /** The Non-secure world's caches (QEMU 10.2.2 has only these). */
  readonly configCache: ConfigCache;
  readonly iotlb: Iotlb;
  /** The Non-secure programming interface, and the Secure one with secure-impl. */
  readonly ns: SmmuBank;
  readonly s?: SmmuBank;

  private readonly log: Logger;
  private readonly trace: Tracer;
  private readonly tt: SmmuTrace;
  private readonly nsWorld: World;
  private readonly sWorld?: World;
  private readonly secureMemory?: BusAccess;
  private readonly secSidOf: (requesterId: number) => number;
  /** Re-entrancy guard (QEMU mem_reentrancy_guard): our own MMIO touched while in MMIO. */
  private mmioDepth = 0;
  private readonly guard: ReentryGuard = { blocked: false };
  private readonly stats: SmmuStats = newSmmuStats();

  /** Activity counters (translations, faults, events, commands) for metrics. */
  get counters(): Readonly<SmmuStats> {
    return this.stats;
  }

  constructor(opts: SmmuV3Options) {
    this.log = opts.log;
    this.trace = opts.trace ?? TRACE_OFF;
    this.tt = new SmmuTrace(this.trace);
    this.stage = opts.stage ?? 'nested';
    this.secureImpl = opts.secureImpl ?? false;
    this.outputViews = this.secureImpl;
    this.quirks = { ...quirkSet(this.secureImpl ? 'rfc' : 'architectural'), ...(this.secureImpl ? opts.quirks : {}) };
    this.secureMemory = opts.secureMemory;
    this.secSidOf = opts.secSidOf ?? (() => 0);
    const idr = idrValues(this.stage);
    this.features = {
      s1p: field('IDR0', 'S1P', idr.IDR0) === 1,
      s2p: field('IDR0', 'S2P', idr.IDR0) === 1,
      oasField: field('IDR5', 'OAS', idr.IDR5),
    };
    const worlds = buildWorlds({
      memory: opts.memory,
      secureMemory: opts.secureMemory,
      irqs: opts.irqs,
      log: this.log,
      trace: this.trace,
      walkTrace: opts.trace,
      stats: this.stats,
      features: this.features,
      secureImpl: this.secureImpl,
      quirks: this.quirks,
      idr: idr as Partial<Record<SmmuRegName, number>>,
      guard: this.guard,
      hasDevice: (sid) => this.tt.hasDevice(sid),
      invalidateAll: () => this.invalidateAll(),
      mmio: { enter: () => this.mmioDepth++, exit: () => this.mmioDepth-- },
    });
    this.nsWorld = worlds.ns;
    this.sWorld = worlds.s;
    this.ns = worlds.ns.bank;
    this.s = worlds.s?.bank;
    this.configCache = this.nsWorld.configCache;
    this.iotlb = this.nsWorld.iotlb;
    this.resetState();
  }

  /** Every world's configurations and IOTLB entries (reset, S_INIT.INV_ALL). */
  private invalidateAll(): void {
    for (const w of this.worlds()) {
      w.configCache.clear();
      w.iotlb.invalidateAll();
    }
  }

  private worlds(): World[] {
    return this.sWorld ? [this.nsWorld, this.sWorld] : [this.nsWorld];
  }

  /** The Secure world's caches (absent without secure-impl). */
  get secureCaches(): { configCache: ConfigCache; iotlb: Iotlb } | undefined {
    return this.sWorld;
  }

  /** Device reset (QEMU smmu_base_reset_exit + smmuv3_init_regs). */
  reset(): void {
    if (this.trace.on[T.smmu_reset_exit]) this.trace.emit(T.smmu_reset_exit);
    this.resetState();
  }

  private resetState(): void {
    this.invalidateAll();
    for (const w of this.worlds()) w.bank.reset();
  }

  // ---------------------------------------------------------------- MMIO

  private bank(sec: SecSid | undefined): SmmuBank | undefined {
    return sec === undefined ? undefined : sec === SEC_SID_S ? this.s : this.ns;
  }

  read(offset: bigint, size: AccessSize, attrs: MemTxAttrs): bigint {
    return this.access(false, offset, size, 0n, attrs);
  }

  write(offset: bigint, size: AccessSize, value: bigint, attrs: MemTxAttrs): void {
    this.access(true, offset, size, value, attrs);
  }

  /** One MMIO access, decoded to a bank, under the re-entrancy guard; an internal error reads 0. */
  private access(isWrite: boolean, offset: bigint, size: AccessSize, value: bigint, attrs: MemTxAttrs): bigint {
    if (this.mmioDepth > 0) return this.blockReentry(isWrite ? 'write' : 'read', offset);
    this.mmioDepth++;
    try {
      const d = decodeBankOffset(offset, attrs, this.secureImpl);
      let v = isWrite ? value : 0n;
      if (d && isWrite) this.bank(d.sec)!.write(d.rel, size, value);
      else if (d) v = this.bank(d.sec)!.read(d.rel, size);
      const ev = isWrite ? T.smmuv3_write_mmio : T.smmuv3_read_mmio;
      if (this.trace.on[ev]) this.trace.emit(ev, offset & ~0x10000n, v, size, 0);
      return v;
    } catch (e) {
      if (e instanceof LimitError) throw e; // the request's work budget: the session answers it
      this.log.error({ err: e }, `smmuv3: internal error in MMIO ${isWrite ? 'write' : 'read'}`);
      return 0n;
    } finally {
      this.mmioDepth--;
    }
  }

  private blockReentry(what: string, offset: bigint): bigint {
    this.guard.blocked = true;
    this.log.debug({ guestError: true }, `smmuv3: blocked re-entrant IO (${what} at ${hex(offset)})`);
    return 0n;
  }

  // ---------------------------------------------------------------- translation

  private decodeDeps(w: World, translateIpa: TranslateIpa): ConfigDecodeDeps {
    const deps: ConfigDecodeDeps = {
      features: this.features,
      strtab: w.bank.strtab(),
      read: w.structures.readBlock,
      translateIpa,
      trace: this.trace,
    };
    if (this.secureImpl)
      deps.security = { secure: w.sec === SEC_SID_S, rule: this.quirks['walk-security'] ? 'rfc' : 'architectural' };
    return deps;
  }

  /** QEMU smmuv3_get_config after a config-cache miss: decode (and cache on success). */
  private decodeAndCache(w: World, sid: number): { cfg: TransCfg } | { event: EventInfo | null } {
    const r = decodeConfig(sid, this.decodeDeps(w, w.cachedIpaTranslate));
    if (!r.ok) {
      this.log.debug({ guestError: true }, `smmuv3: config for sid ${hex(sid)}: ${r.reason}`);
      return { event: r.event };
    }
    w.configCache.insert(sid, r.cfg);
    return { cfg: r.cfg };
  }

  /**
   * SEC_SID of a transaction: Secure only for a `sec-sid=secure` function whose access has
   * space Secure (attribute-less accesses have space 0), with secure-impl.
   */
  private worldFor(requesterId: number, attrs: MemTxAttrs): World {
    const s = this.sWorld;
    return s && (attrs.space ?? 0) === 0 && this.secSidOf(requesterId) === 1 ? s : this.nsWorld;
  }

  deviceAdded(requesterId: number, devfn: number): void {
    this.tt.deviceAdded(requesterId, devfn);
  }

  translate(requesterId: number, iova: Addr, isWrite: boolean, attrs: MemTxAttrs): IommuResult {
    try {
      const w = this.worldFor(requesterId & 0xffff, attrs);
      const iova64 = BigInt.asUintN(64, iova);
      const r = this.translateOrFault(w, requesterId & 0xffff, iova64, isWrite);
      if (this.trace.any) this.tt.outcome(requesterId & 0xffff, iova64, r);
      return r;
    } catch (e) {
      if (e instanceof LimitError) throw e; // the request's work budget: the session answers it
      this.log.error({ err: e }, 'smmuv3: internal error in translate');
      return { ok: false };
    }
  }

  /** ~outMask, kept for the last address mask seen (it is the same for most translations). */
  private outMask = 0n;
  private outNotMask = -1n;

  /**
   * One transaction (QEMU smmuv3_translate). With a recorder (dry run) every side effect is
   * skipped and reported to it instead: counters, config-cache and IOTLB fills, logs, the event.
   */
  private translateOrFault(w: World, sid: number, iova: bigint, isWrite: boolean, rec?: DryRunRecorder): IommuResult {
    if (!rec) this.stats.translations++;
    const bank = w.bank;
    this.tt.status = 'error';
    if (!bank.enabled) {
      rec?.note(bank.gbpaAbort() ? 'SMMUEN = 0 and GBPA.ABORT = 1: abort' : 'SMMUEN = 0: bypass (GBPA)');
      return this.tt.set(
        bank.gbpaAbort() ? 'abort' : 'disable',
        bank.gbpaAbort() ? { ok: false } : bypassResult(w, iova),
      );
    }
    let cfg = rec ? rec.cachedConfig(w.configCache, sid) : w.configCache.lookup(sid);
    if (this.trace.any && !rec) this.tt.configLookup(w.configCache, sid, cfg !== undefined);
    let event: EventInfo | null = null;
    if (!cfg) {
      const got = rec ? this.decodeForDryRun(w, sid, rec) : this.decodeAndCache(w, sid);
      if ('cfg' in got) cfg = got.cfg;
      else event = got.event;
    }
    rec?.startTranslation();
    if (cfg) {
      if (cfg.aborted) return this.tt.set('abort', { ok: false });
      if (cfg.bypassed) return this.tt.set('bypass', bypassResult(w, iova));
      const perm = accessPerm(isWrite);
      const r = doTranslate(rec ? rec.context(w.ctx) : w.ctx, cfg, iova, perm, 'IN');
      if (r.ok) {
        const e = r.entry;
        this.tt.success(e.perm, cfg.stage);
        // The memory core refuses a translation whose permission lacks the access (no event).
        if ((e.perm & perm) === 0) {
          rec?.note('the entry lacks the access permission: refused by the memory core, no event');
          return { ok: false };
        }
        const mask = e.addrMask;
        if (mask !== this.outMask) {
          this.outMask = mask;
          this.outNotMask = ~mask;
        }
        // ((out & ~mask) | (iova & mask)) & U64_MASK with out = entryOutput(e, iova), written so
        // that V8 computes it in 64-bit integers (asUintN(64, …) of +, &, | is exact mod 2^64).
        const pa = BigInt.asUintN(64, ((e.translatedAddr + (iova & mask)) & this.outNotMask) | (iova & mask));
        if (e.secureOut === undefined) return { ok: true, pa, mask };
        // Secure output space without a Secure view: the transaction aborts.
        return this.secureMemory ? { ok: true, pa, mask, target: this.secureMemory } : { ok: false };
      }
      event = r.event;
    }
    if (!rec) this.stats.faults++;
    if (event) {
      // QEMU smmuv3_fixup_event: InputAddr of walk faults is the transaction address.
      if ('s2' in event) event = { ...event, inputAddr: iova };
      if (rec) rec.wouldRecord({ ...event, sid }, bank);
      else {
        this.log.debug(
          { guestError: true },
          `smmuv3: translation failed for sid ${hex(sid)} iova ${hex(iova)} (${event.type})`,
        );
        bank.recordEvent({ ...event, sid });
      }
    }
    return { ok: false };
  }

  /** decodeAndCache for a dry run: CD/TTB IPAs through the dry-run context, nothing cached. */
  private decodeForDryRun(w: World, sid: number, rec: DryRunRecorder): { cfg: TransCfg } | { event: EventInfo | null } {
    const r = decodeConfig(sid, this.decodeDeps(w, ipaThrough(rec.context(w.ctx))));
    rec.decoded(r);
    return r.ok ? { cfg: r.cfg } : { event: r.event };
  }

  /**
   * What translate() would do right now for this transaction, step by step, changing nothing
   * (x-qtestd-smmu-translate). Descriptor reads go through the memory view like a real walk's,
   * so only RAM-resident tables are read without side effects.
   */
  dryRunTranslate(requesterId: number, iova: bigint, isWrite: boolean, attrs: MemTxAttrs = {}): JsonValue {
    const sid = requesterId & 0xffff;
    const a = BigInt.asUintN(64, iova);
    const w = this.worldFor(sid, attrs);
    const rec = new DryRunRecorder({ sid, iova: a, access: isWrite ? 'write' : 'read' });
    const r = this.translateOrFault(w, sid, a, isWrite, rec);
    return rec.toJson(w.sec === SEC_SID_S ? 'secure' : 'non-secure', w.bank.enabled, {
      ok: r.ok,
      ...(r.ok ? { pa: r.pa, mask: r.mask, secure: r.target !== undefined && r.target === this.secureMemory } : {}),
    });
  }

  // ---------------------------------------------------------------- introspection

  /** Everything observable about the SMMU as plain JSON (bigints as hex strings). */
  debugSnapshot(): JsonValue {
    const sw = this.sWorld;
    return smmuDebugSnapshot({
      stage: this.stage,
      ...bankDebugState(this.ns, this.configCache, this.iotlb),
      stats: { ...this.stats },
      ...(sw ? { secure: bankDebugState(sw.bank, sw.configCache, sw.iotlb) } : {}),
    });
  }

  /** A bank's queue registers and the view its queues live in (x-qtestd-smmu-queues); reads nothing. */
  debugQueueRegs(secSid: SecSid): DebugQueueRegs | undefined {
    const bank = secSid === SEC_SID_S ? this.s : this.ns;
    if (!bank) return undefined;
    return bankQueueRegs(bank, secSid === SEC_SID_S && !this.quirks['queues-ns-memory'] ? 'secure' : 'non-secure');
  }

  /**
   * Decode the STE (and CD) for a StreamID as a translation would, without recording events,
   * filling or counting caches (nested IPAs are walked directly, not through the IOTLB). Memory is
   * read through the system address space, so only RAM-resident structures are side-effect free.
   */
  decodeStreamForDebug(sid: number, secSid: SecSid = SEC_SID_NS): JsonValue {
    const w = secSid === SEC_SID_S && this.sWorld ? this.sWorld : this.nsWorld;
    return debugDecodeStream(w, sid & 0xffff, this.decodeDeps(w, walkIpaDirect(w)));
  }
}

export type { JsonValue as SmmuDebugJson };
