/**
 * The JSON value model shared by the QMP parser, writer and command handlers.
 *
 * Integers that QEMU keeps as integers (anything fitting int64 or uint64) are `bigint`; every other
 * number is a `number` (QEMU's double). Handlers may also return plain `number`s for integers: the
 * writer prints a whole `number` below 1e17 exactly as an integer, the same bytes QEMU prints.
 */

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | JsonObject;

export interface JsonObject {
  [key: string]: JsonValue;
}

export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A fresh object without a prototype, so input keys such as `__proto__` are plain keys. */
export function emptyJsonObject(): JsonObject {
  return Object.create(null) as JsonObject;
}

export function hasKey(obj: JsonObject, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** QEMU's `qnum_get_try_int`: an integer value that fits int64 (doubles never qualify). */
export function asInt64(v: JsonValue | undefined): bigint | undefined {
  if (typeof v !== 'bigint') return undefined;
  return v >= INT64_MIN && v <= INT64_MAX ? v : undefined;
}
