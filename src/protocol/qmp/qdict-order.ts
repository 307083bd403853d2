/**
 * The member order QEMU's JSON writer produces: QDict iteration order.
 *
 * A QDict is a 512-bucket hash table keyed by the TDB hash of the key's UTF-8 bytes; iteration walks
 * buckets in ascending order and, inside one bucket, the most recently inserted key first. Every
 * object QEMU 10.2.2 prints follows this (checked against all 2,916 objects in
 * protocol/captures/qemu-10.2.2/qmp and hmp captures), which is why e.g. `"id"` comes last in a success reply
 * but first in an error reply, and why the version triple prints as micro, minor, major.
 */

const BUCKETS = 512;

/** The TDB hash (unsigned bytes, 32-bit wrap-around arithmetic). */
export function tdbHash(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    value = (value + ((bytes[i] << ((i * 5) % 24)) >>> 0)) >>> 0;
  }
  return (Math.imul(1103515243, value) + 12345) >>> 0;
}

export function qdictBucket(key: string): number {
  return tdbHash(key) % BUCKETS;
}

/** Keys of `obj` (insertion order = QAPI/input order) rearranged into QDict iteration order. */
export function qdictKeyOrder(keys: readonly string[]): string[] {
  const ranked = keys.map((key, index) => ({ key, index, bucket: qdictBucket(key) }));
  ranked.sort((a, b) => a.bucket - b.bucket || b.index - a.index);
  return ranked.map((r) => r.key);
}
