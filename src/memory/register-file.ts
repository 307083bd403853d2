/**
 * A register block declared as data: a table of named 32/64-bit registers (offset, reset value,
 * access kind ro/rw/wo/w1c, write mask, optional named read/write hooks) turned into an IoRegion.
 * Offsets that hit no register follow a policy (read-as-zero or all-ones; writes ignored).
 * Models what QEMU devices hand-write as switch statements; it does not do access-size
 * validation (that is the bus's job, via `valid`/`impl`), bit fields or endianness other than LE.
 */
import type { AccessRule, AccessSize, IoRegion, MemTxAttrs } from './types.js';

export type RegisterAccess = 'ro' | 'rw' | 'wo' | 'w1c';

export interface RegisterSpec {
  /** Byte offset of the register in the block. */
  readonly offset: number;
  readonly width: 32 | 64;
  /** Value after reset (default 0). */
  readonly reset?: bigint;
  /**
   * ro: writes change nothing; rw: masked bits take the written value; wo: like rw but reads
   * follow the unknown-offset policy; w1c: writing 1 to a masked bit clears it.
   */
  readonly access: RegisterAccess;
  /** Bits that writes may change (rw/wo) or clear (w1c). Default: all bits of the width. */
  readonly writeMask?: bigint;
  /**
   * 64-bit registers only: whether an access starting at offset+4 reaches the upper half
   * (default true). False makes offset+4 behave as an unknown offset.
   */
  readonly highHalf?: boolean;
  /** Name of a read hook (in the hooks passed to the RegisterFile) computing the value read. */
  readonly read?: string;
  /** Name of a write hook deciding what a write stores and doing its side effects. */
  readonly write?: string;
  /** Name of a hook run after the store (side effects that must see the new value). */
  readonly after?: string;
}

export type RegisterTable = Readonly<Record<string, RegisterSpec>>;

/** What a write hook is told. Values are positioned within the whole register. */
export interface RegisterWrite<K extends string> {
  readonly name: K;
  /** Stored value before the write. */
  readonly previous: bigint;
  /** What the access kind and write mask would store. */
  readonly next: bigint;
  /** The written bits, shifted to their place in the register (zero outside the access). */
  readonly data: bigint;
  /** Bits covered by the access (all ones of the access size, shifted into place). */
  readonly accessMask: bigint;
  /** Access size in bytes. */
  readonly size: AccessSize;
}

/**
 * Runs before the store. Returns the value to store (truncated to the width), or undefined to
 * store `next`. A hook must not set() its own register (the store would overwrite it).
 */
export type WriteHook<K extends string> = (w: RegisterWrite<K>) => bigint | void;
/** Returns the whole register's value as read (the file extracts the accessed bytes). */
export type ReadHook<K extends string> = (name: K, stored: bigint) => bigint;
/** Runs after a write was stored; told the register and the access. */
export type AfterHook<K extends string> = (w: RegisterWrite<K>) => void;

type HookNamesOf<T, P extends 'read' | 'write' | 'after'> = {
  [K in keyof T]: T[K] extends { readonly [Q in P]: infer H } ? (H extends string ? H : never) : never;
}[keyof T];

/** The hook functions a table refers to: every hook name used in the table must be present. */
export interface RegisterHooks<T extends RegisterTable> {
  read: Record<HookNamesOf<T, 'read'>, ReadHook<keyof T & string>>;
  write: Record<HookNamesOf<T, 'write'>, WriteHook<keyof T & string>>;
  /** Needed only when the table names `after` hooks. */
  after?: Record<HookNamesOf<T, 'after'>, AfterHook<keyof T & string>>;
}

/** What offsets without a register do: read as zero (RAZ/WI) or as all ones of the access size. */
export type UnknownOffsetPolicy = 'raz' | 'ones';

export interface RegisterFileOptions<T extends RegisterTable> {
  name: string;
  /** Size of the region in bytes. */
  size: bigint;
  registers: T;
  hooks: NoInfer<RegisterHooks<T>>;
  unknown: UnknownOffsetPolicy;
  valid?: Partial<AccessRule>;
  impl?: Partial<AccessRule>;
  /** Told about every access that hit no register (for guest-error logging). */
  onUnknown?: (offset: bigint, size: AccessSize, isWrite: boolean, value?: bigint) => void;
}

function maskOfBytes(bytes: number): bigint {
  return (1n << BigInt(bytes * 8)) - 1n;
}

export class RegisterFile<T extends RegisterTable> implements IoRegion {
  readonly kind = 'io' as const;
  readonly name: string;
  readonly size: bigint;
  readonly valid?: Partial<AccessRule>;
  readonly impl?: Partial<AccessRule>;
  private readonly values = new Map<keyof T & string, bigint>();
  /** Byte offset → register name, for every byte a register covers. */
  private readonly byByte = new Map<number, keyof T & string>();

  constructor(private readonly opts: RegisterFileOptions<T>) {
    this.name = opts.name;
    this.size = opts.size;
    this.valid = opts.valid;
    this.impl = opts.impl;
    for (const name of Object.keys(opts.registers) as Array<keyof T & string>) {
      const spec = opts.registers[name];
      for (let i = 0; i < spec.width / 8; i++) {
        const other = this.byByte.get(spec.offset + i);
        if (other !== undefined) throw new Error(`${opts.name}: registers ${other} and ${name} overlap`);
        this.byByte.set(spec.offset + i, name);
      }
    }
    this.reset();
  }

  /** Every register back to its reset value (hooks are not called). */
  reset(): void {
    for (const name of Object.keys(this.opts.registers) as Array<keyof T & string>) {
      this.values.set(name, this.opts.registers[name].reset ?? 0n);
    }
  }

  /** Stored value of a register (no read hook). */
  get(name: keyof T & string): bigint {
    return this.values.get(name)!;
  }

  /** Store a value directly (device side: no masks, no hooks), truncated to the width. */
  set(name: keyof T & string, value: bigint): void {
    this.values.set(name, BigInt.asUintN(this.opts.registers[name].width, value));
  }

  spec(name: keyof T & string): RegisterSpec {
    return this.opts.registers[name];
  }

  /** The register an access of `size` bytes at `offset` addresses, and the bit shift within it. */
  private find(
    offset: bigint,
    size: AccessSize,
  ): { name: keyof T & string; spec: RegisterSpec; shift: bigint } | undefined {
    if (offset < 0n || offset > 0xffffffffn) return undefined;
    const off = Number(offset);
    const name = this.byByte.get(off);
    if (name === undefined) return undefined;
    const spec = this.opts.registers[name];
    const rel = off - spec.offset;
    if (rel + size > spec.width / 8) return undefined;
    if (rel % size !== 0) return undefined;
    if (spec.width === 64 && rel >= 4 && spec.highHalf === false) return undefined;
    return { name, spec, shift: BigInt(rel * 8) };
  }

  private unknownRead(size: AccessSize): bigint {
    return this.opts.unknown === 'ones' ? maskOfBytes(size) : 0n;
  }

  read(offset: bigint, size: AccessSize, _attrs: MemTxAttrs): bigint {
    const hit = this.find(offset, size);
    if (!hit || hit.spec.access === 'wo') {
      this.opts.onUnknown?.(offset, size, false);
      return this.unknownRead(size);
    }
    let v = this.values.get(hit.name)!;
    if (hit.spec.read !== undefined) {
      const hook = (this.opts.hooks.read as Record<string, ReadHook<keyof T & string>>)[hit.spec.read];
      v = hook(hit.name, v);
    }
    return (v >> hit.shift) & maskOfBytes(size);
  }

  write(offset: bigint, size: AccessSize, value: bigint, _attrs: MemTxAttrs): void {
    const hit = this.find(offset, size);
    if (!hit) {
      this.opts.onUnknown?.(offset, size, true, value);
      return;
    }
    const { name, spec, shift } = hit;
    const widthMask = maskOfBytes(spec.width / 8);
    const accessMask = maskOfBytes(size) << shift;
    const data = (value & maskOfBytes(size)) << shift;
    const writable = (spec.writeMask ?? widthMask) & accessMask;
    const previous = this.values.get(name)!;
    let next: bigint;
    switch (spec.access) {
      case 'ro':
        next = previous;
        break;
      case 'w1c':
        next = previous & ~(data & writable);
        break;
      default:
        next = (previous & ~writable) | (data & writable);
    }
    if (spec.write === undefined && spec.after === undefined) {
      this.values.set(name, next & widthMask);
      return;
    }
    const w = { name, previous, next, data, accessMask, size };
    if (spec.write !== undefined) {
      const hook = (this.opts.hooks.write as Record<string, WriteHook<keyof T & string>>)[spec.write];
      const stored = hook(w);
      if (stored !== undefined) next = stored;
    }
    this.values.set(name, next & widthMask);
    if (spec.after !== undefined) {
      const hook = (this.opts.hooks.after as Record<string, AfterHook<keyof T & string>> | undefined)?.[spec.after];
      if (!hook) throw new Error(`${this.opts.name}: no after hook ${spec.after}`);
      hook(w);
    }
  }
}
