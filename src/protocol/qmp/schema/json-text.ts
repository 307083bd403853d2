/**
 * Parse a JSON text QEMU printed (an oracle capture) into a value the writer prints back byte for
 * byte. Integers stay bigint, as in requests. QEMU prints a QDict's members bucket by bucket, the
 * most recently inserted first inside a bucket (qdict-order.ts); so inserting the members in the
 * reverse of their printed order recreates an insertion order that prints the same way.
 */
import { JsonStream, QEMU_JSON_LIMITS } from '../json-stream.js';
import { emptyJsonObject, isJsonObject, type JsonValue } from '../json-value.js';

function reinsert(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(reinsert);
  if (!isJsonObject(v)) return v;
  const out = emptyJsonObject();
  for (const key of Object.keys(v).reverse()) out[key] = reinsert(v[key]);
  return out;
}

export function parseQemuOutput(text: string): JsonValue {
  const stream = new JsonStream({ ...QEMU_JSON_LIMITS, maxDepth: 1024 });
  const items = stream.push(Buffer.from(text, 'latin1'));
  const first = items[0];
  if (first === undefined || first.kind !== 'value') throw new Error(`not one JSON value: ${text.slice(0, 80)}`);
  return reinsert(first.value);
}
