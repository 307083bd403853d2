/**
 * Seeded generator of qtest sessions for differential testing against real QEMU 10.2.2.
 *
 * Every session it produces must be (a) deterministic on real QEMU and (b) unable to kill it.
 * It therefore never emits (protocol/bad-input.md, protocol/deviations.md): double spaces,
 * malformed or overflowing numbers, missing arguments, `read` of size 0, ports > 0xffff, CR after a
 * numeric token, `set_irq_in` on a missing input, GIC indices >= 256 while intercepted; and it
 * stays away from what is not deterministic or not comparable: the DTB at 0x40000000-0x400fffff
 * (QEMU's device tree; a listed deviation), short `b64write` payloads (heap garbage), RTC/UART/
 * fw_cfg, flash writes (CFI command mode), edu's factorial (a host thread), out-of-range edu DMA
 * (memory-unsafe in 10.2.2), MSI, and SMMU command-queue processing (CR0.CMDQEN is never set).
 */
import { Rng } from './prng.js';
import { hex } from '../bytes.js';

export const GIC_PATH = '/machine/unattached/device[1]';
export const SMMU_PATH = '/machine/unattached/device[6]';
export const SMMU_BASE = 0x09050000n;
export const ECAM = 0x4010000000n;
export const PIO_BASE = 0x3eff0000n;
export const RAM_BASE = 0x40000000n;
export const DTB_END = 0x40100000n;
export const RAM_END = 0x60000000n; // -m 512
const TOP = 1n << 64n;

export type Group =
  | 'ram'
  | 'ecam'
  | 'windows'
  | 'unassigned'
  | 'smmu'
  | 'virtio'
  | 'irq'
  | 'clock'
  | 'io'
  | 'syntax'
  | 'edu'
  | 'pci-testdev';

export interface GenOptions {
  /** PCI devices on the command line, by devfn (first -device lands at devfn 8 with -net none) */
  edu?: { devfn: number };
  pciTestdev?: { devfn: number };
  /** the SMMU is mapped (iommu=smmuv3); only changes which QOM paths are used */
  smmu: boolean;
  /** groups to draw from, with weights */
  groups: ReadonlyArray<readonly [number, Group]>;
  count: number;
  /**
   * Stay clear of the inputs listed in KNOWN_DEVIATIONS (default false: all of them are fixed and
   * generated; set true to isolate a regression in one of them).
   */
  avoidKnown?: boolean;
}

/** Former qtestd-vs-QEMU differences (all fixed; transcript qtest-pci-intx-gic replays them). */
export const KNOWN_DEVIATIONS = {
  hostBridgeCommandBit6:
    'gpex host bridge (00:00.0) COMMAND bit 6 (parity error response) is read-only in QEMU (writing 0xffff reads back 0x0507); qtestd stores it (0x0547)',
  intxRedriveOnIntDisable:
    'in QEMU, a change of COMMAND.INTx-Disable (bit 10) of any PCI function re-drives the gpex INTx lines (SPI 3..6) with the bus level; a GIC input forced high by set_irq_in is then lowered (IRQ lower N); qtestd does not re-drive',
  gicOutIntercept:
    'irq_intercept_out <gic> sysbus-irq: QEMU answers OK (the GIC has named sysbus-irq outputs) and a later irq_intercept_in on the GIC then intercepts nothing; qtestd answers FAIL No intercepts installed',
} as const;

/** qtest number formats accepted by QEMU's base-0 strtoull (all round-trip to `v` mod 2^64). */
function fmtU(rng: Rng, v: bigint, opts: { negative?: boolean } = {}): string {
  v = ((v % TOP) + TOP) % TOP;
  const style = rng.weighted<string>([
    [60, 'hex'],
    [5, 'HEX'],
    [5, 'hexUpperDigits'],
    [12, 'dec'],
    [8, 'oct'],
    [opts.negative === false || v === 0n ? 0 : 5, 'neg'],
    [3, 'plus'],
    [2, 'zeros'],
  ]);
  switch (style) {
    case 'HEX':
      return '0X' + v.toString(16);
    case 'hexUpperDigits':
      return '0x' + v.toString(16).toUpperCase();
    case 'dec':
      return v.toString(10);
    case 'oct':
      return v === 0n ? '0' : '0' + v.toString(8);
    case 'neg':
      return '-' + (TOP - v).toString(10);
    case 'plus':
      return '+' + hex(v);
    case 'zeros':
      return '0x' + v.toString(16).padStart(rng.range(1, 16), '0');
    default:
      return hex(v);
  }
}

/** signed 64-bit formats (clock arguments); v is a small signed value */
function fmtS(rng: Rng, v: bigint): string {
  if (v < 0n) return '-' + (-v).toString(rng.chance(0.7) ? 10 : 10);
  const style = rng.weighted<string>([
    [55, 'dec'],
    [30, 'hex'],
    [5, 'HEX'],
    [7, 'oct'],
    [3, 'plus'],
  ]);
  switch (style) {
    case 'hex':
      return hex(v);
    case 'HEX':
      return '0X' + v.toString(16);
    case 'oct':
      return v === 0n ? '0' : '0' + v.toString(8);
    case 'plus':
      return '+' + v.toString(10);
    default:
      return v.toString(10);
  }
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

const WIDTH = { b: 1, w: 2, l: 4, q: 8 } as const;
type W = keyof typeof WIDTH;
const WIDTHS: readonly W[] = ['b', 'w', 'l', 'q'];

/** [a, a+len) must not wrap and must not touch the DTB. */
function clean(a: bigint, len: number): boolean {
  const end = a + BigInt(Math.max(len, 1));
  if (end > TOP) return false;
  return end <= RAM_BASE || a >= DTB_END;
}

interface Bar {
  base: bigint;
  size: bigint;
}

export class SessionGenerator {
  readonly out: string[] = [];
  private clock = 0n;
  private intercepted: 'gic' | 'gic-out' | 'smmu' | 'other' | null = null;
  private ramWindows: bigint[];
  // edu state
  private eduBar: Bar | null = null;
  private eduSetup = false;
  private eduDmaDeadline: bigint | null = null;
  // pci-testdev state
  private ptdBar0: Bar | null = null;
  private ptdPort: bigint | null = null;
  private ptdSetup = false;

  constructor(
    readonly rng: Rng,
    readonly opts: GenOptions,
  ) {
    const r = rng;
    this.ramWindows = [DTB_END, RAM_END - 0x1000n];
    for (let i = 0; i < 4; i++) this.ramWindows.push(0x40200000n + BigInt(r.int(0x1fd00)) * 0x1000n);
  }

  private emit(line: string): void {
    this.out.push(line);
  }

  generate(): string[] {
    while (this.out.length < this.opts.count) {
      const g = this.rng.weighted(this.opts.groups);
      this.step(g);
    }
    return this.out;
  }

  step(g: Group): void {
    switch (g) {
      case 'ram':
        return this.ram();
      case 'ecam':
        return this.ecam();
      case 'windows':
        return this.windows();
      case 'unassigned':
        return this.unassigned();
      case 'smmu':
        return this.smmu();
      case 'virtio':
        return this.virtio();
      case 'irq':
        return this.irq();
      case 'clock':
        return this.clockOp();
      case 'io':
        return this.io();
      case 'syntax':
        return this.syntax();
      case 'edu':
        return this.edu();
      case 'pci-testdev':
        return this.pciTestdev();
    }
  }

  // ---------------------------------------------------------------- primitives
  private readX(w: W, a: bigint): void {
    this.emit(`read${w} ${fmtU(this.rng, a)}`);
  }
  private writeX(w: W, a: bigint, v: bigint): void {
    this.emit(`write${w} ${fmtU(this.rng, a)} ${fmtU(this.rng, v)}`);
  }
  private randValue(w: W): bigint {
    const r = this.rng;
    const mask = (1n << BigInt(8 * WIDTH[w])) - 1n;
    return r.weighted<() => bigint>([
      [60, () => r.u64() & mask],
      [15, () => r.u64()], // wider than the access: truncated
      [10, () => BigInt(r.int(256))],
      [10, () => mask],
      [5, () => 0n],
    ])();
  }
  /** `write ADDR SIZE 0xHEX` with well-formed or odd data tokens */
  private writeBytes(a: bigint, size: number, wellFormed = false): void {
    const r = this.rng;
    const data = r.bytes(size);
    let tok = '0x' + Buffer.from(data).toString('hex');
    if (!wellFormed) {
      tok = r.weighted<() => string>([
        [70, () => tok],
        [6, () => tok.slice(0, 2 + 2 * r.int(size + 1))], // short: missing bytes are 0
        [5, () => tok.slice(0, 2 + 2 * r.int(size) + 1)], // odd digit count
        [5, () => tok + Buffer.from(r.bytes(r.range(1, 4))).toString('hex')], // extra digits ignored
        [4, () => '0x' + tok.slice(2).toUpperCase()],
        [3, () => r.pick(['00', 'xx', 'ab']) + tok.slice(2)], // first two chars skipped
        [3, () => tok.slice(0, 2) + 'zz' + tok.slice(4)], // invalid digits
        [2, () => '0x' + tok.slice(2, 2 + r.int(2))], // < 3 chars: ERR invalid argument size
      ])();
      if (tok.length < 3 && r.chance(0.5)) tok = '0x'; // still the ERR case
    }
    this.emit(`write ${fmtU(r, a)} ${fmtU(r, BigInt(size), { negative: false })} ${tok}`);
  }
  private b64WriteBytes(a: bigint, size: number): void {
    const r = this.rng;
    // only payloads that decode to >= SIZE bytes: a shorter one makes QEMU write heap garbage
    const extra = r.chance(0.15) ? r.range(1, 5) : 0;
    let payload = b64(r.bytes(size + extra));
    if (payload.length < 3 || r.chance(0.03)) payload = r.pick(['', 'Q', 'QQ']); // ERR invalid argument size
    if (payload === '') payload = 'QQ';
    this.emit(`b64write ${fmtU(r, a)} ${fmtU(r, BigInt(size), { negative: false })} ${payload}`);
  }
  private readBytes(a: bigint, size: number): void {
    this.emit(`read ${fmtU(this.rng, a)} ${fmtU(this.rng, BigInt(size), { negative: false })}`);
  }
  private b64ReadBytes(a: bigint, size: number): void {
    this.emit(`b64read ${fmtU(this.rng, a)} ${fmtU(this.rng, BigInt(size), { negative: false })}`);
  }
  private memsetBytes(a: bigint, size: number): void {
    const r = this.rng;
    const pat = r.chance(0.8) ? BigInt(r.int(256)) : r.u64();
    this.emit(`memset ${fmtU(r, a)} ${fmtU(r, BigInt(size), { negative: false })} ${fmtU(r, pat)}`);
  }

  /** A mix of every access form on [base, base+span); `writable` = writes allowed there. */
  private accessIn(pickAddr: (len: number, write: boolean) => bigint | null, writable: boolean, maxBytes = 64): void {
    const r = this.rng;
    const kind = r.weighted<string>([
      [30, 'readX'],
      [writable ? 22 : 0, 'writeX'],
      [12, 'read'],
      [8, 'b64read'],
      [writable ? 10 : 0, 'write'],
      [writable ? 7 : 0, 'b64write'],
      [writable ? 7 : 0, 'memset'],
      [2, 'bigread'],
      [writable ? 2 : 0, 'bigwrite'],
    ]);
    const sizeSmall = () =>
      r.weighted<() => number>([
        [50, () => r.range(1, 8)],
        [35, () => r.range(1, maxBytes)],
        [15, () => r.pick([1, 2, 4, 8, 16, 32])],
      ])();
    switch (kind) {
      case 'readX': {
        const w = r.pick(WIDTHS);
        const a = pickAddr(WIDTH[w], false);
        if (a !== null) this.readX(w, a);
        return;
      }
      case 'writeX': {
        const w = r.pick(WIDTHS);
        const a = pickAddr(WIDTH[w], true);
        if (a !== null) this.writeX(w, a, this.randValue(w));
        return;
      }
      case 'read': {
        const n = sizeSmall();
        const a = pickAddr(n, false);
        if (a !== null) this.readBytes(a, n);
        return;
      }
      case 'b64read': {
        const n = r.chance(0.08) ? 0 : sizeSmall();
        const a = pickAddr(n, false);
        if (a !== null) this.b64ReadBytes(a, n);
        return;
      }
      case 'write': {
        const n = r.chance(0.03) ? 0 : sizeSmall();
        const a = pickAddr(n, true);
        if (a !== null) this.writeBytes(a, n);
        return;
      }
      case 'b64write': {
        const n = r.chance(0.03) ? 0 : sizeSmall();
        const a = pickAddr(n, true);
        if (a !== null) this.b64WriteBytes(a, n);
        return;
      }
      case 'memset': {
        const n = r.chance(0.05) ? 0 : r.chance(0.1) ? r.range(1, 4096) : sizeSmall();
        const a = pickAddr(n, true);
        if (a !== null) this.memsetBytes(a, n);
        return;
      }
      case 'bigread': {
        const n = r.range(256, 4096);
        const a = pickAddr(n, false);
        if (a === null) return;
        if (r.chance(0.5)) this.readBytes(a, n);
        else this.b64ReadBytes(a, n);
        return;
      }
      case 'bigwrite': {
        const n = r.range(256, 2048);
        const a = pickAddr(n, true);
        if (a === null) return;
        if (r.chance(0.5)) this.writeBytes(a, n, true);
        else this.b64WriteBytes(a, n);
        return;
      }
    }
  }

  // ---------------------------------------------------------------- RAM
  private ramAddr(len: number): bigint | null {
    const r = this.rng;
    const w = r.pick(this.ramWindows);
    let a: bigint;
    if (w === RAM_END - 0x1000n) {
      // straddle the end of RAM (the rest is unassigned)
      a = RAM_END - BigInt(r.range(0, 64)) + BigInt(r.range(0, 16)) - 8n;
    } else {
      a = w + BigInt(r.int(0x2000));
    }
    return clean(a, len) ? a : null;
  }
  private ram(): void {
    this.accessIn((n) => this.ramAddr(n), true, 256);
  }

  // ---------------------------------------------------------------- ECAM
  private deviceDevfns(): number[] {
    const out: number[] = [];
    if (this.opts.edu) out.push(this.opts.edu.devfn);
    if (this.opts.pciTestdev) out.push(this.opts.pciTestdev.devfn);
    return out;
  }
  private ecamAddr(bus: number, devfn: number, off: number): bigint {
    return ECAM + (BigInt(bus) << 20n) + (BigInt(devfn) << 12n) + BigInt(off);
  }
  private ecam(): void {
    const r = this.rng;
    const devs = this.deviceDevfns();
    const bus = r.chance(0.9) ? 0 : r.range(1, 255);
    const who = r.weighted<string>([
      [50, 'host'],
      [devs.length ? 20 : 0, 'dev'],
      [30, 'empty'],
    ]);
    let devfn = 0;
    if (who === 'dev') devfn = r.pick(devs);
    else if (who === 'empty') {
      do devfn = r.int(256);
      while (devfn === 0 || devs.includes(devfn));
    }
    const off = () =>
      r.weighted<() => number>([
        [70, () => r.int(0x40)],
        [20, () => r.range(0x40, 0xff)],
        [10, () => r.int(0x1000)],
      ])();
    const writable = bus !== 0 || who !== 'dev'; // device config writes are done by the device groups
    if (who === 'host' && bus === 0 && r.chance(0.25)) {
      // host bridge: the registers with write masks, and BAR sizing (it has no BARs)
      const reg = r.chance(0.8)
        ? r.pick([0x04, 0x05, 0x06, 0x0c, 0x0d, 0x0f, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x30, 0x3c, 0x3d])
        : r.int(0x1000);
      const w = r.chance(0.3) ? 'l' : r.pick(WIDTHS);
      const a = r.chance(0.3) ? BigInt(reg) & ~BigInt(WIDTH[w] - 1) : BigInt(reg);
      if (a + BigInt(WIDTH[w]) > 0x1000n) return;
      const v = r.chance(0.3) ? (1n << BigInt(8 * WIDTH[w])) - 1n : this.randValue(w);
      this.writeX(w, ECAM + a, this.maskKnownCommandBits(Number(a), WIDTH[w], v));
      this.readX(r.pick(WIDTHS), ECAM + (a & ~3n));
      return;
    }
    const hostBridge = bus === 0 && who === 'host';
    this.accessIn(
      (n, write) => {
        const o = off();
        if (o + n > 0x1000 && r.chance(0.7)) return null;
        // host-bridge writes covering COMMAND go through the path above (known deviation masks)
        if (write && hostBridge && this.avoidKnown && o <= 0x05 && o + n > 0x04) return null;
        return this.ecamAddr(bus, devfn, o);
      },
      writable,
      16,
    );
  }

  private get avoidKnown(): boolean {
    return this.opts.avoidKnown === true;
  }
  /** clear host-bridge COMMAND bit 6 in a write of `len` bytes at config offset `off` */
  private maskKnownCommandBits(off: number, len: number, v: bigint): bigint {
    if (!this.avoidKnown) return v;
    for (const [byteOff, bit] of [[0x04, 6]] as const) {
      if (off <= byteOff && off + len > byteOff) v &= ~(1n << BigInt(8 * (byteOff - off) + bit));
    }
    return v;
  }

  // ---------------------------------------------------------------- PCI windows
  private avoidBars(a: bigint, len: number): boolean {
    const end = a + BigInt(Math.max(len, 1));
    for (const b of [this.eduBar, this.ptdBar0]) {
      if (b && a < b.base + b.size && end > b.base) return false;
    }
    if (this.ptdPort !== null) {
      const pb = PIO_BASE + this.ptdPort;
      if (a < pb + 0x100n && end > pb) return false;
    }
    return true;
  }
  private windows(): void {
    const r = this.rng;
    this.accessIn(
      (n) => {
        const a = r.weighted<() => bigint>([
          [40, () => 0x10000000n + BigInt(r.int(0x2eff0000))],
          [10, () => 0x3eff0000n - BigInt(r.range(1, 16))], // MMIO -> PIO boundary
          [25, () => PIO_BASE + BigInt(r.int(0x10000))],
          [5, () => 0x3f000000n - BigInt(r.range(1, 16))], // PIO -> low ECAM (unassigned)
          [20, () => 0x8000000000n + r.bigRange(0n, 0x7fffffffffn)],
        ])();
        return clean(a, n) && this.avoidBars(a, n) ? a : null;
      },
      true,
      32,
    );
  }

  // ---------------------------------------------------------------- unassigned space
  private unassigned(): void {
    const r = this.rng;
    const where = r.weighted<string>([
      [15, 'flash'],
      [10, 'platform'],
      [15, 'lowecam'],
      [30, 'aboveRam'],
      [25, 'high'],
      [5, 'top'],
    ]);
    const writable = where !== 'flash' && where !== 'top';
    this.accessIn(
      (n) => {
        let a: bigint;
        switch (where) {
          case 'flash':
            a = BigInt(r.int(0x08000000));
            break;
          case 'platform':
            a = 0x0c000000n + BigInt(r.int(0x02000000));
            break;
          case 'lowecam':
            a = 0x3f000000n + BigInt(r.int(0x01000000));
            break;
          case 'aboveRam':
            a = r.chance(0.3) ? RAM_END + BigInt(r.int(64)) : r.bigRange(RAM_END, 0x3fffff0000n);
            break;
          case 'high':
            a = r.bigRange(0x10000000000n, 0xfffffffffffff000n);
            break;
          default:
            a = TOP - BigInt(r.range(1, 16));
        }
        if (where === 'top' && n <= 8) return a; // reads that run off the top are fine (oddities: readl -1)
        if (where === 'lowecam' && a + BigInt(n) > 0x40000000n) return null;
        return clean(a, n) ? a : null;
      },
      writable,
      32,
    );
  }

  // ---------------------------------------------------------------- SMMU register page
  private static SMMU_REGS = [
    0x00, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x28, 0x2c, 0x40, 0x44, 0x4c, 0x50, 0x54, 0x60, 0x64,
    0x68, 0x6c, 0x70, 0x74, 0x80, 0x84, 0x88, 0x90, 0x94, 0x98, 0x9c, 0xa0, 0xa4, 0xa8, 0xac, 0xb0, 0xb4, 0xb8, 0xbc,
    0xc0, 0xc8, 0xcc, 0xd0, 0xdc, 0xfd0, 0xfd4, 0xfd8, 0xfdc, 0xfe0, 0xfe4, 0xfe8, 0xfec, 0xff0, 0xff4, 0xff8, 0xffc,
    0x8000, 0x8004, 0x8020, 0x8044,
  ];
  /** bytes [off, off+len) of the SMMU page a write may cover: never CR0 with CMDQEN (bit 3) */
  private smmuWriteOk(off: number, len: number, value: bigint | null): boolean {
    for (let i = 0; i < len; i++) {
      const o = (off + i) & 0xffff;
      if (o >= 0x20 && o < 0x24) {
        if (value === null) return false;
        if (o === 0x20 && ((value >> BigInt(8 * i)) & 0x8n) !== 0n) return false;
      }
    }
    return true;
  }
  private smmu(): void {
    const r = this.rng;
    const pickOff = () =>
      r.weighted<() => number>([
        [60, () => r.pick(SessionGenerator.SMMU_REGS)],
        [10, () => r.pick(SessionGenerator.SMMU_REGS) | 0x10000], // page 1 aliases page 0
        [15, () => r.int(0x1000) & ~3],
        [10, () => r.int(0x20000)],
        [5, () => r.pick(SessionGenerator.SMMU_REGS) + r.range(1, 3)],
      ])();
    if (r.chance(0.55)) {
      // reads
      const off = pickOff();
      if (r.chance(0.8)) this.readX(r.pick(WIDTHS), SMMU_BASE + BigInt(off));
      else if (r.chance(0.5)) this.readBytes(SMMU_BASE + BigInt(off), r.pick([1, 2, 4, 8, 16]));
      else this.b64ReadBytes(SMMU_BASE + BigInt(off), r.pick([4, 8, 16, 32]));
      return;
    }
    // writes, restricted to what is safe
    const off = pickOff();
    const base = off & 0xffff;
    const w = r.weighted<W>([
      [70, 'l'],
      [20, 'q'],
      [5, 'b'],
      [5, 'w'],
    ]);
    let v = this.randValue(w);
    if (base === 0x20 || base === 0x1c) v &= ~(0x8n << (base === 0x1c ? 32n : 0n)); // CR0: never CMDQEN
    if (base === 0x44 && r.chance(0.6)) v |= 0x80000000n; // GBPA update
    if (!this.smmuWriteOk(off, WIDTH[w], v)) return;
    this.writeX(w, SMMU_BASE + BigInt(off), v);
    if (r.chance(0.6)) this.readX(r.pick<W>(['l', 'l', 'q']), SMMU_BASE + BigInt(off & ~3));
    if (r.chance(0.1)) {
      // byte-level writes that stay clear of CR0
      const o = r.pick([0x28, 0x2c, 0x50, 0x68, 0x80, 0x88, 0x90, 0xa0, 0xb0]);
      const n = r.pick([4, 8]);
      if (this.smmuWriteOk(o, n, null)) {
        if (r.chance(0.5)) this.writeBytes(SMMU_BASE + BigInt(o), n, true);
        else this.memsetBytes(SMMU_BASE + BigInt(o), n);
        this.readX('q', SMMU_BASE + BigInt(o & ~7));
      }
    }
  }

  // ---------------------------------------------------------------- virtio-mmio
  private virtio(): void {
    const r = this.rng;
    const t = BigInt(r.int(32));
    const base = 0x0a000000n + t * 0x200n;
    const regs = [
      0x000, 0x004, 0x008, 0x00c, 0x010, 0x014, 0x020, 0x024, 0x028, 0x030, 0x034, 0x038, 0x03c, 0x040, 0x044, 0x050,
      0x060, 0x064, 0x070, 0x080, 0x084, 0x090, 0x094, 0x0a0, 0x0a4, 0x0ac, 0x0b0, 0x0b4, 0x0b8, 0x0bc, 0x0c0, 0x0fc,
      0x100, 0x104, 0x1fc,
    ];
    const off = BigInt(r.chance(0.75) ? r.pick(regs) : r.int(0x200));
    if (r.chance(0.7)) {
      if (r.chance(0.85)) this.readX(r.pick(WIDTHS), base + off);
      else this.readBytes(base + off, r.range(1, 16));
    } else {
      const w = r.weighted<W>([
        [70, 'l'],
        [10, 'b'],
        [10, 'w'],
        [10, 'q'],
      ]);
      this.writeX(w, base + off, this.randValue(w));
      this.readX('l', base + (off & ~3n));
    }
  }

  // ---------------------------------------------------------------- IRQ interception
  private irq(): void {
    const r = this.rng;
    const k = r.weighted<string>([
      [this.intercepted ? 3 : 25, 'intercept-gic'],
      [55, 'set'],
      [4, 'unknown'],
      [4, 'named'],
      [3, 'out-gic'],
      [this.avoidKnown ? 0 : 3, 'out-gic-named'],
      [this.opts.smmu ? 3 : 0, 'smmu'],
      [3, 'flush'],
    ]);
    switch (k) {
      case 'intercept-gic':
        this.emit(`irq_intercept_in ${GIC_PATH}`);
        if (!this.intercepted) this.intercepted = 'gic';
        return;
      case 'set': {
        // with the GIC intercepted only 0..255 are safe (QEMU's level cache has 256 slots)
        const max = this.intercepted === 'gic' || this.intercepted === null ? 255 : 255;
        let n = r.chance(0.3) ? r.range(3, 6) : r.chance(0.3) ? r.range(74, 77) : r.range(0, max);
        if (this.avoidKnown && n >= 3 && n <= 6) n = r.pick([0, 1, 2, 7, 8, 9, 16, 47, 48, 74, 255]);
        const level = r.weighted<number>([
          [45, 1],
          [45, 0],
          [4, 2],
          [3, -1],
          [3, 7],
        ]);
        const nTok = r.chance(0.8) ? String(n) : hex(n);
        const lTok = level < 0 ? String(level) : r.chance(0.85) ? String(level) : hex(level);
        this.emit(`set_irq_in ${GIC_PATH} unnamed-gpio-in ${nTok} ${lTok}`);
        return;
      }
      case 'unknown':
        this.emit(
          `${r.pick(['irq_intercept_in', 'irq_intercept_out'])} ${r.pick(['/machine/nonexistent', '/machine/unattached/device[999]', '/nothing'])}`,
        );
        return;
      case 'named':
        this.emit(`irq_intercept_in ${GIC_PATH} ${r.pick(['foo', 'sysbus-irq', 'unnamed-gpio-in'])}`);
        return;
      case 'out-gic':
        this.emit(`irq_intercept_out ${GIC_PATH}`);
        return;
      case 'out-gic-named':
        this.emit(`irq_intercept_out ${GIC_PATH} sysbus-irq`);
        if (!this.intercepted) this.intercepted = 'gic-out';
        return;
      case 'smmu':
        this.emit(`irq_intercept_out ${SMMU_PATH} sysbus-irq`);
        if (!this.intercepted) this.intercepted = 'smmu';
        return;
      case 'flush':
        this.emit('inb 0x0');
        return;
    }
  }

  // ---------------------------------------------------------------- clock
  /** advance the model clock to `t`, firing the edu DMA if due */
  private advanceTo(t: bigint): void {
    this.clock = t;
    if (this.eduDmaDeadline !== null && this.clock >= this.eduDmaDeadline) this.eduDmaDeadline = null;
  }
  private clockOp(): void {
    const r = this.rng;
    const k = r.weighted<string>([
      [35, 'step'],
      [10, 'step0'],
      [10, 'stepNeg'],
      [15, 'next'],
      [10, 'setPast'],
      [8, 'setNow'],
      [12, 'setFuture'],
    ]);
    switch (k) {
      case 'step': {
        const n = BigInt(
          r.weighted<() => number>([
            [40, () => r.range(1, 1000)],
            [40, () => r.range(1, 1_000_000)],
            [20, () => r.range(1, 200_000_000)],
          ])(),
        );
        this.emit(`clock_step ${fmtS(r, n)}`);
        this.advanceTo(this.clock + n);
        return;
      }
      case 'step0':
        this.emit(`clock_step ${r.pick(['0', '0x0', '00', '-0'])}`);
        return;
      case 'stepNeg':
        this.emit(`clock_step ${fmtS(r, -BigInt(r.range(1, 1_000_000)))}`);
        return;
      case 'next':
        this.emit('clock_step');
        if (this.eduDmaDeadline !== null) this.advanceTo(this.eduDmaDeadline);
        return;
      case 'setPast':
        if (this.clock === 0n) this.emit(`clock_set ${fmtS(r, -BigInt(r.range(1, 1000)))}`);
        else
          this.emit(
            `clock_set ${fmtS(r, this.clock - 1n - BigInt(r.int(Number(this.clock > 1000000n ? 1000000n : this.clock - 1n) + 1)))}`,
          );
        return;
      case 'setNow':
        this.emit(`clock_set ${fmtS(r, this.clock)}`);
        return;
      case 'setFuture': {
        const t = this.clock + BigInt(r.range(1, 300_000_000));
        this.emit(`clock_set ${fmtS(r, t)}`);
        this.advanceTo(t);
        return;
      }
    }
  }

  // ---------------------------------------------------------------- port I/O
  private io(): void {
    const r = this.rng;
    const w = r.pick(['b', 'w', 'l'] as const);
    const port = BigInt(
      r.weighted<() => number>([
        [40, () => r.int(0x100)],
        [40, () => r.int(0x10000)],
        [20, () => 0xffff - r.int(4)],
      ])(),
    );
    const pTok = fmtU(r, port, { negative: false });
    if (r.chance(0.6)) this.emit(`in${w} ${pTok}`);
    else this.emit(`out${w} ${pTok} ${fmtU(r, this.randValue(w === 'b' ? 'b' : w === 'w' ? 'w' : 'l'))}`);
  }

  // ---------------------------------------------------------------- tokenizer corners that do not kill QEMU
  private syntax(): void {
    const r = this.rng;
    const a = this.ramAddr(1) ?? DTB_END;
    const k = r.int(14);
    switch (k) {
      case 0:
        return this.emit('endianness');
      case 1:
        return this.emit(
          r.pick(['READB 0x0', 'Readl 0x0', 'foo', 'clock', 'rtas', 'csr get_csr 0 0', 'qom-tests', 'x']),
        );
      case 2:
        return this.emit(` readb ${hex(a)}`); // leading space: FAIL Unknown command ''
      case 3:
        return this.emit(r.pick(['#', '# a comment', '#readb 0x0']));
      case 4:
        return this.emit('\t');
      case 5:
        return this.emit(`readb ${hex(a)} `); // trailing single space is fine
      case 6:
        return this.emit(`readl ${hex(a)} extra tokens are ignored`);
      case 7:
        return this.emit(''); // blank line: no reply
      case 8:
        return this.emit('module_load foo bar');
      case 9:
        return this.emit(r.pick(['endianness\r', 'foo\r'])); // CR stays in the (non-numeric) token
      case 10:
        return this.emit(`write ${hex(a)} 0x4 ${r.pick(['0x', '0', 'ab'])}`); // ERR invalid argument size
      case 11:
        return this.emit(`b64write ${hex(a)} 0x4 ${r.pick(['QQ', 'A', '=='])}`);
      case 12:
        return this.emit(`endianness ${r.pick(['big', 'x', '0'])}`);
      default:
        return this.emit(`memset ${hex(a)} 0x0 0x12`);
    }
  }

  // ---------------------------------------------------------------- edu
  private eduSetupSeq(): void {
    const r = this.rng;
    const devfn = this.opts.edu!.devfn;
    const cfg = (off: number) => this.ecamAddr(0, devfn, off);
    this.readX('l', cfg(0));
    this.writeX('l', cfg(0x10), 0xffffffffn);
    this.readX('l', cfg(0x10)); // sizing: 0xfff00000
    const bar = 0x10000000n + BigInt(r.int(0x2e0)) * 0x100000n;
    this.writeX('l', cfg(0x10), bar);
    this.writeX('w', cfg(0x04), 0x0007n);
    this.readX('w', cfg(0x04));
    this.eduBar = { base: bar, size: 0x100000n };
    this.emit(`irq_intercept_in ${GIC_PATH}`);
    if (!this.intercepted) this.intercepted = 'gic';
    this.eduSetup = true;
  }
  private edu(): void {
    const r = this.rng;
    if (!this.opts.edu) return;
    if (!this.eduSetup) return this.eduSetupSeq();
    const B = this.eduBar!.base;
    const devfn = this.opts.edu.devfn;
    const k = r.weighted<string>([
      [25, 'read'],
      [10, 'live'],
      [6, 'status'],
      [10, 'raise'],
      [8, 'ack'],
      [12, 'dma'],
      [8, 'clock'],
      [5, 'cmdreg'],
      [6, 'cfgread'],
      [5, 'junk'],
      [3, 'unaligned'],
    ]);
    switch (k) {
      case 'read': {
        const off = r.chance(0.8)
          ? r.pick([
              0x00, 0x04, 0x08, 0x0c, 0x20, 0x24, 0x28, 0x60, 0x64, 0x80, 0x84, 0x88, 0x90, 0x98, 0xa0, 0x100, 0x7c,
              0x78,
            ])
          : r.int(0x100000);
        const w = r.weighted<W>([
          [60, 'l'],
          [15, 'q'],
          [10, 'b'],
          [10, 'w'],
        ]);
        if (off + WIDTH[w] <= 0x100000) this.readX(w, B + BigInt(off));
        return;
      }
      case 'live':
        if (r.chance(0.8)) this.writeX('l', B + 4n, this.randValue('l'));
        else this.writeBytes(B + 4n, 4, true);
        this.readX('l', B + 4n);
        return;
      case 'status':
        this.writeX('l', B + 0x20n, BigInt(r.pick([0, 0x80, 0x81, 0xffffffff, 0x1])));
        this.readX('l', B + 0x20n);
        return;
      case 'raise':
        this.writeX('l', B + 0x60n, BigInt(r.pick([0x1, 0x100, 0x101, 0, 0xdeadbeef])));
        this.readX('l', B + 0x24n);
        return;
      case 'ack':
        this.writeX('l', B + 0x64n, BigInt(r.pick([0x1, 0x100, 0x101, 0xffffffff, 0])));
        this.readX('l', B + 0x24n);
        return;
      case 'dma': {
        if (this.eduDmaDeadline !== null) {
          // DMA registers are frozen while RUN is set: writes are dropped (deterministic)
          this.writeX('l', B + BigInt(r.pick([0x80, 0x88, 0x90])), this.randValue('l'));
          this.readX('l', B + 0x98n);
          return;
        }
        const count = r.chance(0.8) ? r.range(1, 0x100) : r.range(1, 0x1000);
        const dev = 0x40000 + r.int(0x1000 - count + 1);
        const ram = this.ramAddr(count);
        if (ram === null || ram + BigInt(count) > RAM_END) return;
        const toRam = r.chance(0.5);
        const [src, dst] = toRam ? [BigInt(dev), ram] : [ram, BigInt(dev)];
        const wq = r.chance(0.4);
        this.writeX(wq ? 'q' : 'l', B + 0x80n, src);
        this.writeX(wq ? 'q' : 'l', B + 0x88n, dst);
        this.writeX(wq ? 'q' : 'l', B + 0x90n, BigInt(count));
        const cmd =
          1n | (toRam ? 2n : 0n) | (r.chance(0.5) ? 4n : 0n) | (r.chance(0.1) ? BigInt(r.int(256)) & ~3n : 0n);
        this.writeX(r.chance(0.8) ? 'l' : 'q', B + 0x98n, cmd);
        // deadline: (floor(now / 1 ms) + 100) ms
        this.eduDmaDeadline = (this.clock / 1_000_000n + 100n) * 1_000_000n;
        if (!toRam && r.chance(0.3)) this.writeBytes(ram, count, true); // RAM changes before the copy runs
        if (r.chance(0.5)) {
          this.emit('clock_step');
          this.advanceTo(this.eduDmaDeadline);
          this.readX('l', B + 0x98n);
          if (toRam) this.readBytes(ram, count);
        }
        return;
      }
      case 'clock':
        return this.clockOp();
      case 'cmdreg': {
        // memory + master on/off, Interrupt Disable; IO stays set
        const v = BigInt(r.pick([0x0007, 0x0003, 0x0407, 0x0005, 0x0007, 0x0006]));
        this.writeX('w', this.ecamAddr(0, devfn, 4), v);
        this.readX('l', this.ecamAddr(0, devfn, 4));
        return;
      }
      case 'cfgread': {
        const off = r.int(0x100);
        this.readX(r.pick(WIDTHS), this.ecamAddr(0, devfn, off));
        return;
      }
      case 'junk': {
        // non-register offsets and wrong sizes: ignored (never 0x08..0x0b: the factorial)
        const off = r.pick([0x0c, 0x28, 0x2c, 0x30, 0x84, 0xa0, 0x100, 0x1000, 0xffffc]);
        const w = r.pick<W>(['l', 'b', 'w']);
        this.writeX(w, B + BigInt(off), this.randValue(w));
        this.readX('l', B + BigInt(off));
        return;
      }
      case 'unaligned': {
        const off = r.pick([0x01, 0x02, 0x03, 0x22, 0x81, 0x84, 0x8c]);
        this.readX(r.pick<W>(['l', 'q', 'w']), B + BigInt(off));
        return;
      }
    }
  }

  // ---------------------------------------------------------------- pci-testdev
  private ptdSetupSeq(): void {
    const r = this.rng;
    const devfn = this.opts.pciTestdev!.devfn;
    const cfg = (off: number) => this.ecamAddr(0, devfn, off);
    this.readX('l', cfg(0));
    this.writeX('l', cfg(0x10), 0xffffffffn);
    this.readX('l', cfg(0x10)); // 0xfffff000
    this.writeX('l', cfg(0x14), 0xffffffffn);
    this.readX('l', cfg(0x14)); // 0xffffff01
    const bar0 = 0x10000000n + BigInt(r.int(0x2e000)) * 0x1000n;
    const port = BigInt(r.int(0x100)) * 0x100n;
    this.writeX('l', cfg(0x10), bar0);
    this.writeX('l', cfg(0x14), port);
    this.writeX('w', cfg(0x04), 0x0003n);
    this.readX('l', cfg(0x10));
    this.readX('l', cfg(0x14));
    this.ptdBar0 = { base: bar0, size: 0x1000n };
    this.ptdPort = port;
    this.ptdSetup = true;
  }
  private pciTestdev(): void {
    const r = this.rng;
    if (!this.opts.pciTestdev) return;
    if (!this.ptdSetup) return this.ptdSetupSeq();
    const io = r.chance(0.4);
    const B = io ? PIO_BASE + this.ptdPort! : this.ptdBar0!.base;
    const k = r.weighted<string>([
      [15, 'select'],
      [30, 'trigger'],
      [35, 'read'],
      [10, 'bytes'],
      [10, 'other'],
    ]);
    switch (k) {
      case 'select':
        this.writeX(r.pick<W>(['b', 'b', 'w', 'l']), B, BigInt(r.pick([0, 1, 2, 3, 4, 0x100])));
        return;
      case 'trigger': {
        const t = io ? r.pick([0x83, 0x84, 0x85, 0x82, 0x80]) : r.pick([0x800, 0x801, 0x802, 0x7fe, 0x7fc]);
        const w = r.pick(WIDTHS);
        const v = r.chance(0.6) ? BigInt(r.pick([0xfa, 0xce, 0xfafa, 0xfa00, 0xfa0000, 0xcecece])) : this.randValue(w);
        this.writeX(w, B + BigInt(t), v);
        this.readX('l', B + 12n); // count
        return;
      }
      case 'read': {
        const off = io ? r.int(0x100) : r.chance(0.8) ? r.int(0x30) : r.int(0x1000);
        const w = r.pick(WIDTHS);
        const lim = io ? 0x100 : 0x1000;
        if (off + WIDTH[w] <= lim) this.readX(w, B + BigInt(off));
        return;
      }
      case 'bytes': {
        const n = r.range(1, 32);
        if (r.chance(0.5)) this.readBytes(B, n);
        else this.b64ReadBytes(B, n);
        return;
      }
      case 'other': {
        const off = io ? r.range(0x10, 0x7f) : r.range(0x10, 0x7ff);
        this.writeX(r.pick(WIDTHS), B + BigInt(off), this.randValue('l'));
        return;
      }
    }
  }
}

export function generateSession(seed: number, opts: GenOptions): string[] {
  return new SessionGenerator(new Rng(seed), opts).generate();
}
