/**
 * The command queue (IHI 0070 4, 3.5; QEMU 10.2.2 smmuv3_cmdq_consume, smmuv3_range_inval): the
 * 16-byte command layout as data, an opcode table with one handler per command QEMU implements,
 * range-invalidation splitting, and the consume loop that stops on CMDQ_ERR pending, a fetch
 * abort (CERROR_ABT) or an illegal command (CERROR_ILL). The caller owns registers and IRQs and
 * applies the returned error to CMDQ_CONS.ERR and GERROR. Does not model ATS, PRI, stall or
 * secure commands (SSec = 1 on CFGI_* is illegal, other secure bits are ignored as in QEMU).
 */
import { TRACE_OFF } from '../base/trace.js';
import type { TraceArg, Tracer } from '../base/trace.js';
import { TRACE_IDS as T } from '../base/trace-events.js';
import { bytesOf, deposit32, extract32, U64_MASK, wordsOf } from './bits.js';
import type { ConfigCache } from './config-cache.js';
import type { Iotlb } from './iotlb.js';
import { CMD_ENTRY_BYTES, consIncrement, entryAddress, isEmpty } from './queue-index.js';

/** Command fields (IHI 0070 4.x, QEMU CMD_* extractors): word, lsb, width. */
export const CMD_FIELDS = {
  Opcode: { word: 0, lsb: 0, width: 8 },
  SSec: { word: 0, lsb: 10, width: 1 },
  SSV: { word: 0, lsb: 11, width: 1 },
  SSID: { word: 0, lsb: 12, width: 20 },
  NUM: { word: 0, lsb: 12, width: 5 },
  SCALE: { word: 0, lsb: 20, width: 5 },
  CS: { word: 0, lsb: 12, width: 2 },
  AC: { word: 0, lsb: 12, width: 1 },
  AB: { word: 0, lsb: 13, width: 1 },
  SID: { word: 1, lsb: 0, width: 32 },
  VMID: { word: 1, lsb: 0, width: 16 },
  ASID: { word: 1, lsb: 16, width: 16 },
  STAG: { word: 2, lsb: 0, width: 16 },
  Resp: { word: 2, lsb: 11, width: 2 },
  Leaf: { word: 2, lsb: 0, width: 1 },
  TTL: { word: 2, lsb: 8, width: 2 },
  TG: { word: 2, lsb: 10, width: 2 },
  Range: { word: 2, lsb: 0, width: 5 },
} as const satisfies Record<string, { word: number; lsb: number; width: number }>;

export type CommandFields = { [K in keyof typeof CMD_FIELDS]: number } & {
  /** Address: (w3 << 32) | (w2[31:12] << 12). */
  Address: bigint;
};

export function decodeCommand(bytes: Uint8Array): CommandFields {
  const w = wordsOf(bytes);
  const out: Record<string, number | bigint> = {};
  for (const [name, s] of Object.entries(CMD_FIELDS)) out[name] = extract32(w[s.word] ?? 0, s.lsb, s.width);
  out.Address = (BigInt(w[3] ?? 0) << 32n) | (BigInt(extract32(w[2] ?? 0, 12, 20)) << 12n);
  return out as CommandFields;
}

/** Build a 16-byte command (for tests and the client). Overlapping fields are applied in table order. */
export function encodeCommand(values: Partial<CommandFields>): Uint8Array {
  const w = [0, 0, 0, 0];
  for (const [name, s] of Object.entries(CMD_FIELDS)) {
    const v = (values as Record<string, number | bigint | undefined>)[name];
    if (v !== undefined) w[s.word] = deposit32(w[s.word], s.lsb, s.width, Number(v));
  }
  if (values.Address !== undefined) {
    w[2] = deposit32(w[2], 12, 20, Number((values.Address >> 12n) & 0xfffffn));
    w[3] = Number((values.Address >> 32n) & 0xffffffffn);
  }
  return bytesOf(w);
}

/** Command opcodes (IHI 0070 4.1; QEMU SMMUCommandType). */
export const CMD_OPCODES = {
  CMD_PREFETCH_CONFIG: 0x01,
  CMD_PREFETCH_ADDR: 0x02,
  CMD_CFGI_STE: 0x03,
  CMD_CFGI_STE_RANGE: 0x04,
  CMD_CFGI_CD: 0x05,
  CMD_CFGI_CD_ALL: 0x06,
  CMD_TLBI_NH_ALL: 0x10,
  CMD_TLBI_NH_ASID: 0x11,
  CMD_TLBI_NH_VA: 0x12,
  CMD_TLBI_NH_VAA: 0x13,
  CMD_TLBI_EL3_ALL: 0x18,
  CMD_TLBI_EL3_VA: 0x1a,
  CMD_TLBI_EL2_ALL: 0x20,
  CMD_TLBI_EL2_ASID: 0x21,
  CMD_TLBI_EL2_VA: 0x22,
  CMD_TLBI_EL2_VAA: 0x23,
  CMD_TLBI_S12_VMALL: 0x28,
  CMD_TLBI_S2_IPA: 0x2a,
  CMD_TLBI_NSNH_ALL: 0x30,
  CMD_ATC_INV: 0x40,
  CMD_PRI_RESP: 0x41,
  CMD_RESUME: 0x44,
  CMD_STALL_TERM: 0x45,
  CMD_SYNC: 0x46,
} as const satisfies Record<string, number>;

export type CommandName = keyof typeof CMD_OPCODES;

/** CMDQ_CONS.ERR codes (IHI 0070 4.7). */
export const CERROR = { NONE: 0, ILL: 1, ABT: 2, ATC_INV_SYNC: 3 } as const;
export type CommandError = (typeof CERROR)[keyof typeof CERROR];

/** What commands act on. */
export interface CommandTarget {
  s1p: boolean;
  s2p: boolean;
  configCache: ConfigCache;
  iotlb: Iotlb;
  /** CMD_SYNC with CS = SIG_IRQ: pulse the cmd-sync line (no enable bit in QEMU). */
  signalSync(): void;
  /** Commands QEMU accepts but does nothing with (traced as unhandled). */
  unhandled?(name: CommandName): void;
  /** Trace events of the commands (smmuv3_cmdq_cfgi_*, _tlbi_*, smmu_iotlb_inv_*); default: off. */
  trace?: Tracer;
  /** Whether a PCI function has this StreamID (QEMU smmu_find_sdev: CFGI_STE/CD trace only then). */
  hasDevice?(sid: number): boolean;
}

/** Emit a command's trace event when it is enabled (commands are not a hot path). */
function tc(t: CommandTarget, id: number, ...args: TraceArg[]): void {
  if (t.trace?.on[id]) t.trace.emit(id, ...args);
}

/** CFGI_STE / CFGI_CD(_ALL) of a StreamID with a device: its event, then the flush's. */
function traceCfgi(t: CommandTarget, id: number, cmdSid: number): void {
  const sid = deviceSid(cmdSid);
  if (!t.trace?.any || !t.hasDevice?.(sid)) return;
  tc(t, id, cmdSid);
  tc(t, T.smmu_config_cache_inv, sid);
}

type Handler = (cmd: CommandFields, t: CommandTarget) => CommandError;

const done = (): CommandError => CERROR.NONE;
const ignored =
  (name: CommandName): Handler =>
  (cmd, t) => {
    tc(t, T.smmuv3_unhandled_cmd, cmd.Opcode);
    t.unhandled?.(name);
    return CERROR.NONE;
  };

/** The PCI device for a CFGI SID: QEMU looks it up by bus (SID[15:8]) and devfn (SID[7:0]). */
const deviceSid = (sid: number): number => sid & 0xffff;

/** QEMU dma_aligned_pow2_mask(start, end, 64): largest aligned power-of-two block at start within [start, end]. */
export function alignedPow2Mask(start: bigint, end: bigint): bigint {
  const sizeMask = (end - start) & U64_MASK;
  const alignMask = start === 0n ? U64_MASK : (start & -start) - 1n;
  if (alignMask <= sizeMask) return alignMask;
  if (sizeMask === U64_MASK) return U64_MASK;
  return (1n << BigInt((sizeMask + 1n).toString(2).length - 1)) - 1n;
}

/** TLBI_NH_VA / NH_VAA (stage 1) and TLBI_S2_IPA (stage 2) (QEMU smmuv3_range_inval). */
export function rangeInvalidate(cmd: CommandFields, t: CommandTarget, stage: 1 | 2): void {
  let addr = cmd.Address;
  const vmid = t.s2p ? cmd.VMID : -1;
  const asid = cmd.Opcode === CMD_OPCODES.CMD_TLBI_NH_VA ? cmd.ASID : -1;
  const inv = (a: bigint, pages: bigint) => {
    tc(t, T.smmuv3_range_inval, vmid, asid, a, cmd.TG, pages, cmd.TTL, cmd.Leaf, stage);
    if (stage === 1) t.iotlb.invalidateIova(asid, vmid, a, cmd.TG, pages, cmd.TTL);
    else t.iotlb.invalidateIpa(vmid, a, cmd.TG, pages, cmd.TTL);
  };
  if (!cmd.TG) {
    inv(addr, 1n);
    return;
  }
  const granule = BigInt(cmd.TG * 2 + 10);
  const pages = BigInt(cmd.NUM + 1) << BigInt(cmd.SCALE);
  const end = (addr + (pages << granule) - 1n) & U64_MASK;
  const stop = (end + 1n) & U64_MASK;
  // At most ~128 naturally aligned chunks cover any range; the cap only guards against bugs.
  for (let i = 0; addr !== stop && i < 256; i++) {
    const mask = alignedPow2Mask(addr, end);
    inv(addr, ((mask + 1n) & U64_MASK) >> granule);
    addr = (addr + mask + 1n) & U64_MASK;
  }
}

/** Opcode → behaviour, as QEMU 10.2.2 implements each command. Missing opcodes are CERROR_ILL. */
export const COMMANDS: Readonly<Record<number, { name: CommandName; run: Handler }>> = {
  [CMD_OPCODES.CMD_PREFETCH_CONFIG]: { name: 'CMD_PREFETCH_CONFIG', run: done },
  [CMD_OPCODES.CMD_PREFETCH_ADDR]: { name: 'CMD_PREFETCH_ADDR', run: done },
  [CMD_OPCODES.CMD_CFGI_STE]: {
    name: 'CMD_CFGI_STE',
    run: (c, t) => {
      if (c.SSec) return CERROR.ILL;
      traceCfgi(t, T.smmuv3_cmdq_cfgi_ste, c.SID);
      t.configCache.invalidateSid(deviceSid(c.SID));
      return CERROR.NONE;
    },
  },
  [CMD_OPCODES.CMD_CFGI_STE_RANGE]: {
    name: 'CMD_CFGI_STE_RANGE',
    run: (c, t) => {
      if (c.SSec) return CERROR.ILL;
      const mask = 2 ** (c.Range + 1) - 1; // Range 31: all StreamIDs (CFGI_ALL)
      const start = c.SID - (c.SID % (mask + 1));
      tc(t, T.smmuv3_cmdq_cfgi_ste_range, start, start + mask);
      tc(t, T.smmu_configs_inv_sid_range, start, start + mask);
      t.configCache.invalidateRange(start, start + mask, (sid) => tc(t, T.smmu_config_cache_inv, sid));
      return CERROR.NONE;
    },
  },
  [CMD_OPCODES.CMD_CFGI_CD]: {
    name: 'CMD_CFGI_CD',
    run: (c, t) => {
      if (c.SSec) return CERROR.ILL;
      traceCfgi(t, T.smmuv3_cmdq_cfgi_cd, c.SID);
      t.configCache.invalidateSid(deviceSid(c.SID));
      return CERROR.NONE;
    },
  },
  [CMD_OPCODES.CMD_CFGI_CD_ALL]: {
    name: 'CMD_CFGI_CD_ALL',
    run: (c, t) => {
      if (c.SSec) return CERROR.ILL;
      traceCfgi(t, T.smmuv3_cmdq_cfgi_cd, c.SID);
      t.configCache.invalidateSid(deviceSid(c.SID));
      return CERROR.NONE;
    },
  },
  [CMD_OPCODES.CMD_TLBI_NH_ALL]: {
    name: 'CMD_TLBI_NH_ALL',
    run: (c, t) => {
      if (!t.s1p) return CERROR.ILL;
      if (t.s2p) {
        tc(t, T.smmuv3_cmdq_tlbi_nh, c.VMID);
        tc(t, T.smmu_iotlb_inv_vmid_s1, c.VMID);
        t.iotlb.invalidateVmidS1(c.VMID);
      } else {
        tc(t, T.smmuv3_cmdq_tlbi_nsnh);
        tc(t, T.smmu_iotlb_inv_all);
        t.iotlb.invalidateAll();
      }
      return CERROR.NONE;
    },
  },
  [CMD_OPCODES.CMD_TLBI_NH_ASID]: {
    name: 'CMD_TLBI_NH_ASID',
    run: (c, t) => {
      if (!t.s1p) return CERROR.ILL;
      tc(t, T.smmuv3_cmdq_tlbi_nh_asid, c.ASID);
      tc(t, T.smmu_iotlb_inv_asid_vmid, c.ASID, t.s2p ? c.VMID : -1);
      t.iotlb.invalidateAsidVmid(c.ASID, t.s2p ? c.VMID : -1);
      return CERROR.NONE;
    },
  },
  [CMD_OPCODES.CMD_TLBI_NH_VA]: {
    name: 'CMD_TLBI_NH_VA',
    run: (c, t) => {
      if (!t.s1p) return CERROR.ILL;
      rangeInvalidate(c, t, 1);
      return CERROR.NONE;
    },
  },
  [CMD_OPCODES.CMD_TLBI_NH_VAA]: {
    name: 'CMD_TLBI_NH_VAA',
    run: (c, t) => {
      if (!t.s1p) return CERROR.ILL;
      rangeInvalidate(c, t, 1);
      return CERROR.NONE;
    },
  },
  [CMD_OPCODES.CMD_TLBI_EL3_ALL]: { name: 'CMD_TLBI_EL3_ALL', run: ignored('CMD_TLBI_EL3_ALL') },
  [CMD_OPCODES.CMD_TLBI_EL3_VA]: { name: 'CMD_TLBI_EL3_VA', run: ignored('CMD_TLBI_EL3_VA') },
  [CMD_OPCODES.CMD_TLBI_EL2_ALL]: { name: 'CMD_TLBI_EL2_ALL', run: ignored('CMD_TLBI_EL2_ALL') },
  [CMD_OPCODES.CMD_TLBI_EL2_ASID]: { name: 'CMD_TLBI_EL2_ASID', run: ignored('CMD_TLBI_EL2_ASID') },
  [CMD_OPCODES.CMD_TLBI_EL2_VA]: { name: 'CMD_TLBI_EL2_VA', run: ignored('CMD_TLBI_EL2_VA') },
  [CMD_OPCODES.CMD_TLBI_EL2_VAA]: { name: 'CMD_TLBI_EL2_VAA', run: ignored('CMD_TLBI_EL2_VAA') },
  [CMD_OPCODES.CMD_TLBI_S12_VMALL]: {
    name: 'CMD_TLBI_S12_VMALL',
    run: (c, t) => {
      if (!t.s2p) return CERROR.ILL;
      tc(t, T.smmuv3_cmdq_tlbi_s12_vmid, c.VMID);
      tc(t, T.smmu_iotlb_inv_vmid, c.VMID);
      t.iotlb.invalidateVmid(c.VMID);
      return CERROR.NONE;
    },
  },
  [CMD_OPCODES.CMD_TLBI_S2_IPA]: {
    name: 'CMD_TLBI_S2_IPA',
    run: (c, t) => {
      if (!t.s2p) return CERROR.ILL;
      rangeInvalidate(c, t, 2);
      return CERROR.NONE;
    },
  },
  [CMD_OPCODES.CMD_TLBI_NSNH_ALL]: {
    name: 'CMD_TLBI_NSNH_ALL',
    run: (_c, t) => {
      tc(t, T.smmuv3_cmdq_tlbi_nsnh);
      tc(t, T.smmu_iotlb_inv_all);
      t.iotlb.invalidateAll();
      return CERROR.NONE;
    },
  },
  [CMD_OPCODES.CMD_ATC_INV]: { name: 'CMD_ATC_INV', run: ignored('CMD_ATC_INV') },
  [CMD_OPCODES.CMD_PRI_RESP]: { name: 'CMD_PRI_RESP', run: ignored('CMD_PRI_RESP') },
  [CMD_OPCODES.CMD_RESUME]: { name: 'CMD_RESUME', run: ignored('CMD_RESUME') },
  [CMD_OPCODES.CMD_STALL_TERM]: { name: 'CMD_STALL_TERM', run: ignored('CMD_STALL_TERM') },
  [CMD_OPCODES.CMD_SYNC]: {
    name: 'CMD_SYNC',
    run: (c, t) => {
      if (c.CS & 1) t.signalSync(); // CS = SIG_IRQ (1); SIG_SEV (2) and NONE do nothing
      return CERROR.NONE;
    },
  },
};

export function executeCommand(cmd: CommandFields, t: CommandTarget): CommandError {
  const entry = COMMANDS[cmd.Opcode];
  return entry ? entry.run(cmd, t) : CERROR.ILL;
}

/** QEMU's name of a command type in trace events (smmu_cmd_string). */
export function commandTraceName(opcode: number): string {
  const e = COMMANDS[opcode];
  if (e) return `SMMU_${e.name}`;
  if (opcode === 0x07) return 'SMMU_CMD_CFGI_ALL'; // named by QEMU, illegal in its consumer
  return opcode > 0 && opcode <= 0x46 ? 'UNKNOWN' : 'INVALID';
}

/** PROD and CONS indexes and wrap bits of a queue, as smmuv3_cmdq_consume* print them. */
export function queueTraceArgs(q: CommandQueueState): [number, number, number, number] {
  const mask = (1 << q.log2size) - 1;
  return [q.prod & mask, q.cons & mask, (q.prod >> q.log2size) & 1, (q.cons >> q.log2size) & 1];
}

/** The command queue registers the consumer needs. */
export interface CommandQueueState {
  base: bigint;
  prod: number;
  cons: number;
  log2size: number;
}

export interface ConsumeDeps {
  /** Run at most this many commands in this call (a step of a sliced queue); default: all. */
  stepLimit?: number;
  /** Read a 16-byte command; null = the fetch failed. */
  read(addr: bigint, length: number): Uint8Array | null;
  /** GERROR.CMDQ_ERR is pending (GERROR ^ GERRORN bit 0). */
  cmdqErrorPending(): boolean;
  target: CommandTarget;
  /** Runs one command (default executeCommand; a bank with security rules passes its own). */
  execute?(cmd: CommandFields, target: CommandTarget): CommandError;
  /** Told about each command before it runs (for tracing). */
  onCommand?(cmd: CommandFields, addr: bigint): void;
  /** smmuv3_cmdq_consume / smmuv3_cmdq_opcode; default: off. */
  trace?: Tracer;
}

export interface ConsumeResult {
  executed: number;
  error: CommandError;
  /** The command that failed (opcode), for logging. */
  failedOpcode?: number;
  /** Stopped at `stepLimit` commands with more in the queue (the next call goes on). */
  paused?: boolean;
}

/**
 * Run commands from CONS up to PROD (QEMU smmuv3_cmdq_consume, CMDQEN already checked). CONS
 * advances only after a command completes, so it points at a failing command. Mutates q.cons
 * (not its ERR field: the caller sets that from the returned error).
 */
export function consumeCommands(q: CommandQueueState, deps: ConsumeDeps): ConsumeResult {
  let executed = 0;
  const tr = deps.trace ?? TRACE_OFF;
  while (!isEmpty(q.prod, q.cons, q.log2size)) {
    if (deps.stepLimit !== undefined && executed >= deps.stepLimit)
      return { executed, error: CERROR.NONE, paused: true };
    if (tr.on[T.smmuv3_cmdq_consume]) tr.emit(T.smmuv3_cmdq_consume, ...queueTraceArgs(q));
    if (deps.cmdqErrorPending()) break;
    const addr = entryAddress(q.base, q.cons, q.log2size, CMD_ENTRY_BYTES);
    const raw = deps.read(addr, CMD_ENTRY_BYTES);
    if (!raw) return { executed, error: CERROR.ABT };
    const cmd = decodeCommand(raw);
    if (tr.on[T.smmuv3_cmdq_opcode]) tr.emit(T.smmuv3_cmdq_opcode, commandTraceName(cmd.Opcode));
    deps.onCommand?.(cmd, addr);
    const error = deps.execute ? deps.execute(cmd, deps.target) : executeCommand(cmd, deps.target);
    if (error !== CERROR.NONE) return { executed, error, failedOpcode: cmd.Opcode };
    q.cons = consIncrement(q.cons, q.log2size);
    executed++;
  }
  return { executed, error: CERROR.NONE };
}
