/**
 * The iteration order of a GLib (2.74) string-keyed GHashTable, for the QEMU lists that come out of
 * one: QOM children of a container (/objects, /chardevs), which qom-list, query-memdev,
 * query-chardev and query-yank print in that order (reversed: QEMU prepends while iterating).
 *
 * The model keeps only what decides the order: bucket array of key hashes (0 unused, 1 tombstone),
 * open addressing with quadratic probing from `(hash * 11) % mod`, first tombstone on the probe
 * path reused on insert, resize after an insert into a never-used bucket or after a remove, and
 * the in-place resize that walks the old buckets in index order and displaces not-yet-moved
 * entries. Keys are hashed with g_str_hash (djb2 over signed chars). Facts: GLib's ghash.c.
 */

const MIN_SHIFT = 3;
/** Largest prime below 2^shift, indexed by shift (GLib's prime_mod table). */
const PRIME_MOD = [
  1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071, 262139, 524287, 1048573,
  2097143, 4194301, 8388593, 16777213, 33554393, 67108859, 134217689, 268435399, 536870909, 1073741789, 2147483647,
];

const UNUSED = 0;
const TOMBSTONE = 1;

/** g_str_hash: h = h * 33 + c over the bytes as signed chars, 32-bit, from 5381. */
export function gStrHash(key: string): number {
  let h = 5381;
  for (const byte of Buffer.from(key, 'utf8')) {
    const c = byte >= 0x80 ? byte - 0x100 : byte;
    h = (Math.imul(h, 33) + c) >>> 0;
  }
  return h;
}

function closestShift(n: number): number {
  let i = 0;
  for (; n > 0; i++) n >>>= 1;
  return i;
}

export class GHashOrder {
  private size = 1 << MIN_SHIFT;
  private mod = PRIME_MOD[MIN_SHIFT];
  private mask = this.size - 1;
  private hashes: number[] = new Array<number>(this.size).fill(UNUSED);
  private keys: (string | undefined)[] = new Array<string | undefined>(this.size).fill(undefined);
  private nnodes = 0;
  private noccupied = 0;

  constructor(keys: Iterable<string> = []) {
    for (const k of keys) this.insert(k);
  }

  /** Keys in GHashTableIter order (bucket index order). */
  keysInOrder(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.size; i++) if (this.hashes[i] >= 2) out.push(this.keys[i]!);
    return out;
  }

  has(key: string): boolean {
    const i = this.lookup(key).index;
    return this.hashes[i] >= 2 && this.keys[i] === key;
  }

  insert(key: string): void {
    const { index, hash } = this.lookup(key);
    const old = this.hashes[index];
    if (old >= 2 && this.keys[index] === key) return;
    this.hashes[index] = hash;
    this.keys[index] = key;
    this.nnodes++;
    if (old === UNUSED) {
      this.noccupied++;
      this.maybeResize();
    }
  }

  remove(key: string): boolean {
    const { index } = this.lookup(key);
    if (!(this.hashes[index] >= 2 && this.keys[index] === key)) return false;
    this.hashes[index] = TOMBSTONE;
    this.keys[index] = undefined;
    this.nnodes--;
    this.maybeResize();
    return true;
  }

  private toIndex(hash: number): number {
    return Number((BigInt(hash) * 11n) & 0xffffffffn) % this.mod;
  }

  /** The bucket holding `key`, else the first tombstone on its probe path, else the unused bucket ending it. */
  private lookup(key: string): { index: number; hash: number } {
    let hash = gStrHash(key);
    if (hash < 2) hash = 2;
    let index = this.toIndex(hash);
    let tombstone = -1;
    for (let step = 0; this.hashes[index] !== UNUSED;) {
      const h = this.hashes[index];
      if (h === hash && this.keys[index] === key) return { index, hash };
      if (h === TOMBSTONE && tombstone < 0) tombstone = index;
      step++;
      index = (index + step) & this.mask;
    }
    return { index: tombstone >= 0 ? tombstone : index, hash };
  }

  private maybeResize(): void {
    const occupied = this.noccupied;
    if (
      (this.size > this.nnodes * 4 && this.size > 1 << MIN_SHIFT) ||
      this.size <= occupied + Math.floor(occupied / 16)
    ) {
      this.resize();
    }
  }

  private resize(): void {
    const oldSize = this.size;
    const shift = Math.max(closestShift(Math.trunc(this.nnodes * 1.333)), MIN_SHIFT);
    this.size = 1 << shift;
    this.mod = PRIME_MOD[shift];
    this.mask = this.size - 1;
    const span = Math.max(oldSize, this.size);
    while (this.hashes.length < span) {
      this.hashes.push(UNUSED);
      this.keys.push(undefined);
    }
    const moved = new Array<boolean>(span).fill(false);
    for (let i = 0; i < oldSize; i++) {
      let hash = this.hashes[i];
      if (hash < 2) {
        this.hashes[i] = UNUSED;
        continue;
      }
      if (moved[i]) continue;
      this.hashes[i] = UNUSED;
      let key = this.keys[i];
      this.keys[i] = undefined;
      for (;;) {
        let at = this.toIndex(hash);
        for (let step = 0; moved[at];) {
          step++;
          at = (at + step) & this.mask;
        }
        moved[at] = true;
        const replaced = this.hashes[at];
        const replacedKey = this.keys[at];
        this.hashes[at] = hash;
        this.keys[at] = key;
        if (replaced < 2) break;
        hash = replaced;
        key = replacedKey;
      }
    }
    this.hashes.length = this.size;
    this.keys.length = this.size;
    this.noccupied = this.nnodes;
  }
}
