/**
 * Guest RAM backed by 4 KiB pages allocated on first write. Untouched memory reads as zero, so
 * `-m 255G` costs nothing until used; reading never allocates. The number of touched pages is
 * bounded by a per-region budget (LimitError when exceeded) and, in the service, charged to the
 * session's MemoryAccount (memory-budget.ts: the process's budget). A write or fill counts the
 * pages it would materialise first and is refused whole, before touching memory, when they do
 * not fit. Does not model ROM, dirty tracking or migration.
 */
import { LimitError } from '../base/limits.js';
import type { MemoryAccount } from './memory-budget.js';
import type { RamRegion } from './types.js';

const PAGE_SHIFT = 12n;
const PAGE_BYTES = 4096;
const PAGE_MASK = BigInt(PAGE_BYTES - 1);

/** Indices of the low and high 32-bit halves of a 64-bit word in host byte order. */
const LO = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;
const HI = 1 - LO;

export class SparseRam implements RamRegion {
  readonly kind = 'ram' as const;
  private readonly pages = new Map<number, Uint8Array>();
  /**
   * Pages prepare() charged that are not materialised yet: the pages created next take them
   * first. A big write or fill is charged whole before it starts, and its pages are made as its
   * steps run (making 32,768 pages at once held the process for seconds).
   */
  private prepaid = 0;
  /** Scratch for readU64LE: offsets split into 32-bit halves, and 8 bytes read as a little-endian value. */
  private readonly split64 = new BigUint64Array(1);
  private readonly split32 = new Uint32Array(this.split64.buffer);
  private readonly scratch = new Uint8Array(8);
  private readonly scratchView = new DataView(this.scratch.buffer);

  constructor(
    readonly name: string,
    readonly size: bigint,
    private readonly maxTouchedBytes: number = Number.MAX_SAFE_INTEGER,
    /** Where materialised pages are charged (the session's part of the process's budget). */
    private readonly account?: MemoryAccount,
  ) {}

  /** Bytes of RAM actually allocated (touched pages × 4 KiB). */
  get touchedBytes(): number {
    return this.pages.size * PAGE_BYTES;
  }

  /** Make room for `count` new pages, or throw having changed nothing. */
  private reserve(count: number): void {
    if (count === 0) return;
    const fresh = count - Math.min(count, this.prepaid);
    if (fresh > 0) this.charge(fresh);
    this.prepaid -= count - fresh;
  }

  /** Charge `count` pages more than are made or prepaid, or throw having changed nothing. */
  private charge(count: number): void {
    if ((this.pages.size + this.prepaid + count) * PAGE_BYTES > this.maxTouchedBytes) {
      throw new LimitError(`guest RAM budget of ${this.maxTouchedBytes} bytes exceeded`);
    }
    this.account?.chargeRam(count * PAGE_BYTES, `${count} new page${count === 1 ? '' : 's'} of ${this.name}`);
  }

  /** A page reserve() made room for. */
  private create(pageNumber: number): Uint8Array {
    let p = this.pages.get(pageNumber);
    if (!p) {
      p = new Uint8Array(PAGE_BYTES);
      this.pages.set(pageNumber, p);
    }
    return p;
  }

  /** Pages of [offset, offset+length) not materialised yet. */
  private missingPages(offset: bigint, length: number): number {
    let missing = 0;
    this.forEachPiece(offset, length, (pn) => {
      if (!this.pages.has(pn)) missing++;
    });
    return missing;
  }

  /** Visit the page-sized pieces of [offset, offset+length). */
  private forEachPiece(
    offset: bigint,
    length: number,
    fn: (pageNumber: number, inPage: number, done: number, n: number) => void,
  ): void {
    let pageNumber = Number(offset >> PAGE_SHIFT);
    let inPage = Number(offset & BigInt(PAGE_BYTES - 1));
    let done = 0;
    while (done < length) {
      const n = Math.min(PAGE_BYTES - inPage, length - done);
      fn(pageNumber, inPage, done, n);
      done += n;
      pageNumber++;
      inPage = 0;
    }
  }

  readBytes(offset: bigint, out: Uint8Array): void {
    const n = out.length;
    if (n <= 8) {
      // Register-sized reads (qtest readX, device DMA of a word): one page, byte by byte.
      const inPage = Number(offset & PAGE_MASK);
      if (inPage + n <= PAGE_BYTES) {
        const p = this.pages.get(Number(offset >> PAGE_SHIFT));
        if (p) for (let i = 0; i < n; i++) out[i] = p[inPage + i];
        else for (let i = 0; i < n; i++) out[i] = 0;
        return;
      }
    }
    this.forEachPiece(offset, out.length, (pn, inPage, done, n) => {
      const p = this.pages.get(pn);
      if (p) out.set(p.subarray(inPage, inPage + n), done);
      else out.fill(0, done, done + n);
    });
  }

  /** The 8 bytes at `offset`, little-endian; exactly what readBytes would give, without allocating a buffer. */
  readU64LE(offset: bigint): bigint {
    const scratch = this.scratch;
    if (BigInt.asUintN(64, offset) !== offset) {
      this.readBytes(offset, scratch);
      return this.scratchView.getBigUint64(0, true);
    }
    const split32 = this.split32;
    this.split64[0] = offset;
    const lo = split32[LO];
    const inPage = lo & (PAGE_BYTES - 1);
    if (inPage > PAGE_BYTES - 8) {
      this.readBytes(offset, scratch);
      return this.scratchView.getBigUint64(0, true);
    }
    // Number(offset >> 12n), from the halves.
    const p = this.pages.get(split32[HI] * 0x10_0000 + (lo >>> 12));
    if (!p) return 0n;
    for (let i = 0; i < 8; i++) scratch[i] = p[inPage + i];
    return this.scratchView.getBigUint64(0, true);
  }

  prepare(offset: bigint, length: bigint): void {
    const missing = this.missingPages(offset, Number(length));
    const more = missing - this.prepaid;
    if (more <= 0) return;
    this.charge(more);
    this.prepaid += more;
  }

  writeBytes(offset: bigint, data: Uint8Array): void {
    const inPage = Number(offset & BigInt(PAGE_BYTES - 1));
    if (data.length === 0) return;
    if (inPage + data.length <= PAGE_BYTES) {
      // one page (register-sized writes): no counting pass
      const pn = Number(offset >> PAGE_SHIFT);
      let p = this.pages.get(pn);
      if (!p) {
        this.reserve(1);
        p = this.create(pn);
      }
      p.set(data, inPage);
      return;
    }
    this.reserve(this.missingPages(offset, data.length));
    this.forEachPiece(offset, data.length, (pn, inPage, done, n) => {
      this.create(pn).set(data.subarray(done, done + n), inPage);
    });
  }

  fill(offset: bigint, length: bigint, byte: number): void {
    if (byte !== 0) this.reserve(this.fillPages(offset, length, (pn) => !this.pages.has(pn)));
    let freed = 0;
    this.fillPages(offset, length, (pn, inPage, n) => {
      if (byte === 0 && !this.pages.has(pn)) {
        // Zero-filling an untouched page changes nothing.
      } else if (byte === 0 && n === PAGE_BYTES) {
        this.pages.delete(pn);
        freed++;
      } else {
        this.create(pn).fill(byte, inPage, inPage + n);
      }
      return false;
    });
    this.account?.releaseRam(freed * PAGE_BYTES);
  }

  /**
   * Visit the page pieces of [offset, offset+length) page by page (a huge fill never needs a huge
   * buffer); counts the pieces `fn` says yes to.
   */
  private fillPages(
    offset: bigint,
    length: bigint,
    fn: (pageNumber: number, inPage: number, n: number) => boolean,
  ): number {
    let count = 0;
    let pos = offset;
    let left = length;
    while (left > 0n) {
      const inPage = Number(pos & BigInt(PAGE_BYTES - 1));
      const n = Math.min(PAGE_BYTES - inPage, Number(left > 1n << 40n ? 1n << 40n : left));
      if (fn(Number(pos >> PAGE_SHIFT), inPage, n)) count++;
      pos += BigInt(n);
      left -= BigInt(n);
    }
    return count;
  }

  /** Drop every page (all memory reads zero again). */
  clear(): void {
    this.account?.releaseRam((this.pages.size + this.prepaid) * PAGE_BYTES);
    this.prepaid = 0;
    this.pages.clear();
  }
}
