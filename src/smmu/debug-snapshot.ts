/**
 * The x-qtestd-* introspection views of an SmmuV3, built from a read-only view of its state: the
 * whole-device snapshot (registers, queues, caches, counters, recent events) and the result of a
 * debug decode of one StreamID. Plain JSON (bigints as hex strings); changes nothing.
 */
import { extract64, hex } from './bits.js';
import type { ConfigCache } from './config-cache.js';
import type { SmmuBank } from './bank.js';
import { describeConfig, describeTrace, permName, toJson } from './debug-json.js';
import type { JsonValue } from './debug-json.js';
import { EVENT_TYPES } from './faults.js';
import type { SmmuEvent } from './faults.js';
import { IOTLB_MAX_ENTRIES } from './iotlb.js';
import type { Iotlb } from './iotlb.js';
import { isEmpty, isFull, occupancy, queueIndex, queueWrap } from './queue-index.js';
import { field } from './registers.js';
import type { SmmuRegName, SmmuStageSupport } from './registers.js';
import { SMMU_BASE_ADDR_MASK } from './stream-table.js';
import type { StreamTableConfig } from './stream-table.js';
import { decodeConfig } from './translation-config.js';
import type { ConfigDecodeDeps, ConfigDecodeResult, TranslateIpa } from './translation-config.js';
import { PERM } from './faults.js';
import { entryOutput, walkForStage } from './nested.js';
import type { World } from './world.js';

/** What the snapshot reads of one bank and its world's caches (their own fields, not copies). */
export interface SmmuBankDebugState {
  regs: Readonly<Record<SmmuRegName, bigint>>;
  cmdqLog2size: number;
  eventqLog2size: number;
  strtab: StreamTableConfig;
  configCache: ConfigCache;
  iotlb: Iotlb;
  recent: readonly SmmuEvent[];
}

/** What the snapshot reads of an SmmuV3: the Non-secure bank, and the Secure one when implemented. */
export interface SmmuDebugState extends SmmuBankDebugState {
  stage: SmmuStageSupport;
  stats: Readonly<Record<string, number>>;
  secure?: SmmuBankDebugState;
}

const streamTableJson = (st: StreamTableConfig) => ({
  baseAddr: st.base & SMMU_BASE_ADDR_MASK,
  log2size: st.log2size,
  format: st.twoLevel ? '2-level' : 'linear',
  split: st.split,
});

function queueJson(base: bigint, prod: number, cons: number, log2size: number, entryBytes: number) {
  return {
    baseAddr: hex(base & SMMU_BASE_ADDR_MASK),
    log2size,
    entryBytes,
    prod: hex(prod),
    cons: hex(cons),
    prodIndex: queueIndex(prod, log2size),
    prodWrap: queueWrap(prod, log2size),
    consIndex: queueIndex(cons, log2size),
    consWrap: queueWrap(cons, log2size),
    entries: occupancy(prod, cons, log2size),
    empty: isEmpty(prod, cons, log2size),
    full: isFull(prod, cons, log2size),
  };
}

/** One bank: registers, state, queues, its world's caches and recent events. */
function bankJson(s: SmmuBankDebugState) {
  const { regs, configCache, iotlb } = s;
  const cr0 = (name: 'SMMUEN' | 'EVENTQEN' | 'CMDQEN') => field('CR0', name, Number(regs.CR0)) === 1;
  const registers: Record<string, string> = {};
  for (const [name, v] of Object.entries(regs)) registers[name] = hex(v);
  const cfgCounters = new Map(configCache.counterEntries());
  return {
    registers,
    state: {
      smmuEnabled: cr0('SMMUEN'),
      eventqEnabled: cr0('EVENTQEN'),
      cmdqEnabled: cr0('CMDQEN'),
      gerrorPending: hex(regs.GERROR ^ regs.GERRORN),
      streamTable: streamTableJson(s.strtab),
    },
    queues: {
      cmdq: {
        ...queueJson(regs.CMDQ_BASE, Number(regs.CMDQ_PROD), Number(regs.CMDQ_CONS), s.cmdqLog2size, 16),
        err: Number(extract64(regs.CMDQ_CONS, 24, 7)),
      },
      eventq: queueJson(regs.EVENTQ_BASE, Number(regs.EVENTQ_PROD), Number(regs.EVENTQ_CONS), s.eventqLog2size, 32),
    },
    configCache: {
      size: configCache.size,
      ...configCache.totals(),
      counters: configCache.counterEntries().map(([sid, c]) => ({ sid, ...c })),
      entries: configCache
        .entries()
        .map(([sid, cfg]) => ({ sid, ...cfgCounters.get(sid), config: describeConfig(cfg) })),
    },
    iotlb: {
      size: iotlb.size,
      capacity: IOTLB_MAX_ENTRIES,
      hits: iotlb.hits,
      misses: iotlb.misses,
      capacityFlushes: iotlb.capacityFlushes,
      entries: iotlb.entries().map(({ key, entry }) => ({
        asid: key.asid,
        vmid: key.vmid,
        iova: key.iova,
        tg: key.tg,
        level: key.level,
        translatedAddr: entry.translatedAddr,
        addrMask: entry.addrMask,
        granuleShift: entry.granuleShift,
        perm: permName(entry.perm),
        parentPerm: permName(entry.parentPerm),
      })),
    },
    recentEvents: s.recent.map((e) => ({ ...e, code: EVENT_TYPES[e.type] })),
  };
}

/** Everything observable about the SMMU (the Secure bank under `secureBank` when implemented). */
export function smmuDebugSnapshot(s: SmmuDebugState): JsonValue {
  const ns = bankJson(s);
  return toJson({
    model: 'arm-smmuv3 (QEMU 10.2.2)',
    stage: s.stage,
    registers: ns.registers,
    state: ns.state,
    queues: ns.queues,
    configCache: ns.configCache,
    iotlb: ns.iotlb,
    counters: { ...s.stats },
    recentEvents: ns.recentEvents,
    ...(s.secure ? { secureBank: bankJson(s.secure) } : {}),
  });
}

/** The outcome of a debug decode of StreamID `sid` (see SmmuV3.decodeStreamForDebug). */
export function streamDecodeJson(
  sid: number,
  smmuEnabled: boolean,
  st: StreamTableConfig,
  r: ConfigDecodeResult,
  cached: boolean,
): JsonValue {
  return toJson({
    sid,
    smmuEnabled,
    streamTable: streamTableJson(st),
    ...describeTrace(r.trace),
    result: r.ok
      ? { ok: true, config: describeConfig(r.cfg) }
      : { ok: false, reason: r.reason, event: r.event ?? null },
    cached,
  });
}

/** The snapshot's view of one bank and its world's caches. */
export function bankDebugState(bank: SmmuBank, configCache: ConfigCache, iotlb: Iotlb): SmmuBankDebugState {
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

/** Stage-2 IPA translation by a direct walk (no IOTLB fill), for a side-effect-free decode. */
export function walkIpaDirect(w: World): TranslateIpa {
  return (cfg, ipa) => {
    const r = walkForStage('s2', cfg, ipa, PERM.RO, w.ctx.read);
    return r.ok ? { ok: true, pa: entryOutput(r.entry, ipa) } : { ok: false, event: null };
  };
}

/**
 * Decode the STE (and CD) of `sid` in world `w` as a translation would, with no trace events and
 * nothing recorded, cached or counted; `deps` reads through the world's memory.
 */
export function debugDecodeStream(w: World, sid: number, deps: ConfigDecodeDeps): JsonValue {
  const r = decodeConfig(sid, { ...deps, trace: undefined });
  return streamDecodeJson(
    sid,
    w.bank.cr0('SMMUEN'),
    w.bank.strtab(),
    r,
    w.configCache.entries().some(([k]) => k === sid),
  );
}
