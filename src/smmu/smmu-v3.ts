// Over 400 lines: registers/banks stay in one class until the Secure SMMU work rebuilds them (debug views are in debug-snapshot.ts).
/**
 * SmmuV3: the SMMUv3 device as QEMU 10.2.2 models it (hw/arm/smmuv3.c). An MMIO region of
 * 0x20000 bytes (page 1 aliases page 0) whose register writes drive the command queue, and the
 * Iommu the PCI DMA path calls once per page or chunk: SMMUEN/GBPA, config cache, STE abort or
 * bypass, S1/S2/nested translation through the IOTLB, events into the event queue, GERROR and
 * the four pulsed IRQ lines. Composes the pure pieces of this folder; owns only register state.
 * Not modelled: MSIs, PRI, ATS, stall, secure state, SubstreamIDs (see docs/smmu.md#coverage).
 */
import type { Logger } from '../base/log.js';
import type { IrqLine } from '../sim/irq.js';
import type { Iommu, IommuResult } from '../memory/dma-view.js';
import type { AccessSize, Addr, BusAccess, IoRegion, MemTxAttrs } from '../memory/types.js';
import { deposit64, hex, U64_MASK } from './bits.js';
import { ConfigCache } from './config-cache.js';
import { Iotlb } from './iotlb.js';
import { CERROR, consumeCommands } from './command-queue.js';
import type { CommandTarget } from './command-queue.js';
import { encodeEventRecord, writeEvent } from './event-queue.js';
import { PERM } from './faults.js';
import type { EventInfo, SmmuEvent } from './faults.js';
import { accessPerm, entryOutput, walkForStage } from './nested.js';
import { queueLog2Size, SMMU_CMDQS, SMMU_EVENTQS } from './queue-index.js';
import { CR0_RESERVED, decodeAccess, field, idrValues, SMMU_REGISTERS } from './registers.js';
import type { SmmuRegName, SmmuStageSupport } from './registers.js';
import type { StreamTableConfig } from './stream-table.js';
import { decodeConfig } from './translation-config.js';
import type { ConfigDecodeDeps, SmmuFeatures, TransCfg, TranslateIpa } from './translation-config.js';
import type { JsonValue } from './debug-json.js';
import { smmuDebugSnapshot, streamDecodeJson } from './debug-snapshot.js';
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
const GBPA_UPDATE = 0x8000_0000n;
const GERROR_CMDQ_ERR = 1 << 0;
const GERROR_EVENTQ_ABT_ERR = 1 << 2;
const RECENT_EVENTS = 16;

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

  private readonly memory: BusAccess;
  private readonly irqs: SmmuV3Irqs;
  private readonly log: Logger;
  private readonly regs = {} as Record<SmmuRegName, bigint>;
  /** Effective queue sizes: set by *_BASE writes only, never by reset (QEMU). */
  private cmdqLog2size = 0;
  private eventqLog2size = 0;
  /** STRTAB_BASE_CFG.FMT = 1 seen since reset (sticky) and the SPLIT latched then. */
  private twoLevel = false;
  private sidSplit = 0;
  /** Re-entrancy guard (QEMU mem_reentrancy_guard): our own MMIO touched while in MMIO. */
  private mmioDepth = 0;
  private reentryBlocked = false;
  /** CR0.SMMUEN, kept in step with regs.CR0 (written only by reset() and the CR0 hook). */
  private smmuEnabled = false;
  private readonly stats = {
    translations: 0,
    faults: 0,
    eventsRecorded: 0,
    eventsDropped: 0,
    eventqAborts: 0,
    commandsExecuted: 0,
    commandErrors: 0,
  };
  private readonly recent: SmmuEvent[] = [];

  /** Activity counters (translations, faults, events, commands) for metrics. */
  get counters(): Readonly<SmmuV3['stats']> {
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
    for (const name of Object.keys(SMMU_REGISTERS) as SmmuRegName[]) this.regs[name] = 0n;
    for (const [name, v] of Object.entries(idr)) this.regs[name as SmmuRegName] = BigInt(v);
    this.reset();
  }

  /** Device reset (QEMU smmu_base_reset_exit + smmuv3_init_regs). */
  reset(): void {
    this.configCache.clear();
    this.iotlb.invalidateAll();
    for (const [name, spec] of Object.entries(SMMU_REGISTERS) as Array<
      [SmmuRegName, (typeof SMMU_REGISTERS)[SmmuRegName]]
    >) {
      if (spec.reset !== 'keep') this.regs[name] = spec.reset;
    }
    this.regs.CMDQ_BASE = deposit64(this.regs.CMDQ_BASE, 0, 5, BigInt(SMMU_CMDQS));
    this.regs.EVENTQ_BASE = deposit64(this.regs.EVENTQ_BASE, 0, 5, BigInt(SMMU_EVENTQS));
    this.twoLevel = false;
    this.sidSplit = 0;
    this.smmuEnabled = this.cr0('SMMUEN');
  }

  // ---------------------------------------------------------------- MMIO

  read(offset: bigint, size: AccessSize, _attrs: MemTxAttrs): bigint {
    if (this.mmioDepth > 0) return this.blockReentry('read', offset);
    this.mmioDepth++;
    try {
      return this.readRegister(offset, size);
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
      this.writeRegister(offset, size, value);
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

  private readRegister(offset: bigint, size: number): bigint {
    const hit = decodeAccess(offset, size, false);
    if (hit.kind === 'id') return BigInt(hit.value);
    if (hit.kind === 'none') {
      this.log.debug({ unimp: true }, `smmuv3: ${size * 8}-bit read of ${hex(offset)} (RAZ)`);
      return 0n;
    }
    if (hit.spec.access === 'wo') return 0n;
    const stored = hit.name === 'IRQ_CTRLACK' ? this.regs.IRQ_CTRL : this.regs[hit.name];
    if (hit.part === 'lo') return stored & 0xffff_ffffn;
    if (hit.part === 'hi') return (stored >> 32n) & 0xffff_ffffn;
    return stored;
  }

  private writeRegister(offset: bigint, size: number, value: bigint): void {
    const hit = decodeAccess(offset, size, true);
    if (hit.kind !== 'reg') {
      this.log.debug({ unimp: true }, `smmuv3: ${size * 8}-bit write of ${hex(value)} to ${hex(offset)} (WI)`);
      return;
    }
    if (hit.spec.access === 'ro') return;
    const prev = this.regs[hit.name];
    const v = value & (size === 8 ? U64_MASK : 0xffff_ffffn);
    const next = hit.part === 'full' ? v : hit.part === 'lo' ? deposit64(prev, 0, 32, v) : deposit64(prev, 32, 32, v);
    const hook = this.writeHooks[hit.name];
    if (hook) hook(next, hit.part);
    else this.regs[hit.name] = next;
  }

  /** Register write behaviour beyond "store the value" (QEMU smmu_writel/smmu_writell). */
  private readonly writeHooks: Partial<Record<SmmuRegName, (next: bigint, part: 'full' | 'lo' | 'hi') => void>> = {
    CR0: (next) => {
      this.regs.CR0 = next;
      this.smmuEnabled = this.cr0('SMMUEN');
      this.regs.CR0ACK = next & ~BigInt(CR0_RESERVED) & 0xffff_ffffn;
      this.processCommandQueue();
    },
    GERRORN: (next) => {
      const pending = Number(this.regs.GERROR ^ this.regs.GERRORN);
      const toggled = Number(this.regs.GERRORN ^ next);
      if (toggled & ~pending)
        this.log.warn({ guestError: true }, `smmuv3: guest toggles non pending errors ${hex(toggled & ~pending)}`);
      this.regs.GERRORN = next;
      this.processCommandQueue();
    },
    GBPA: (next) => {
      if (next & GBPA_UPDATE) this.regs.GBPA = next & ~GBPA_UPDATE;
    },
    STRTAB_BASE_CFG: (next) => {
      this.regs.STRTAB_BASE_CFG = next;
      const n = Number(next);
      if (field('STRTAB_BASE_CFG', 'FMT', n) === 1) {
        this.sidSplit = field('STRTAB_BASE_CFG', 'SPLIT', n);
        this.twoLevel = true;
      }
    },
    CMDQ_BASE: (next, part) => {
      this.regs.CMDQ_BASE = next;
      if (part !== 'hi') this.cmdqLog2size = queueLog2Size(next, SMMU_CMDQS);
    },
    EVENTQ_BASE: (next, part) => {
      this.regs.EVENTQ_BASE = next;
      if (part !== 'hi') this.eventqLog2size = queueLog2Size(next, SMMU_EVENTQS);
    },
    CMDQ_PROD: (next) => {
      this.regs.CMDQ_PROD = next;
      this.processCommandQueue();
    },
  };

  private cr0(name: 'SMMUEN' | 'EVENTQEN' | 'CMDQEN'): boolean {
    return field('CR0', name, Number(this.regs.CR0)) === 1;
  }

  private irqEnabled(name: 'GERROR_IRQEN' | 'EVENTQ_IRQEN'): boolean {
    return field('IRQ_CTRL', name, Number(this.regs.IRQ_CTRL)) === 1;
  }

  /** Toggle the GERROR bits in `mask` that are not already pending; pulse if enabled. */
  private raiseGerror(mask: number): void {
    const pending = Number(this.regs.GERROR ^ this.regs.GERRORN);
    const fresh = ~pending & mask;
    if (!fresh) return;
    this.regs.GERROR ^= BigInt(fresh);
    if (this.irqEnabled('GERROR_IRQEN')) this.irqs.gerror.pulse();
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

  // ---------------------------------------------------------------- command queue

  private readonly commandTarget: CommandTarget = {
    s1p: false,
    s2p: false,
    configCache: this.configCache,
    iotlb: this.iotlb,
    signalSync: () => this.irqs.cmdSync.pulse(),
    unhandled: (name) => this.log.debug({ unimp: true }, `smmuv3: unhandled command ${name}`),
  };

  /** QEMU smmuv3_cmdq_consume, run after CR0, GERRORN and CMDQ_PROD writes. */
  private processCommandQueue(): void {
    if (!this.cr0('CMDQEN')) return;
    this.commandTarget.s1p = this.features.s1p;
    this.commandTarget.s2p = this.features.s2p;
    const q = {
      base: this.regs.CMDQ_BASE,
      prod: Number(this.regs.CMDQ_PROD),
      cons: Number(this.regs.CMDQ_CONS),
      log2size: this.cmdqLog2size,
    };
    const result = consumeCommands(q, {
      read: this.readBlock,
      cmdqErrorPending: () => (Number(this.regs.GERROR ^ this.regs.GERRORN) & GERROR_CMDQ_ERR) !== 0,
      target: this.commandTarget,
    });
    this.regs.CMDQ_CONS = BigInt(q.cons);
    this.stats.commandsExecuted += result.executed;
    if (result.error !== CERROR.NONE) {
      this.stats.commandErrors++;
      if (result.error === CERROR.ILL)
        this.log.warn({ guestError: true }, `smmuv3: illegal command type ${result.failedOpcode}`);
      this.regs.CMDQ_CONS = deposit64(this.regs.CMDQ_CONS, 24, 7, BigInt(result.error));
      this.raiseGerror(GERROR_CMDQ_ERR);
    }
  }

  // ---------------------------------------------------------------- events

  /** QEMU smmuv3_record_event: drop if EVENTQEN = 0, else write; full or failed write → EVENTQ_ABT_ERR. */
  private recordEvent(ev: SmmuEvent): void {
    if (!this.cr0('EVENTQEN')) {
      this.stats.eventsDropped++;
      return;
    }
    this.recent.push(ev);
    if (this.recent.length > RECENT_EVENTS) this.recent.shift();
    const q = {
      base: this.regs.EVENTQ_BASE,
      prod: Number(this.regs.EVENTQ_PROD),
      cons: Number(this.regs.EVENTQ_CONS),
      log2size: this.eventqLog2size,
    };
    const out = writeEvent(q, this.writeBlock, encodeEventRecord(ev));
    if (out.kind === 'written') {
      this.regs.EVENTQ_PROD = BigInt(q.prod);
      this.stats.eventsRecorded++;
      if (out.irq && this.irqEnabled('EVENTQ_IRQEN')) this.irqs.eventq.pulse();
      return;
    }
    this.stats.eventqAborts++;
    this.raiseGerror(GERROR_EVENTQ_ABT_ERR);
  }

  // ---------------------------------------------------------------- translation

  private strtab(): StreamTableConfig {
    return {
      base: this.regs.STRTAB_BASE,
      log2size: field('STRTAB_BASE_CFG', 'LOG2SIZE', Number(this.regs.STRTAB_BASE_CFG)),
      twoLevel: this.twoLevel,
      split: this.sidSplit,
    };
  }

  private readonly ctx: TranslationContext = { iotlb: this.iotlb, read: this.readDescriptor };

  private decodeDeps(translateIpa: TranslateIpa): ConfigDecodeDeps {
    return { features: this.features, strtab: this.strtab(), read: this.readBlock, translateIpa };
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
    if (!this.smmuEnabled) {
      return field('GBPA', 'ABORT', Number(this.regs.GBPA))
        ? { ok: false }
        : { ok: true, pa: iova, mask: TARGET_PAGE_MASK };
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
      this.recordEvent({ ...event, sid });
    }
    return { ok: false };
  }

  // ---------------------------------------------------------------- introspection

  /** Everything observable about the SMMU as plain JSON (bigints as hex strings). */
  debugSnapshot(): JsonValue {
    return smmuDebugSnapshot({
      stage: this.stage,
      regs: this.regs,
      cmdqLog2size: this.cmdqLog2size,
      eventqLog2size: this.eventqLog2size,
      strtab: this.strtab(),
      configCache: this.configCache,
      iotlb: this.iotlb,
      stats: this.stats,
      recent: this.recent,
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
      this.cr0('SMMUEN'),
      this.strtab(),
      r,
      this.configCache.entries().some(([k]) => k === s),
    );
  }
}

export type { JsonValue as SmmuDebugJson };
