/**
 * Input generators for the fuzzer: a seeded PRNG, a grammar of valid qtest commands with
 * mutations (byte flips, splits, truncation, huge numbers, random bytes), random QMP messages, and
 * random SMMU programs expressed as qtest lines (register writes, table contents in RAM, commands,
 * DMA through smmu-testdev, iommu-testdev and edu). Deterministic for a given seed.
 */
import { DEVICES, REG, SMMU } from '../helpers/hardening/machine-driver.js';
import { hexU64 as hex } from '../helpers/bytes.js';

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  u32(): number {
    // xorshift32
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return this.u32() % n;
  }
  bool(p = 0.5): boolean {
    return this.u32() / 4294967296 < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
}

const HUGE = [
  '0xffffffffffffffff',
  '18446744073709551615',
  '0x10000000000000000',
  '18446744073709551616',
  '-1',
  '-9223372036854775808',
  '9223372036854775807',
  '0x8000001',
  '0x100000000',
  '99999999999999999999999',
  '0777777777777777777777777',
  '0x',
  '08',
  '-0x',
  '+',
  '',
];

/** Interesting addresses: RAM, MMIO of every device, unassigned, the top of the space. */
const ADDRS = [
  0x40000000n,
  0x40200000n,
  0x5ffffff8n,
  0x60000000n,
  0x0n,
  0x08000000n,
  0x080a0000n,
  0x09000000n,
  SMMU,
  SMMU + 0x10000n,
  0x0a000000n,
  0x10000000n,
  DEVICES.edu.bar,
  DEVICES.iommu.bar,
  DEVICES.smmuTestdev.bar,
  0x3eff0000n,
  0x3f000000n,
  0x4010000000n,
  0x4010008000n,
  0x8000000000n,
  0xfffffffffffffff8n,
];

const GIC = '/machine/unattached/device[1]';
const QOM = [
  GIC,
  'device[1]',
  '/machine',
  '/machine/peripheral-anon/device[0]',
  'nonexistent',
  '/machine/unattached/device[0]',
  '',
];

function fmtNum(r: Rng, v: bigint): string {
  switch (r.int(6)) {
    case 0:
      return v.toString();
    case 1:
      return '0' + v.toString(8);
    case 2:
      return '0X' + v.toString(16).toUpperCase();
    default:
      return hex(v);
  }
}

function addr(r: Rng): bigint {
  const base = r.pick(ADDRS);
  return r.bool(0.2) ? r.u64() : BigInt.asUintN(64, base + BigInt(r.int(0x1000)) * (r.bool() ? 1n : 8n));
}

/** One valid-looking qtest command line (no LF). */
export function qtestCommand(r: Rng): string {
  const a = () => fmtNum(r, addr(r));
  const size = () => fmtNum(r, BigInt(r.bool(0.9) ? r.int(64) + 1 : r.int(0x10000)));
  switch (r.int(22)) {
    case 0:
      return `readb ${a()}`;
    case 1:
      return `readw ${a()}`;
    case 2:
      return `readl ${a()}`;
    case 3:
      return `readq ${a()}`;
    case 4:
      return `writeb ${a()} ${fmtNum(r, BigInt(r.u32()))}`;
    case 5:
      return `writew ${a()} ${fmtNum(r, BigInt(r.u32()))}`;
    case 6:
      return `writel ${a()} ${fmtNum(r, BigInt(r.u32()))}`;
    case 7:
      return `writeq ${a()} ${fmtNum(r, r.u64())}`;
    case 8:
      return `read ${a()} ${size()}`;
    case 9:
      return `b64read ${a()} ${size()}`;
    case 10: {
      const n = r.int(32) + 1;
      return `write ${a()} ${fmtNum(r, BigInt(n))} 0x${Buffer.from(Array.from({ length: n }, () => r.int(256))).toString('hex')}`;
    }
    case 11: {
      const n = r.int(32) + 1;
      return `b64write ${a()} ${fmtNum(r, BigInt(n))} ${Buffer.from(Array.from({ length: n + r.int(3) - 1 }, () => r.int(256))).toString('base64')}`;
    }
    case 12:
      return `memset ${a()} ${size()} ${fmtNum(r, BigInt(r.int(512)))}`;
    case 13:
      return `${r.pick(['inb', 'inw', 'inl'])} ${fmtNum(r, BigInt(r.int(0x10010)))}`;
    case 14:
      return `${r.pick(['outb', 'outw', 'outl'])} ${fmtNum(r, BigInt(r.int(0x10010)))} ${fmtNum(r, BigInt(r.u32()))}`;
    case 15:
      return r.bool() ? 'clock_step' : `clock_step ${fmtNum(r, BigInt(r.int(1e9)))}`;
    case 16:
      return `clock_set ${fmtNum(r, BigInt(r.int(2e9)))}`;
    case 17:
      return `irq_intercept_${r.pick(['in', 'out'])} ${r.pick(QOM)}${r.bool(0.2) ? ' sysbus-irq' : ''}`;
    case 18:
      return `set_irq_in ${r.pick(QOM)} ${r.pick(['unnamed-gpio-in', 'x'])} ${r.int(300)} ${r.int(3)}`;
    case 19:
      return 'endianness';
    case 20:
      return `module_load ${r.pick(['a', 'block-', ''])} ${r.pick(['b', 'x'])}`;
    default:
      return r.pick(['', ' ', '#', 'nosuch', 'READB 0x0', '\t', '\r']);
  }
}

/** Mutate a line: byte flips, truncation, huge numbers, random bytes, doubled spaces. Never adds LF. */
export function mutate(r: Rng, line: string): string {
  let s = line;
  const n = r.int(3) + 1;
  for (let k = 0; k < n; k++) {
    switch (r.int(7)) {
      case 0: {
        if (!s.length) break;
        const i = r.int(s.length);
        s = s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ (1 << r.int(8))) + s.slice(i + 1);
        break;
      }
      case 1:
        s = s.slice(0, r.int(s.length + 1));
        break;
      case 2: {
        const words = s.split(' ');
        if (words.length > 1) words[1 + r.int(words.length - 1)] = r.pick(HUGE);
        s = words.join(' ');
        break;
      }
      case 3: {
        const i = r.int(s.length + 1);
        const junk = Array.from({ length: r.int(8) + 1 }, () => String.fromCharCode(r.int(256))).join('');
        s = s.slice(0, i) + junk + s.slice(i);
        break;
      }
      case 4:
        s = s.replace(' ', '  ');
        break;
      case 5:
        s += r.pick(['\r', ' ', ' extra', '\0', '\xff']);
        break;
      default:
        s = r.pick(['\r', '\0', ' ']) + s;
    }
  }
  return s.replace(/\n/g, ' ');
}

/** A request line for the qtest fuzzer: valid (60%) or mutated. */
export function qtestRequest(r: Rng): string {
  const line = qtestCommand(r);
  return r.bool(0.6) ? line : mutate(r, line);
}

// ---------------------------------------------------------------- QMP

const QMP_COMMANDS = [
  'query-status',
  'query-version',
  'query-pci',
  'qom-list',
  'qom-get',
  'qom-set',
  'stop',
  'cont',
  'system_reset',
  'device_add',
  'device_del',
  'query-machines',
  'query-cpus-fast',
  'human-monitor-command',
  'qom-list-types',
  'query-commands',
  'x-qtestd-smmu',
  'no-such',
  'qmp_capabilities',
  'query-target',
  'query-cpu-definitions',
];

function jsonValue(r: Rng, depth: number): unknown {
  switch (r.int(depth > 3 ? 5 : 7)) {
    case 0:
      return r.int(1000) - 500;
    case 1:
      return r.pick(['/machine', 'edu', 'device[0]', 'type', 'dma_mask', '', 'info pci', 'x'.repeat(r.int(100))]);
    case 2:
      return r.bool();
    case 3:
      return null;
    case 4:
      return Number(r.u32()) * 1e10;
    case 5:
      return Array.from({ length: r.int(4) }, () => jsonValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(4); i > 0; i--)
        o[r.pick(['path', 'property', 'value', 'driver', 'id', 'typename', 'command-line', 'bus', 'x'])] = jsonValue(
          r,
          depth + 1,
        );
      return o;
    }
  }
}

/** One QMP message text (valid JSON object, or mutated bytes), ending with LF. */
export function qmpMessage(r: Rng): string {
  const msg: Record<string, unknown> = { execute: r.pick(QMP_COMMANDS) };
  if (r.bool(0.7)) msg.arguments = jsonValue(r, 1);
  if (r.bool(0.3)) msg.id = jsonValue(r, 2);
  let s = JSON.stringify(msg);
  if (r.bool(0.3)) s = mutate(r, s);
  return s + '\n';
}

// ---------------------------------------------------------------- SMMU programs

const SMMU_OFFSETS = Object.values(REG);

/** Random SMMU program as qtest lines. The caller's session has run Driver.setupDevices(). */
export function smmuProgram(r: Rng): string[] {
  const out: string[] = [];
  const smmu = (off: number) => hex(SMMU + BigInt(off));
  const tables = 0x48000000n;
  // stream table / queues somewhere (mostly RAM)
  const place = () =>
    r.bool(0.85) ? tables + BigInt(r.int(0x400)) * 0x1000n : r.pick([SMMU, 0x3f000000n, 0x10000000n, r.u64()]);
  out.push(`writeq ${smmu(REG.STRTAB_BASE)} ${hex(place())}`);
  out.push(
    `writel ${smmu(REG.STRTAB_BASE_CFG)} ${hex(r.bool(0.7) ? r.int(9) : r.bool() ? (1 << 16) | (r.int(12) << 6) | r.int(24) : r.u32())}`,
  );
  out.push(`writeq ${smmu(REG.CMDQ_BASE)} ${hex(place() | BigInt(r.int(32)))}`);
  out.push(`writeq ${smmu(REG.EVENTQ_BASE)} ${hex(place() | BigInt(r.int(32)))}`);
  // random table contents in RAM (STEs, CDs, page tables, L1 descriptors)
  for (let i = r.int(24); i > 0; i--) {
    const a = tables + (BigInt(r.int(0x400000)) * 8n) / 8n;
    const v = r.bool(0.5)
      ? r.u64()
      : (r.u64() & 0x0000fffffffff000n) | BigInt(r.pick([0x1, 0x3, 0x9, 0xb, 0xd, 0x403, 0x7c3]));
    out.push(`writeq ${hex(a & ~7n)} ${hex(v)}`);
  }
  // commands
  const cmdq = tables + BigInt(r.int(0x400)) * 0x1000n;
  for (let i = r.int(6); i > 0; i--) {
    const op = r.pick([
      0x01,
      0x03,
      0x04,
      0x05,
      0x06,
      0x10,
      0x11,
      0x12,
      0x13,
      0x20,
      0x28,
      0x2a,
      0x30,
      0x46,
      0x40,
      r.int(256),
    ]);
    out.push(`writeq ${hex(cmdq + BigInt(i * 16))} ${hex((r.u64() & ~0xffn) | BigInt(op))}`);
    out.push(`writeq ${hex(cmdq + BigInt(i * 16 + 8))} ${hex(r.u64())}`);
  }
  // random register writes (enable/disable, PROD/CONS, GERRORN, IRQ_CTRL, GBPA)
  for (let i = r.int(8) + 2; i > 0; i--) {
    const off = r.bool(0.8) ? r.pick(SMMU_OFFSETS) : r.int(0x200) & ~3;
    const v = off === REG.CR0 ? r.pick([0xd, 0xd, 0x9, 0x5, 0x0, r.u32()]) : r.bool() ? r.int(1 << 20) : r.u32();
    out.push(`writel ${smmu(off)} ${hex(v)}`);
  }
  out.push(`writel ${smmu(REG.CR0)} ${hex(r.pick([0xd, 0xd, 0x9, 0x1]))}`);
  // DMA through the devices: mostly ≤ 4 KiB, rarely up to the limits (a faulting DMA costs ~1 s/MiB:
  // see the DMA_LEN known issue in tests/hardening/smmu-guest-inputs.test.ts)
  for (let i = r.int(4) + 1; i > 0; i--) {
    const iova = r.bool(0.7) ? 0x40000000n + BigInt(r.int(0x2000000)) : r.u64();
    switch (r.int(3)) {
      case 0: {
        const b = DEVICES.iommu.bar;
        out.push(`writel ${hex(b + 4n)} ${hex(iova & 0xffffffffn)}`, `writel ${hex(b + 8n)} ${hex(iova >> 32n)}`);
        out.push(`writel ${hex(b + 0x1cn)} ${hex(iova & 0xffffffffn)}`, `writel ${hex(b + 0x20n)} ${hex(iova >> 32n)}`);
        out.push(
          `writel ${hex(b + 0xcn)} ${hex(r.bool(0.98) ? r.int(0x1000) : 0x4000)}`,
          `writel ${hex(b + 0x18n)} ${hex(r.int(16))}`,
        );
        out.push(`writel ${hex(b + 0x14n)} 0x1`, `readl ${hex(b)}`, `readl ${hex(b + 0x10n)}`);
        break;
      }
      case 1: {
        const b = DEVICES.smmuTestdev.bar;
        out.push(`writel ${hex(b + 0x28n)} ${hex(iova & 0xffffffffn)}`, `writel ${hex(b + 0x2cn)} ${hex(iova >> 32n)}`);
        out.push(
          `writel ${hex(b + 0x30n)} ${hex(r.bool(0.98) ? r.int(0x1000) : r.pick([0x10000, 0x10001, 0xffffffff]))}`,
          `writel ${hex(b + 0x34n)} ${hex(r.int(2))}`,
        );
        out.push(`writel ${hex(b + 0x40n)} ${hex(r.int(2))}`, `writel ${hex(b + 0x44n)} ${hex(r.int(16))}`);
        out.push(`writel ${hex(b + 0x48n)} ${hex(r.int(4))}`);
        if (r.bool(0.3)) out.push(`writel ${hex(b + 0x54n)} 0x1`);
        out.push(`writel ${hex(b + 0x3cn)} 0x1`, `readl ${hex(b)}`, `readl ${hex(b + 0x38n)}`);
        break;
      }
      default: {
        const b = DEVICES.edu.bar;
        out.push(
          `writeq ${hex(b + 0x80n)} ${hex(r.bool() ? 0x40000n : iova)}`,
          `writeq ${hex(b + 0x88n)} ${hex(r.bool() ? iova : 0x40000n)}`,
        );
        out.push(
          `writeq ${hex(b + 0x90n)} ${hex(r.bool(0.8) ? r.int(0x1001) : r.u64())}`,
          `writeq ${hex(b + 0x98n)} ${hex(1 | (r.int(4) << 1))}`,
        );
        out.push(`clock_step ${r.int(1e9)}`);
      }
    }
  }
  return out;
}
