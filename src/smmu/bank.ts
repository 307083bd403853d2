/**
 * One programming interface of the SMMUv3 (a "bank"): its register file (the bank-relative table
 * of registers.ts on the memory/register-file.ts engine), its command queue, event queue, GERROR,
 * IRQ gating and stream-table base. QEMU 10.2.2 has one bank (Non-secure); the Secure bank of
 * docs/secure-smmu.md is a second instance of the same class. The front end (smmu-v3.ts) decodes
 * MMIO to a bank and runs translations; a bank never translates.
 */
import type { Logger } from '../base/log.js';
import type { IrqLine } from '../sim/irq.js';
import type { Addr, AccessSize, MemTxResult } from '../memory/types.js';
import { RegisterFile } from '../memory/register-file.js';
import { runWorkJob } from '../memory/work-meter.js';
import type { WorkMeter } from '../memory/work-meter.js';
import type { RegisterWrite } from '../memory/register-file.js';
import { deposit64, hex } from './bits.js';
import { CERROR, commandTraceName, consumeCommands, executeCommand, queueTraceArgs } from './command-queue.js';
import { TRACE_OFF } from '../base/trace.js';
import type { Tracer } from '../base/trace.js';
import { TRACE_IDS as T } from '../base/trace-events.js';
import type { CommandError, CommandFields, CommandTarget } from './command-queue.js';
import { encodeEventRecord, writeEvent } from './event-queue.js';
import type { SmmuEvent } from './faults.js';
import { queueLog2Size, SMMU_CMDQS, SMMU_EVENTQS } from './queue-index.js';
import { field, SMMU_REGISTERS } from './registers.js';
import type { SmmuRegName, SmmuRegSpec } from './registers.js';
import type { StreamTableConfig } from './stream-table.js';
import type { SecSid } from './bank-decode.js';

export interface BankIrqs {
  eventq: IrqLine;
  cmdSync: IrqLine;
  gerror: IrqLine;
}

/** How a bank reaches memory for its queues (the front end adds the re-entrancy guard). */
export interface BankMemory {
  read(pa: bigint, length: number): Uint8Array | null;
  write: {
    writeBytes(addr: Addr, data: Uint8Array): MemTxResult;
    readBytes(addr: Addr, out: Uint8Array): MemTxResult;
  };
}

/** Counters shared by the banks of one SMMU. */
export interface SmmuStats {
  translations: number;
  faults: number;
  eventsRecorded: number;
  eventsDropped: number;
  eventqAborts: number;
  commandsExecuted: number;
  commandErrors: number;
}

export function newSmmuStats(): SmmuStats {
  return {
    translations: 0,
    faults: 0,
    eventsRecorded: 0,
    eventsDropped: 0,
    eventqAborts: 0,
    commandsExecuted: 0,
    commandErrors: 0,
  };
}

/** Register-write rules that differ between QEMU 10.2.2 and the Secure series (see quirks.ts). */
export interface BankRules {
  /** Bits of CR0 that CR0ACK never reflects. */
  cr0AckReserved: number;
  /** Registers whose write is refused while a unit is enabled (§1.3 of docs/secure-smmu.md). */
  accessChecks: boolean;
  /** S_INIT is decoded in this bank. */
  init: boolean;
}

export interface BankOptions {
  sec: SecSid;
  /** Trace events (smmuv3_cmdq_*); default: all off. */
  trace?: Tracer;
  /** Values of IDR0..5, IIDR, AIDR for this bank. */
  idr: Partial<Record<SmmuRegName, number>>;
  rules: BankRules;
  memory: BankMemory;
  irqs: BankIrqs;
  log: Logger;
  stats: SmmuStats;
  /** What commands of this bank's queue act on. */
  commands: CommandTarget;
  /** Runs one command (default: the QEMU 10.2.2 opcode table against `commands`). */
  execute?: (cmd: CommandFields, target: CommandTarget) => CommandError;
  /** S_INIT.INV_ALL accepted. */
  onInitInvalidate?: () => void;
  /** The machine's work meter: long queues run as a job (memory/work-meter.ts). */
  work?: WorkMeter;
  /** Enter/leave this SMMU's MMIO (its re-entrancy guard), for queue steps run later. */
  mmio?: { enter(): void; exit(): void };
}

/** Commands consumed per step of a long command queue (about a millisecond: a slice can end on time). */
const CMDQ_STEP_COMMANDS = 512;

const GBPA_UPDATE = 0x8000_0000n;
const GERROR_CMDQ_ERR = 1 << 0;
const GERROR_EVENTQ_ABT_ERR = 1 << 2;
const RECENT_EVENTS = 16;
const HIGH_WORD = 0xffff_ffff_0000_0000n;

type Table = typeof SMMU_REGISTERS;

/** The table a bank decodes: S_INIT only where the rules have it. */
function bankTable(rules: BankRules): Table {
  if (rules.init) return SMMU_REGISTERS;
  const t: Record<string, SmmuRegSpec> = {};
  for (const [name, spec] of Object.entries(SMMU_REGISTERS) as Array<[string, SmmuRegSpec]>)
    if (!spec.secureOnly) t[name] = spec;
  return t as Table;
}

export class SmmuBank {
  readonly sec: SecSid;
  readonly file: RegisterFile<Table>;
  /** CR0.SMMUEN, kept in step with CR0 (written only by reset() and the CR0 hook). */
  enabled = false;
  /** Effective queue sizes: set by *_BASE writes only, never by reset (QEMU). */
  cmdqLog2size = 0;
  eventqLog2size = 0;
  /** STRTAB_BASE_CFG.FMT = 1 seen since reset (sticky) and the SPLIT latched then. */
  private twoLevel = false;
  private sidSplit = 0;
  readonly recent: SmmuEvent[] = [];
  private readonly opts: BankOptions;

  constructor(opts: BankOptions) {
    this.opts = opts;
    this.sec = opts.sec;
    const rules = opts.rules;
    this.file = new RegisterFile<Table>({
      name: opts.sec ? 'smmuv3-secure-bank' : 'smmuv3-bank',
      size: 0x1000n,
      registers: bankTable(rules),
      unknown: 'raz',
      onUnknown: (offset, size, isWrite, value) =>
        this.opts.log.debug(
          { unimp: true },
          isWrite
            ? `smmuv3: ${size * 8}-bit write of ${hex(value ?? 0n)} to ${hex(offset)} (WI)`
            : `smmuv3: ${size * 8}-bit read of ${hex(offset)} (RAZ)`,
        ),
      hooks: {
        read: {
          irqCtrlAck: () => this.file.get('IRQ_CTRL'),
          msiCfg: (_n, stored) => (rules.accessChecks ? 0n : stored),
        },
        write: {
          gbpa: (w) => (w.next & GBPA_UPDATE ? w.next & ~GBPA_UPDATE : w.previous),
          gerrorn: (w) => {
            const pending = Number(this.file.get('GERROR') ^ w.previous);
            const toggled = Number(w.previous ^ w.next);
            if (toggled & ~pending)
              this.opts.log.debug(
                { guestError: true },
                `smmuv3: guest toggles non pending errors ${hex(toggled & ~pending)}`,
              );
            if (this.tr.on[T.smmuv3_write_gerrorn]) this.tr.emit(T.smmuv3_write_gerrorn, toggled & pending, w.next);
          },
          cr2: (w) => (rules.accessChecks && this.smmuenSet() ? w.previous : undefined),
          init: (w) => {
            if ((w.next & 1n) !== 0n && !this.smmuenSet()) this.opts.onInitInvalidate?.();
            return 0n;
          },
          msiCfg: (w) => (rules.accessChecks ? w.previous : undefined),
          strtabBase: (w) => (rules.accessChecks && this.smmuenSet() ? w.previous : undefined),
          cmdqBase: (w) => (rules.accessChecks && this.cr0AndAck('CMDQEN') ? w.previous : undefined),
          eventqBase: (w) => (rules.accessChecks && this.cr0AndAck('EVENTQEN') ? w.previous : undefined),
        },
        after: {
          cr0: () => {
            const cr0 = this.file.get('CR0');
            this.enabled = this.cr0('SMMUEN');
            this.file.set('CR0ACK', cr0 & ~BigInt(rules.cr0AckReserved) & 0xffff_ffffn);
            this.processCommandQueue();
          },
          cmdq: () => this.processCommandQueue(),
          strtabCfg: () => {
            const n = Number(this.file.get('STRTAB_BASE_CFG'));
            if (field('STRTAB_BASE_CFG', 'FMT', n) === 1) {
              this.sidSplit = field('STRTAB_BASE_CFG', 'SPLIT', n);
              this.twoLevel = true;
            }
          },
          cmdqBase: (w) => {
            if (isHighWord(w)) return;
            this.cmdqLog2size = queueLog2Size(this.file.get('CMDQ_BASE'), SMMU_CMDQS);
          },
          eventqBase: (w) => {
            if (isHighWord(w)) return;
            this.eventqLog2size = queueLog2Size(this.file.get('EVENTQ_BASE'), SMMU_EVENTQS);
          },
        },
      },
    });
    for (const [name, v] of Object.entries(opts.idr)) this.file.set(name as SmmuRegName, BigInt(v));
    this.reset();
  }

  /** Device reset (QEMU smmuv3_init_regs): registers without `keep` to their reset value. */
  reset(): void {
    for (const [name, spec] of Object.entries(SMMU_REGISTERS) as Array<[SmmuRegName, SmmuRegSpec]>) {
      if (!spec.keep && (!spec.secureOnly || this.opts.rules.init)) this.file.set(name, spec.reset ?? 0n);
    }
    this.file.set('CMDQ_BASE', deposit64(this.file.get('CMDQ_BASE'), 0, 5, BigInt(SMMU_CMDQS)));
    this.file.set('EVENTQ_BASE', deposit64(this.file.get('EVENTQ_BASE'), 0, 5, BigInt(SMMU_EVENTQS)));
    this.twoLevel = false;
    this.sidSplit = 0;
    this.enabled = this.cr0('SMMUEN');
  }

  read(offset: bigint, size: AccessSize): bigint {
    return this.file.read(offset, size, {});
  }

  write(offset: bigint, size: AccessSize, value: bigint): void {
    this.file.write(offset, size, value, {});
  }

  get(name: SmmuRegName): bigint {
    return this.file.get(name);
  }

  cr0(name: 'SMMUEN' | 'EVENTQEN' | 'CMDQEN'): boolean {
    return field('CR0', name, Number(this.file.get('CR0'))) === 1;
  }

  private cr0AndAck(name: 'SMMUEN' | 'EVENTQEN' | 'CMDQEN'): boolean {
    return this.cr0(name) || field('CR0', name, Number(this.file.get('CR0ACK'))) === 1;
  }

  /** SMMUEN set in CR0 or CR0ACK (the Secure series' "unit enabled" test). */
  private smmuenSet(): boolean {
    return this.cr0AndAck('SMMUEN');
  }

  /** GBPA.ABORT: what a disabled bank does with a transaction. */
  gbpaAbort(): boolean {
    return field('GBPA', 'ABORT', Number(this.file.get('GBPA'))) === 1;
  }

  private get tr(): Tracer {
    return this.opts.trace ?? TRACE_OFF;
  }

  /** Pulse one of the SMMU's interrupts (QEMU SMMUIrq number `irq`: 0 EVTQ, 2 CMD_SYNC, 3 GERROR). */
  pulse(irq: number, line: IrqLine): void {
    if (this.tr.on[T.smmuv3_trigger_irq]) this.tr.emit(T.smmuv3_trigger_irq, irq);
    line.pulse();
  }

  private irqEnabled(name: 'GERROR_IRQEN' | 'EVENTQ_IRQEN'): boolean {
    return field('IRQ_CTRL', name, Number(this.file.get('IRQ_CTRL'))) === 1;
  }

  /** Toggle the GERROR bits in `mask` that are not already pending; pulse if enabled. */
  raiseGerror(mask: number): void {
    const gerror = this.file.get('GERROR');
    const pending = Number(gerror ^ this.file.get('GERRORN'));
    const fresh = ~pending & mask;
    if (!fresh) return;
    this.file.set('GERROR', gerror ^ BigInt(fresh));
    if (this.tr.on[T.smmuv3_write_gerror]) this.tr.emit(T.smmuv3_write_gerror, fresh, gerror ^ BigInt(fresh));
    if (this.irqEnabled('GERROR_IRQEN')) this.pulse(3, this.opts.irqs.gerror);
  }

  strtab(): StreamTableConfig {
    return {
      base: this.file.get('STRTAB_BASE'),
      log2size: field('STRTAB_BASE_CFG', 'LOG2SIZE', Number(this.file.get('STRTAB_BASE_CFG'))),
      twoLevel: this.twoLevel,
      split: this.sidSplit,
    };
  }

  /**
   * QEMU smmuv3_cmdq_consume, run after CR0, GERRORN and CMDQ_PROD writes. A long queue is
   * consumed in steps of CMDQ_STEP_COMMANDS, which may run in slices (memory/work-meter.ts).
   */
  processCommandQueue(): void {
    if (!this.cr0('CMDQEN')) return;
    const q = {
      base: this.file.get('CMDQ_BASE'),
      prod: Number(this.file.get('CMDQ_PROD')),
      cons: Number(this.file.get('CMDQ_CONS')),
      log2size: this.cmdqLog2size,
    };
    runWorkJob(this.opts.work, {
      steps: this.consumeInSteps(q),
      done: () => {},
      // Cut short (work budget): the queue stops where it is with CERROR_ABT, as an abort on a
      // command fetch does, so the guest sees a defined error state; the request answers FAIL.
      settle: () => {
        this.file.set('CMDQ_CONS', deposit64(BigInt(q.cons), 24, 7, BigInt(CERROR.ABT)));
        this.opts.stats.commandErrors++;
        this.raiseGerror(GERROR_CMDQ_ERR);
      },
    });
  }

  private *consumeInSteps(q: Parameters<typeof consumeCommands>[0]): Generator<void, void> {
    const stats = this.opts.stats;
    const errorPending = (): boolean =>
      (Number(this.file.get('GERROR') ^ this.file.get('GERRORN')) & GERROR_CMDQ_ERR) !== 0;
    const mmio = this.opts.mmio;
    const tr = this.opts.trace ?? TRACE_OFF;
    for (;;) {
      let result: ReturnType<typeof consumeCommands>;
      mmio?.enter();
      try {
        result = consumeCommands(q, {
          read: this.opts.memory.read,
          cmdqErrorPending: errorPending,
          // where a step ends: the next step goes on from CONS
          stepLimit: CMDQ_STEP_COMMANDS,
          target: this.opts.commands,
          execute: this.opts.execute ?? executeCommand,
          trace: this.opts.trace,
        });
      } finally {
        mmio?.exit();
      }
      if (result.error !== CERROR.NONE && tr.on[T.smmuv3_cmdq_consume_error])
        tr.emit(T.smmuv3_cmdq_consume_error, commandTraceName(result.failedOpcode ?? 0), result.error);
      this.file.set('CMDQ_CONS', BigInt(q.cons));
      stats.commandsExecuted += result.executed;
      if (result.error !== CERROR.NONE) {
        stats.commandErrors++;
        if (result.error === CERROR.ILL)
          this.opts.log.debug({ guestError: true }, `smmuv3: illegal command type ${result.failedOpcode}`);
        this.file.set('CMDQ_CONS', deposit64(this.file.get('CMDQ_CONS'), 24, 7, BigInt(result.error)));
        this.raiseGerror(GERROR_CMDQ_ERR);
        break;
      }
      if (!result.paused || errorPending()) break;
      yield;
    }
    if (tr.on[T.smmuv3_cmdq_consume_out]) tr.emit(T.smmuv3_cmdq_consume_out, ...queueTraceArgs(q));
  }

  /** QEMU smmuv3_record_event: drop if EVENTQEN = 0, else write; full or failed write → EVENTQ_ABT_ERR. */
  recordEvent(ev: SmmuEvent): void {
    const stats = this.opts.stats;
    if (!this.cr0('EVENTQEN')) {
      stats.eventsDropped++;
      return;
    }
    this.recent.push(ev);
    if (this.recent.length > RECENT_EVENTS) this.recent.shift();
    const q = {
      base: this.file.get('EVENTQ_BASE'),
      prod: Number(this.file.get('EVENTQ_PROD')),
      cons: Number(this.file.get('EVENTQ_CONS')),
      log2size: this.eventqLog2size,
    };
    if (this.tr.on[T.smmuv3_record_event]) this.tr.emit(T.smmuv3_record_event, `SMMU_EVT_${ev.type}`, ev.sid);
    const out = writeEvent(q, this.opts.memory.write, encodeEventRecord(ev));
    if (out.kind === 'written') {
      this.file.set('EVENTQ_PROD', BigInt(q.prod));
      stats.eventsRecorded++;
      if (out.irq && this.irqEnabled('EVENTQ_IRQEN')) this.pulse(0, this.opts.irqs.eventq);
      return;
    }
    stats.eventqAborts++;
    this.raiseGerror(GERROR_EVENTQ_ABT_ERR);
  }

  /** Every register's stored value (IRQ_CTRLACK as read), for the debug snapshot. */
  registerValues(): Record<string, bigint> {
    const out: Record<string, bigint> = {};
    for (const [name, spec] of Object.entries(SMMU_REGISTERS) as Array<[SmmuRegName, SmmuRegSpec]>) {
      if (name.startsWith('ID_') || (spec.secureOnly && !this.opts.rules.init)) continue;
      out[name] = name === 'IRQ_CTRLACK' ? this.file.get('IRQ_CTRL') : this.file.get(name);
    }
    return out;
  }
}

/** A 4-byte write to the upper word of a 64-bit register. */
function isHighWord(w: RegisterWrite<string>): boolean {
  return w.accessMask === HIGH_WORD;
}
