// Over 400 lines: one FlatView class (mapping, lookup, dispatch, fill); its parts share the segment table.
/**
 * An address space built from mapped regions, flattened the way QEMU builds a FlatView: the
 * highest-priority region wins where mappings overlap, gaps are unassigned. Dispatch follows
 * QEMU's flatview_read/write: RAM is copied directly; I/O regions get accesses sized by
 * memory_access_size() (valid.max, alignment), rejected unless `valid` allows them, then
 * widened or split to `impl`; unassigned space reads 0 and drops writes. Addresses wrap at 2^64.
 * Does not model IOMMUs (see dma-view.ts), ROM devices or access to the dirty log.
 */
import type { WorkMeter } from './work-meter.js';
import { ADDR_MASK, NO_ATTRS } from './types.js';
import type {
  AccessRule,
  AccessSize,
  Addr,
  BusAccess,
  IoRegion,
  MemoryRegion,
  MemTxAttrs,
  MemTxResult,
} from './types.js';

/** A window onto part of another address space (QEMU alias of a container). */
export interface AliasRegion {
  readonly kind: 'alias';
  readonly name: string;
  readonly size: bigint;
  readonly target: AddressSpace;
  readonly targetBase: Addr;
}

export type MappableRegion = MemoryRegion | AliasRegion;

interface Mapping {
  base: Addr;
  end: Addr; // exclusive, may be 2^64
  region: MappableRegion;
  priority: number;
  order: number;
}

export interface Segment {
  start: Addr;
  end: Addr; // exclusive
  mapping: Mapping;
}

const SPACE_END = 1n << 64n;

const DEFAULT_VALID: AccessRule = { minSize: 1, maxSize: 4, unaligned: false };
const DEFAULT_IMPL: AccessRule = { minSize: 1, maxSize: 4, unaligned: false };

function rule(partial: Partial<AccessRule> | undefined, dflt: AccessRule): AccessRule {
  return partial ? { ...dflt, ...partial } : dflt;
}

/** Largest power of two ≤ n (n ≥ 1). */
function pow2floor(n: number): number {
  return 2 ** Math.floor(Math.log2(n));
}

/**
 * QEMU's memory_access_size(): how many bytes one dispatch to `region` at `offset` may cover.
 * Exported because the DMA view applies the same rule to unassigned (faulted) pieces.
 */
export function accessSizeFor(valid: AccessRule, impl: AccessRule, offset: bigint, remaining: number): number {
  let max: number = valid.maxSize;
  if (!impl.unaligned) {
    const lowBit = offset === 0n ? 0 : Number(offset & -offset & 0xffn);
    if (lowBit !== 0 && lowBit < max) max = lowBit;
  }
  return pow2floor(Math.min(remaining, max));
}

/** Access rules of QEMU's unassigned region: at most 4 bytes, naturally aligned pieces. */
export const UNASSIGNED_RULE: AccessRule = { minSize: 1, maxSize: 4, unaligned: false };

export class AddressSpace implements BusAccess {
  /**
   * The machine's work count (work-meter.ts). Charged where an access ends — a RAM copy, one
   * dispatch to an I/O region, an unassigned piece — never for the hop through an alias, so every
   * space of a machine carries it without counting an access twice.
   */
  meter?: WorkMeter;
  private mappings: Mapping[] = [];
  private segmentCache: Segment[] = [];
  /** The flat view is rebuilt lazily, once after any number of map/unmap calls. */
  private dirty = false;
  private nextOrder = 0;

  constructor(readonly name: string) {}

  /** Map `region` at `base`; higher `priority` wins over overlapping mappings. */
  map(base: Addr, region: MappableRegion, priority = 0): void {
    const end = base + region.size > SPACE_END ? SPACE_END : base + region.size;
    this.mappings.push({ base, end, region, priority, order: this.nextOrder++ });
    this.dirty = true;
  }

  /** Remove every mapping of `region`. */
  unmap(region: MappableRegion): void {
    const before = this.mappings.length;
    this.mappings = this.mappings.filter((m) => m.region !== region);
    if (this.mappings.length !== before) this.dirty = true;
  }

  isMapped(region: MappableRegion): boolean {
    return this.mappings.some((m) => m.region === region);
  }

  /** The flattened view, for `info mtree`-style introspection. */
  flatView(): readonly Segment[] {
    return this.segments;
  }

  private get segments(): Segment[] {
    if (this.dirty) {
      this.dirty = false;
      this.segmentCache = this.flatten();
    }
    return this.segmentCache;
  }

  /** Mappings in insertion order (base, region, priority). */
  listMappings(): ReadonlyArray<{ base: Addr; region: MappableRegion; priority: number }> {
    return this.mappings;
  }

  private flatten(): Segment[] {
    const points = new Set<bigint>();
    for (const m of this.mappings) {
      points.add(m.base);
      points.add(m.end);
    }
    const sorted = [...points].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const segs: Segment[] = [];
    for (let i = 0; i + 1 < sorted.length; i++) {
      const start = sorted[i];
      const end = sorted[i + 1];
      let best: Mapping | undefined;
      for (const m of this.mappings) {
        if (m.base <= start && m.end >= end) {
          if (!best || m.priority > best.priority || (m.priority === best.priority && m.order > best.order)) best = m;
        }
      }
      if (!best) continue;
      const last = segs[segs.length - 1];
      if (last && last.mapping === best && last.end === start) last.end = end;
      else segs.push({ start, end, mapping: best });
    }
    return segs;
  }

  /**
   * Binary search of the flat view: the index of the segment containing `addr`, or, when `addr`
   * is in a gap, -(index of the next segment) - 1. Allocates nothing.
   */
  private search(addr: Addr): number {
    const segs = this.segments;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = segs[mid];
      if (addr < s.start) hi = mid - 1;
      else if (addr >= s.end) lo = mid + 1;
      else return mid;
    }
    return -lo - 1;
  }

  /** The segment containing addr, or the unassigned gap [addr, nextStart). */
  private lookup(addr: Addr): { seg?: Segment; end: Addr } {
    const i = this.search(addr);
    const segs = this.segments;
    if (i >= 0) return { seg: segs[i], end: segs[i].end };
    const next = -i - 1;
    return { end: next < segs.length ? segs[next].start : SPACE_END };
  }

  /** The segment containing addr (already masked), or undefined in a gap. */
  private segmentAt(addr: Addr): Segment | undefined {
    const i = this.search(addr);
    return i >= 0 ? this.segments[i] : undefined;
  }

  /** True when [addr, addr+length) lies inside one RAM mapping of this space. */
  isRam(addr: Addr, length: bigint): boolean {
    const start = addr & ADDR_MASK;
    const seg = this.segmentAt(start);
    return seg?.mapping.region.kind === 'ram' && start + length <= seg.end;
  }

  /** Back [addr, addr+length) in one step when it is inside one RAM mapping (RamRegion.prepare: refused whole). */
  prepareRam(addr: Addr, length: bigint): void {
    const r = this.isRam(addr, length) ? this.resolve(addr & ADDR_MASK) : undefined;
    if (r?.region.kind === 'ram') r.region.prepare?.(r.offset, length);
  }

  /** Find which region serves `addr` (following aliases); for debugging and introspection. */
  resolve(addr: Addr): { region: MemoryRegion; offset: bigint } | undefined {
    const { seg } = this.lookup(addr & ADDR_MASK);
    if (!seg) return undefined;
    const r = seg.mapping.region;
    const off = addr - seg.mapping.base;
    if (r.kind === 'alias') return r.target.resolve(r.targetBase + off);
    return { region: r, offset: off };
  }

  /** Last RAM segment access() or readU64LE found, and the flat view it belongs to. */
  private ramSegment: Segment | undefined;
  private ramSegments: Segment[] | undefined;

  /**
   * The segment holding `addr` (already masked), or undefined in a gap. The RAM segment found
   * last is tried first (register-sized accesses repeat in one place); only RAM is remembered.
   */
  private segmentFor(addr: Addr): Segment | undefined {
    const last = this.ramSegment;
    if (
      last !== undefined &&
      !this.dirty &&
      this.ramSegments === this.segmentCache &&
      addr >= last.start &&
      addr < last.end
    )
      return last;
    const seg = this.segmentAt(addr);
    if (seg?.mapping.region.kind === 'ram') {
      this.ramSegment = seg;
      this.ramSegments = this.segmentCache;
    }
    return seg;
  }

  /**
   * An 8-byte little-endian read that lies wholly inside one RAM segment (directly or through
   * aliases): the value readBytes would produce, read without a buffer. Anything else (MMIO,
   * unassigned space, a segment boundary, a RAM region without readU64LE) gives undefined, and the
   * caller falls back to readBytes, whose dispatch, side effects and result are unchanged.
   */
  readU64LE(addr: Addr): bigint | undefined {
    const a = BigInt.asUintN(64, addr);
    const seg = this.segmentFor(a);
    if (seg === undefined || a + 8n > seg.end) return undefined;
    const region = seg.mapping.region;
    if (region.kind === 'ram') {
      if (!region.readU64LE) return undefined;
      this.meter?.charge(8);
      return region.readU64LE(a - seg.mapping.base);
    }
    if (region.kind === 'alias') return region.target.readU64LE(region.targetBase + (a - seg.mapping.base));
    return undefined;
  }

  readBytes(addr: Addr, out: Uint8Array, attrs: MemTxAttrs = NO_ATTRS): MemTxResult {
    return this.access(addr, out, false, attrs);
  }

  writeBytes(addr: Addr, data: Uint8Array, attrs: MemTxAttrs = NO_ATTRS): MemTxResult {
    return this.access(addr, data, true, attrs);
  }

  /**
   * Fill `length` bytes with `byte` (qtest memset). RAM is filled page by page without a buffer;
   * other regions get ordinary writes in pieces of at most 1 MiB split at 1 MiB-aligned addresses,
   * which never splits an access differently from one big write.
   */
  fill(addr: Addr, length: bigint, byte: number, attrs: MemTxAttrs = NO_ATTRS): void {
    const CHUNK = 1n << 20n;
    let cur = addr & ADDR_MASK;
    let left = length;
    let scratch: Uint8Array | undefined;
    while (left > 0n) {
      const { seg, end } = this.lookup(cur);
      let n = end - cur < left ? end - cur : left;
      const region = seg?.mapping.region;
      if (region?.kind === 'ram') {
        if (n > CHUNK) n = CHUNK;
        this.meter?.charge(Number(n));
        region.fill(cur - seg!.mapping.base, n, byte);
      } else if (region?.kind === 'alias') {
        region.target.fill(region.targetBase + (cur - seg!.mapping.base), n, byte, attrs);
      } else if (region) {
        const toBoundary = CHUNK - (cur & (CHUNK - 1n));
        if (n > toBoundary) n = toBoundary;
        scratch ??= new Uint8Array(Number(CHUNK)).fill(byte);
        this.writeBytes(cur, scratch.subarray(0, Number(n)), attrs);
      }
      // Unassigned space: writes are dropped.
      left -= n;
      cur = (cur + n) & ADDR_MASK;
    }
  }

  private access(addr: Addr, buf: Uint8Array, isWrite: boolean, attrs: MemTxAttrs): MemTxResult {
    let cur = BigInt.asUintN(64, addr); // as addr & ADDR_MASK, faster on the hot path
    if (buf.length > 0) {
      // Fast path: the whole access inside one RAM segment (what the loop below does, in one step).
      const seg = this.segmentFor(cur);
      const region = seg?.mapping.region;
      if (region?.kind === 'ram' && cur + BigInt(buf.length) <= seg!.end) {
        this.meter?.charge(buf.length);
        if (isWrite) region.writeBytes(cur - seg!.mapping.base, buf);
        else region.readBytes(cur - seg!.mapping.base, buf);
        return 'ok';
      }
    }
    let result: MemTxResult = 'ok';
    let pos = 0;
    while (pos < buf.length) {
      const { seg, end } = this.lookup(cur);
      const avail = end - cur;
      const n = avail < BigInt(buf.length - pos) ? Number(avail) : buf.length - pos;
      const piece = buf.subarray(pos, pos + n);
      let r: MemTxResult = 'ok';
      if (!seg) {
        this.meter?.charge(n);
        if (!isWrite) piece.fill(0);
        r = 'decode-error';
      } else {
        const region = seg.mapping.region;
        const off = cur - seg.mapping.base;
        if (region.kind === 'ram') {
          this.meter?.charge(n);
          if (isWrite) region.writeBytes(off, piece);
          else region.readBytes(off, piece);
        } else if (region.kind === 'alias') {
          r = isWrite
            ? region.target.writeBytes(region.targetBase + off, piece, attrs)
            : region.target.readBytes(region.targetBase + off, piece, attrs);
        } else {
          r = ioAccess(region, off, piece, isWrite, attrs, this.meter);
        }
      }
      if (r !== 'ok') result = r;
      pos += n;
      cur = (cur + BigInt(n)) & ADDR_MASK;
    }
    return result;
  }
}

/**
 * Dispatch a byte range to an I/O region as QEMU does: one access per memory_access_size() piece,
 * each checked against `valid` (a rejected piece reads 0 / is dropped), then fitted to `impl`.
 */
export function ioAccess(
  region: IoRegion,
  offset: bigint,
  buf: Uint8Array,
  isWrite: boolean,
  attrs: MemTxAttrs,
  meter?: WorkMeter,
): MemTxResult {
  const valid = rule(region.valid, DEFAULT_VALID);
  const impl = rule(region.impl, DEFAULT_IMPL);
  let result: MemTxResult = 'ok';
  let pos = 0;
  let off = offset;
  while (pos < buf.length) {
    const l = accessSizeFor(valid, impl, off, buf.length - pos) as AccessSize;
    meter?.charge(l);
    const acceptable = l >= valid.minSize && l <= valid.maxSize && (valid.unaligned || (off & BigInt(l - 1)) === 0n);
    if (!acceptable) {
      if (!isWrite) buf.fill(0, pos, pos + l);
      result = 'decode-error';
    } else if (isWrite) {
      let v = 0n;
      for (let i = l - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[pos + i]);
      adjustedWrite(region, impl, off, l, v, attrs);
      if (region.takeRefusal?.()) result = 'error';
    } else {
      let v = adjustedRead(region, impl, off, l, attrs);
      if (region.takeRefusal?.()) result = 'error';
      for (let i = 0; i < l; i++) {
        buf[pos + i] = Number(v & 0xffn);
        v >>= 8n;
      }
    }
    pos += l;
    off += BigInt(l);
  }
  return result;
}

/** QEMU access_with_adjusted_size() for reads of a little-endian region. */
function adjustedRead(region: IoRegion, impl: AccessRule, off: bigint, size: AccessSize, attrs: MemTxAttrs): bigint {
  const unit = Math.max(Math.min(size, impl.maxSize), impl.minSize) as AccessSize;
  if (unit === size) return BigInt.asUintN(size * 8, region.read(off, size, attrs));
  const mask = (1n << BigInt(unit * 8)) - 1n;
  let v = 0n;
  for (let i = 0; i < size; i += unit) {
    v |= (region.read(off + BigInt(i), unit, attrs) & mask) << BigInt(i * 8);
  }
  return BigInt.asUintN(size * 8, v);
}

function adjustedWrite(
  region: IoRegion,
  impl: AccessRule,
  off: bigint,
  size: AccessSize,
  value: bigint,
  attrs: MemTxAttrs,
): void {
  const unit = Math.max(Math.min(size, impl.maxSize), impl.minSize) as AccessSize;
  if (unit === size) {
    region.write(off, size, value, attrs);
    return;
  }
  const mask = (1n << BigInt(unit * 8)) - 1n;
  for (let i = 0; i < size; i += unit) {
    region.write(off + BigInt(i), unit, (value >> BigInt(i * 8)) & mask, attrs);
  }
}
