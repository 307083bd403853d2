/**
 * The RFC `smmu-testdev` (PCI 1b36:0005; patchew 13b5f580), docs/devices.md#smmu-testdev: a DMA engine run
 * by a read of ID, a builder writing fixed S1/S2/nested translation tables into guest RAM, and a
 * clear that also pushes CFGI_STE/CFGI_CD/TLBI_NSNH_ALL into the SMMU command queue by MMIO.
 * Its DMA and commands use the StreamID from the `device`/`function` props, not the bus slot.
 * Deviation: the configurations on which the RFC aborts QEMU report TRANS_STATUS 0xDEAD3001.
 */
import { loadLE, toLE } from '../memory/bytes.js';
import type { RegisterFile } from '../memory/register-file.js';
import type { RegisterTable } from '../memory/register-file.js';
import type { BusAccess, MemTxAttrs } from '../memory/types.js';
import { NO_ATTRS } from '../memory/types.js';
import { PciDevice } from '../pci/pci-device.js';
import { setTestdevIdentity, TESTDEV_BAR0_BYTES, testdevRegisterBar } from './testdev-bar.js';
import { prop } from './declaration.js';
import type { DeviceDeclaration } from './declaration.js';
import { settleOnLimit } from './work-limit.js';
import { MmioGuard } from './reentrancy.js';

export interface SmmuTestdevProps {
  /** PCI device number used for the StreamID (0–31; default 0). */
  device?: number;
  /** PCI function number used for the StreamID (0–7; default 1). */
  function?: number;
  debugLog?: boolean;
}

export const SMMU_TESTDEV_ID = 0x53544d4d; // "STMM"
const SPACE_NONSECURE = 1;
const ATTR_NS_VALUE = BigInt(SPACE_NONSECURE << 1);
const DMA_MAX_BYTES = 65536n;

export const SMMU_TESTDEV_STATUS = {
  DMA_IDLE: 0xffffffff,
  DMA_BUSY: 0xfffffffe,
  DMA_BAD_LEN: 0xdead0001,
  DMA_TX_FAIL: 0xdead0002,
  TRANS_UNSUPPORTED: 0xdead3001,
  TRANS_WRITE64_FAIL: 0xdead2011,
  TRANS_WRITE32_FAIL: 0xdead2012,
} as const;

export const SMMU_TESTDEV_REGISTERS = {
  ID: { offset: 0x00, width: 32, access: 'ro', read: 'runDma', write: 'refreshAttrs' },
  ATTR_NS: { offset: 0x04, width: 32, access: 'ro', reset: ATTR_NS_VALUE },
  SMMU_BASE_LO: { offset: 0x20, width: 32, access: 'rw' },
  SMMU_BASE_HI: { offset: 0x24, width: 32, access: 'rw' },
  DMA_IOVA_LO: { offset: 0x28, width: 32, access: 'rw' },
  DMA_IOVA_HI: { offset: 0x2c, width: 32, access: 'rw' },
  DMA_LEN: { offset: 0x30, width: 32, access: 'rw' },
  /** 0 device→host (DMA write of the pattern), 1 host→device (DMA read). */
  DMA_DIR: { offset: 0x34, width: 32, access: 'rw', write: 'dmaDir' },
  DMA_RESULT: { offset: 0x38, width: 32, access: 'rw', reset: 0xffffffffn },
  DMA_DOORBELL: { offset: 0x3c, width: 32, access: 'wo', write: 'dmaDoorbell' },
  /** bit 0: 0 legacy PCI DMA, 1 attribute path. */
  DMA_MODE: { offset: 0x40, width: 32, access: 'rw', writeMask: 0x1n },
  /** bit 0 secure, bits 2:1 space, bit 3 "unspecified" (bypass the SMMU in mode 1). */
  DMA_ATTRS: { offset: 0x44, width: 32, access: 'rw' },
  /** 0 S1, 1 S2 (reset), 2 nested. */
  TRANS_MODE: { offset: 0x48, width: 32, access: 'rw', writeMask: 0x3n, reset: 1n },
  S1_SPACE: { offset: 0x4c, width: 32, access: 'rw', writeMask: 0x3n, reset: 1n },
  S2_SPACE: { offset: 0x50, width: 32, access: 'rw', writeMask: 0x3n, reset: 1n },
  TRANS_DBELL: { offset: 0x54, width: 32, access: 'wo', write: 'transDoorbell' },
  TRANS_STATUS: { offset: 0x58, width: 32, access: 'ro' },
  TRANS_CLEAR: { offset: 0x5c, width: 32, access: 'wo', write: 'transClear' },
} as const satisfies RegisterTable;

/**
 * §9.3 builder constants, physical addresses with the Non-secure offset (+0x40000000) applied.
 * Each table is written in order with 64-bit stores.
 */
export const SMMU_TESTDEV_TABLES = {
  /** Written in every mode: the walk for IOVA 0x8080604567 (indices 1, 2, 3, 4). */
  always: [
    [0x4e4d0008n, 0x000000004e4d1003n],
    [0x4e4d1010n, 0x000000004e4d2003n],
    [0x4e4d2018n, 0x000000004e4d3003n],
    [0x4e4d3020n, 0x040000004ecba7c3n],
  ],
  /** S1 and nested, after the CD: the leaf again with AP = 0b01 (stage-1 read/write). */
  s1Leaf: [[0x4e4d3020n, 0x040000004ecba743n]],
  /** Nested only: stage-2 mappings for the CD page, the S1 table pages and the output page. */
  nested: [
    [0x4e4d0000n, 0x000000004e4d1003n],
    [0x4e4d1008n, 0x000000004e4d2003n],
    [0x4e4d2380n, 0x000000004e4d3003n],
    [0x4e4d3bc8n, 0x040000004e179743n],
    [0x4e4d2390n, 0x000000004e4d3003n],
    [0x4e4d3680n, 0x040000004e4d0743n],
    [0x4e4d3688n, 0x040000004e4d1743n],
    [0x4e4d3690n, 0x040000004e4d2743n],
    [0x4e4d3698n, 0x040000004e4d3743n],
    [0x4e4d23b0n, 0x000000004e4d3003n],
    [0x4e4d35d0n, 0x040000004ecba7c3n],
  ],
  /** §9.4 step 1: entries zeroed by TRANS_CLEAR (the S1 walk, then the CD's stage-2 walk). */
  cleared: [0x4e4d0008n, 0x4e4d1010n, 0x4e4d2018n, 0x4e4d3020n, 0x4e4d0000n, 0x4e4d1008n, 0x4e4d2380n, 0x4e4d3bc8n],
  steAddress: 0x4e179040n,
  cdAddress: 0x4e179080n,
} as const satisfies {
  always: ReadonlyArray<readonly [bigint, bigint]>;
  s1Leaf: ReadonlyArray<readonly [bigint, bigint]>;
  nested: ReadonlyArray<readonly [bigint, bigint]>;
  cleared: readonly bigint[];
  steAddress: bigint;
  cdAddress: bigint;
};

const TRANS_MODE = { S1: 0, S2: 1, NESTED: 2 } as const;
/** STE.Config per translation mode (5 S1, 6 S2, 7 nested). */
const STE_CONFIG: Record<number, number> = { [TRANS_MODE.S1]: 5, [TRANS_MODE.S2]: 6, [TRANS_MODE.NESTED]: 7 };

/**
 * STE words 0–7: V = 1, Config, S1ContextPtr = CD address; S2T0SZ 0x14, S2SL0 2, S2TG 0, S2PS 5,
 * S2AA64 1 (word 5); S2TTB 0x4E4D0000 (word 6). Layout per docs/smmu.md.
 */
export function steWords(config: number): number[] {
  const cd = Number(SMMU_TESTDEV_TABLES.cdAddress);
  const w0 = ((cd & 0xffffffc0) | (config << 1) | 1) >>> 0;
  const w5 = 0x14 | (2 << 6) | (0 << 14) | (5 << 16) | (1 << 19);
  return [w0, 0, 0, 0, 0, w5, 0x4e4d0000, 0];
}

/**
 * CD words 0–7: T0SZ 0x10, TG0 0, EPD1 1, V 1 (word 0); IPS 4, AA64, R, A, ASID 0x1E20 (word 1);
 * TTB0 0x4E4D0000 (word 2). Layout per docs/smmu.md.
 */
export function cdWords(): number[] {
  const w0 = (0x10 | (1 << 30) | (1 << 31)) >>> 0;
  const w1 = (4 | (1 << 9) | (1 << 13) | (1 << 14) | (0x1e20 << 16)) >>> 0;
  return [w0, w1, 0x4e4d0000, 0, 0, 0, 0, 0];
}

/** SMMU command opcodes pushed by TRANS_CLEAR (IHI 0070 names). */
const CMD = { CFGI_STE: 0x03, CFGI_CD: 0x05, TLBI_NSNH_ALL: 0x30 } as const;
/** SMMU register offsets the device touches (page 0). */
const SMMU_REG = { CMDQ_BASE_LO: 0x90n, CMDQ_BASE_HI: 0x94n, CMDQ_PROD: 0x98n } as const;
const CMDQ_BASE_ADDR_MASK = 0x000ffffffffffc0n;

export class SmmuTestdev extends PciDevice {
  /** QEMU's re-entrancy guard over the BAR (reentrancy.ts). */
  readonly mmioGuard = new MmioGuard(() => this.ctx.log);
  readonly typeName = 'smmu-testdev';
  readonly regs: RegisterFile<typeof SMMU_TESTDEV_REGISTERS>;
  /** devfn the device claims for DMA and commands (props), independent of its bus slot. */
  readonly streamDevfn: number;
  readonly props: Required<SmmuTestdevProps>;
  private dmaPending = false;

  constructor(props: SmmuTestdevProps = {}) {
    super();
    this.props = { device: props.device ?? 0, function: props.function ?? 1, debugLog: props.debugLog ?? false };
    this.streamDevfn = ((this.props.device & 0x1f) << 3) | (this.props.function & 7);
    setTestdevIdentity(this.config);
    this.regs = testdevRegisterBar('smmu-testdev', SMMU_TESTDEV_REGISTERS, {
      read: {
        runDma: () => {
          this.maybeRunDma();
          return BigInt(SMMU_TESTDEV_ID);
        },
      },
      write: {
        refreshAttrs: (w) => {
          if (w.data === 1n) this.regs.set('ATTR_NS', ATTR_NS_VALUE);
        },
        dmaDir: (w) => (w.data !== 0n ? 1n : 0n),
        dmaDoorbell: (w) => {
          this.dmaPending = (w.data & 1n) !== 0n;
          this.setReg('DMA_RESULT', this.dmaPending ? SMMU_TESTDEV_STATUS.DMA_BUSY : SMMU_TESTDEV_STATUS.DMA_IDLE);
        },
        transDoorbell: (w) => {
          if (w.data & 2n) this.setReg('TRANS_STATUS', 0);
          if (w.data & 1n) this.buildTranslation();
        },
        transClear: () => {
          this.clearTranslation();
        },
      },
    });
    this.addBar({ index: 0, size: TESTDEV_BAR0_BYTES, kind: 'mem32', region: this.mmioGuard.wrap(this.regs) });
  }

  /** StreamID override: bus 0, devfn from the props (the config space stays at the bus slot). */
  override requesterId(): number {
    return this.streamDevfn;
  }

  private setReg(name: keyof typeof SMMU_TESTDEV_REGISTERS, value: number): void {
    this.regs.set(name, BigInt(value));
  }

  /** DMA on ID read (§9.2): pattern 0xA0 + (i & 0x1F) out, or a discarded read in. */
  private maybeRunDma(): void {
    if (!this.dmaPending) return;
    this.dmaPending = false;
    const length = this.regs.get('DMA_LEN');
    if (length === 0n || length > DMA_MAX_BYTES) {
      this.setReg('DMA_RESULT', SMMU_TESTDEV_STATUS.DMA_BAD_LEN);
      return;
    }
    const iova = (this.regs.get('DMA_IOVA_HI') << 32n) | this.regs.get('DMA_IOVA_LO');
    let bus: BusAccess = this.ctx.dma;
    let attrs: MemTxAttrs = NO_ATTRS;
    if (this.regs.get('DMA_MODE') === 1n) {
      const cfg = Number(this.regs.get('DMA_ATTRS'));
      // Only the Non-secure space is supported; anything else falls back to it.
      const unspecified = (cfg & 8) !== 0;
      attrs = { secure: false, space: SPACE_NONSECURE, unspecified };
      bus = unspecified ? this.ctx.memory : (this.ctx.iommu ?? this.ctx.dma);
    }
    const buf = new Uint8Array(Number(length));
    const read = this.regs.get('DMA_DIR') === 1n;
    if (!read) for (let i = 0; i < buf.length; i++) buf[i] = 0xa0 + (i & 0x1f);
    // Out of work budget mid-transfer: idle, DMA_TX_FAIL (docs/devices.md#smmu-testdev).
    const r = settleOnLimit(
      () => (read ? bus.readBytes(iova, buf, attrs) : bus.writeBytes(iova, buf, attrs)),
      () => this.setReg('DMA_RESULT', SMMU_TESTDEV_STATUS.DMA_TX_FAIL),
    );
    this.setReg('DMA_RESULT', r === 'ok' ? 0 : SMMU_TESTDEV_STATUS.DMA_TX_FAIL);
  }

  /** A 64-bit (table) or 32-bit (STE/CD word) store to physical memory; returns the status code. */
  private store(addr: bigint, value: bigint, bytes: 4 | 8): number {
    const r = this.ctx.memory.writeBytes(addr, toLE(value, bytes), { secure: false, space: SPACE_NONSECURE });
    if (r === 'ok') return 0;
    return bytes === 8 ? SMMU_TESTDEV_STATUS.TRANS_WRITE64_FAIL : SMMU_TESTDEV_STATUS.TRANS_WRITE32_FAIL;
  }

  private storeTable(entries: ReadonlyArray<readonly [bigint, bigint]>, status: number): number {
    let st = status;
    for (const [addr, value] of entries) st = this.store(addr, value, 8);
    return st;
  }

  /** TRANS_DBELL bit 0 (§9.3). TRANS_STATUS ends as the status of the last store performed. */
  private buildTranslation(): void {
    const mode = Number(this.regs.get('TRANS_MODE'));
    const s1 = Number(this.regs.get('S1_SPACE'));
    const s2 = Number(this.regs.get('S2_SPACE'));
    if (mode > TRANS_MODE.NESTED || s1 !== SPACE_NONSECURE || s2 !== SPACE_NONSECURE) {
      // The RFC asserts (killing QEMU) on these; we report "unsupported" instead (deviation).
      this.setReg('TRANS_STATUS', SMMU_TESTDEV_STATUS.TRANS_UNSUPPORTED);
      return;
    }
    let st = this.storeTable(SMMU_TESTDEV_TABLES.always, 0);
    const ste = steWords(STE_CONFIG[mode]);
    for (let i = 0; i < ste.length; i++) {
      st = this.store(SMMU_TESTDEV_TABLES.steAddress + BigInt(4 * i), BigInt(ste[i]), 4);
      // The RFC stops at a failed STE word without updating TRANS_STATUS.
      if (st !== 0) return;
    }
    if (mode !== TRANS_MODE.S2) {
      const cd = cdWords();
      for (let i = 0; i < cd.length; i++)
        st = this.store(SMMU_TESTDEV_TABLES.cdAddress + BigInt(4 * i), BigInt(cd[i]), 4);
      st = this.storeTable(SMMU_TESTDEV_TABLES.s1Leaf, st);
    }
    if (mode === TRANS_MODE.NESTED) st = this.storeTable(SMMU_TESTDEV_TABLES.nested, st);
    this.setReg('TRANS_STATUS', st);
  }

  /** TRANS_CLEAR (§9.4). TRANS_STATUS is not changed. */
  private clearTranslation(): void {
    for (const addr of SMMU_TESTDEV_TABLES.cleared) this.store(addr, 0n, 8);
    for (let i = 0; i < 8; i++) this.store(SMMU_TESTDEV_TABLES.steAddress + BigInt(4 * i), 0n, 4);
    for (let i = 0; i < 8; i++) this.store(SMMU_TESTDEV_TABLES.cdAddress + BigInt(4 * i), 0n, 4);
    const smmuBase = (this.regs.get('SMMU_BASE_HI') << 32n) | this.regs.get('SMMU_BASE_LO');
    if (smmuBase === 0n) return;
    const sid = this.streamDevfn; // bus 0
    for (const opcode of [CMD.CFGI_STE, CMD.CFGI_CD, CMD.TLBI_NSNH_ALL]) this.pushCommand(smmuBase, opcode, sid);
  }

  /** One command pushed by 32-bit MMIO on the SMMU's registers, as a CPU would (§9.4 step 2). */
  private pushCommand(smmuBase: bigint, opcode: number, sid: number): void {
    const mem = this.ctx.memory;
    const load32 = (off: bigint): bigint => {
      const b = new Uint8Array(4);
      mem.readBytes(smmuBase + off, b);
      return loadLE(b);
    };
    const baseLo = load32(SMMU_REG.CMDQ_BASE_LO);
    const baseHi = load32(SMMU_REG.CMDQ_BASE_HI);
    const base = (baseHi << 32n) | baseLo;
    const log2Entries = base & 0x1fn;
    const prod = load32(SMMU_REG.CMDQ_PROD);
    const entry = (base & CMDQ_BASE_ADDR_MASK) + 16n * (prod & ((1n << log2Entries) - 1n));
    const cmd = new Uint8Array(16);
    cmd.set(toLE(BigInt(opcode), 4), 0);
    cmd.set(toLE(BigInt(sid), 4), 4);
    mem.writeBytes(entry, cmd, { secure: false, space: SPACE_NONSECURE });
    const nextProd = (prod + 1n) & ((1n << (log2Entries + 1n)) - 1n) & 0xffffffffn;
    mem.writeBytes(smmuBase + SMMU_REG.CMDQ_PROD, toLE(nextProd, 4));
  }

  /** Device reset: registers to their realize values; device/function props are kept. */
  protected override resetDevice(): void {
    this.regs.reset();
    this.dmaPending = false;
  }
}

/** The `smmu-testdev` type as the registry lists it. */
export const SMMU_TESTDEV_DEVICE: DeviceDeclaration = {
  name: 'smmu-testdev',
  parent: 'pci-device',
  interfaces: ['conventional-pci-device'],
  category: 'Misc devices',
  bus: 'PCI',
  desc: 'A test device for the SMMU',
  userCreatable: true,
  hotpluggable: true,
  properties: [
    { name: 'debug-log', kind: 'bool', helpDefault: 'off' },
    { name: 'device', kind: 'uint32', helpDefault: '0' },
    { name: 'function', kind: 'uint32', helpDefault: '1' },
  ],
  create: (p) =>
    new SmmuTestdev({
      device: prop.num(p, 'device'),
      function: prop.num(p, 'function'),
      debugLog: prop.bool(p, 'debug-log'),
    }),
};
