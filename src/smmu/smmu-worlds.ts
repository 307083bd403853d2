/**
 * How an SmmuV3 is assembled from its pieces: one world per implemented security state, each a
 * bank (bank.ts) with its register-write rules, its queues' memory view and its command executor,
 * plus its own config cache and IOTLB (world.ts). Without secure-impl: the one Non-secure bank
 * with QEMU 10.2.2's rules; with it: the Secure series' rules as the quirk switches select
 * (quirks.ts, docs/secure-smmu.md). The front end (smmu-v3.ts) decodes MMIO and translates.
 */
import type { Logger } from '../base/log.js';
import type { Tracer } from '../base/trace.js';
import type { BusAccess } from '../memory/types.js';
import { SmmuBank } from './bank.js';
import type { BankIrqs, BankRules, SmmuStats } from './bank.js';
import { SEC_SID_NS, SEC_SID_S } from './bank-decode.js';
import type { SecSid } from './bank-decode.js';
import type { CommandTarget } from './command-queue.js';
import { ConfigCache } from './config-cache.js';
import { dualReader, GuardedMemory } from './guarded-memory.js';
import type { ReentryGuard } from './guarded-memory.js';
import { Iotlb } from './iotlb.js';
import { CR0_RESERVED_SERIES, S_CR0_RESERVED } from './quirks.js';
import type { SmmuQuirks } from './quirks.js';
import { CR0_RESERVED, S_IDR1_SECURE_IMPL, SMMU_SIDSIZE } from './registers.js';
import type { SmmuRegName } from './registers.js';
import { worldCommandExecutor } from './secure-commands.js';
import type { SmmuFeatures } from './translation-config.js';
import { makeWorld } from './world.js';
import type { World } from './world.js';

/** What the worlds are built from: the SMMU's options, shared state and the front end's hooks. */
export interface WorldsDeps {
  memory: BusAccess;
  secureMemory?: BusAccess;
  irqs: BankIrqs;
  log: Logger;
  trace: Tracer;
  /** Per-stream trace points (smmuv3_*); undefined: none. */
  walkTrace?: Tracer;
  stats: SmmuStats;
  features: SmmuFeatures;
  secureImpl: boolean;
  quirks: SmmuQuirks;
  /** The IDR values of the Non-secure bank (registers.ts idrValues). */
  idr: Partial<Record<SmmuRegName, number>>;
  guard: ReentryGuard;
  hasDevice(sid: number): boolean;
  /** Every world's caches emptied (S_INIT.INV_ALL). */
  invalidateAll(): void;
  /** Enter/leave the SMMU's MMIO (its re-entrancy guard). */
  mmio: { enter(): void; exit(): void };
}

/** The Non-secure world, and the Secure one with secure-impl. */
export function buildWorlds(d: WorldsDeps): { ns: World; s?: World } {
  const q = d.quirks;
  const nsMem = new GuardedMemory(d.memory, d.guard);
  const sMem = new GuardedMemory(d.secureMemory, d.guard);
  const walkRead = d.secureImpl ? dualReader(nsMem, sMem) : nsMem.readDescriptor;
  let nsBank!: SmmuBank; // set below, before any command can run
  const target = (configCache: ConfigCache, iotlb: Iotlb): CommandTarget => ({
    s1p: d.features.s1p,
    s2p: d.features.s2p,
    configCache,
    iotlb,
    signalSync: () => nsBank.pulse(2, d.irqs.cmdSync), // QEMU SMMU_IRQ_CMD_SYNC
    trace: d.trace,
    hasDevice: d.hasDevice,
    unhandled: (name) => d.log.debug({ unimp: true }, `smmuv3: unhandled command ${name}`),
  });
  const caches = [0, 1].map(() => ({ configCache: new ConfigCache(), iotlb: new Iotlb() }));
  const targets = caches.map((c) => target(c.configCache, c.iotlb)) as [CommandTarget, CommandTarget];
  const bankOf = (sec: SecSid, rules: BankRules, queues: GuardedMemory, idr: Partial<Record<SmmuRegName, number>>) =>
    new SmmuBank({
      sec,
      idr,
      rules,
      memory: queues.queues,
      irqs: d.irqs,
      log: d.log,
      trace: d.trace,
      stats: d.stats,
      commands: targets[sec],
      execute: d.secureImpl ? worldCommandExecutor(sec, targets, q) : undefined,
      onInitInvalidate: d.invalidateAll,
      work: d.memory.meter,
      mmio: d.mmio,
    });
  nsBank = bankOf(
    SEC_SID_NS,
    d.secureImpl
      ? { cr0AckReserved: CR0_RESERVED_SERIES, accessChecks: q['access-checks'], init: q['ns-init-alias'] }
      : { cr0AckReserved: CR0_RESERVED, accessChecks: false, init: false },
    nsMem,
    d.idr,
  );
  const ns = makeWorld(SEC_SID_NS, nsBank, caches[SEC_SID_NS], walkRead, nsMem);
  let s: World | undefined;
  if (d.secureImpl) {
    const sBank = bankOf(
      SEC_SID_S,
      {
        cr0AckReserved: q['cr0ack-mask'] ? CR0_RESERVED_SERIES : S_CR0_RESERVED,
        accessChecks: q['access-checks'],
        init: true,
      },
      q['queues-ns-memory'] ? nsMem : sMem,
      { IDR0: 0, IDR1: S_IDR1_SECURE_IMPL | SMMU_SIDSIZE, IDR2: 0, IDR3: 0, IDR4: 0, IDR5: 0 },
    );
    s = makeWorld(
      SEC_SID_S,
      sBank,
      caches[SEC_SID_S],
      walkRead,
      sMem,
      q['bypass-ns-output'] ? undefined : d.secureMemory,
    );
  }
  for (const w of s ? [ns, s] : [ns]) w.ctx.trace = d.walkTrace; // IOTLB trace events
  return s ? { ns, s } : { ns };
}
