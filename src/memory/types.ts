/**
 * Memory-system types shared by RAM, device register blocks, address spaces and DMA views.
 * Models QEMU's MemoryRegionOps contract (valid/impl access sizes) closely enough that the
 * splitting of odd-sized or unaligned accesses matches QEMU 10.2.2 byte for byte.
 */
import type { WorkMeter } from './work-meter.js';

/** A guest physical or bus address. Always a bigint in [0, 2^64). */
export type Addr = bigint;
export type AccessSize = 1 | 2 | 4 | 8;

/** Which accesses a region accepts (QEMU `.valid`) or implements natively (QEMU `.impl`). */
export interface AccessRule {
  minSize: AccessSize;
  maxSize: AccessSize;
  /** Unaligned accesses accepted (valid) or handled natively (impl). */
  unaligned: boolean;
}

/** Attributes carried by a transaction (subset of QEMU's MemTxAttrs that our devices use). */
export interface MemTxAttrs {
  /** Secure access (attrs.secure). */
  secure?: boolean;
  /** Security space 0 Secure, 1 Non-secure, 2 Root, 3 Realm (attrs.space). */
  space?: number;
  /** Attributes were not specified by the initiator. */
  unspecified?: boolean;
  /** PCI requester ID / StreamID of a DMA initiator. */
  requesterId?: number;
}

export const NO_ATTRS: MemTxAttrs = Object.freeze({});

/** Outcome of a bus transaction; `ok` is QEMU's MEMTX_OK. */
export type MemTxResult = 'ok' | 'decode-error' | 'error';

/** A register block or other MMIO device region. */
export interface IoRegion {
  readonly kind: 'io';
  readonly name: string;
  readonly size: bigint;
  /** What the bus accepts; other accesses fail (reads 0, writes dropped). Default min 1, max 4, aligned only. */
  readonly valid?: Partial<AccessRule>;
  /** What read/write implement; the bus splits or widens accesses to fit. Default min 1, max 4. */
  readonly impl?: Partial<AccessRule>;
  /** Read `size` bytes at `offset` (already fitted to `impl`). Returns the value, little-endian order. */
  read(offset: bigint, size: AccessSize, attrs: MemTxAttrs): bigint;
  /** Write `size` bytes at `offset` (already fitted to `impl`). */
  write(offset: bigint, size: AccessSize, value: bigint, attrs: MemTxAttrs): void;
  /** Whether the access just made was refused (an access error: the region's re-entrancy guard). */
  takeRefusal?(): boolean;
}

/** Byte-addressable backing store (guest RAM). */
export interface RamRegion {
  readonly kind: 'ram';
  readonly name: string;
  readonly size: bigint;
  readBytes(offset: bigint, out: Uint8Array): void;
  writeBytes(offset: bigint, data: Uint8Array): void;
  fill(offset: bigint, length: bigint, byte: number): void;
  /** Optional fast path: the 8 bytes at `offset` as a little-endian value (same bytes readBytes gives). */
  readU64LE?(offset: bigint): bigint;
  /**
   * Reserve the backing of [offset, offset+length) (contents unchanged) in one step, or throw
   * having changed nothing: a write done in pieces afterwards cannot run out of memory half-way.
   */
  prepare?(offset: bigint, length: bigint): void;
}

export type MemoryRegion = IoRegion | RamRegion;

/** The interface every address space (CPU view, DMA view) offers its users. */
export interface BusAccess {
  /** Read `out.length` bytes at `addr`, like address_space_read(). Failed parts read as 0. */
  readBytes(addr: Addr, out: Uint8Array, attrs?: MemTxAttrs): MemTxResult;
  /** Write `data` at `addr`, like address_space_write(). Failed parts are dropped. */
  writeBytes(addr: Addr, data: Uint8Array, attrs?: MemTxAttrs): MemTxResult;
  /**
   * Optional fast path for an 8-byte little-endian read: the value when the read would succeed
   * ('ok') without side effects (plain RAM), else undefined, and the caller uses readBytes.
   */
  readU64LE?(addr: Addr): bigint | undefined;
  /** The work count accesses through this view are charged to (work-meter.ts), if any. */
  readonly meter?: WorkMeter;
}

export const ADDR_MASK = (1n << 64n) - 1n;
