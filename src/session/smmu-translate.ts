/**
 * The arguments of x-qtestd-smmu-translate (docs/inspector.md), checked here so that a machine
 * without SMMU answers that first, as the other SMMU extensions do.
 */
import type { Machine } from '../machine/machine.js';
import type { JsonObject } from '../protocol/qmp/json-value.js';
import { QmpError } from '../protocol/qmp/messages.js';

/**
 * x-qtestd-smmu-translate {sid, iova, access: "read"|"write", ssid?, attrs?: {space?}}: checks its
 * own arguments (after the SMMU check, like decode-stream). Only SSID 0 exists (no substreams).
 */
export function dryRunTranslate(smmu: NonNullable<Machine['smmu']>, raw: JsonObject): unknown {
  const u = (name: string, max: bigint, optional = false): bigint | undefined => {
    const v = raw[name];
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'bigint' || v < 0n || v > max)
      throw QmpError.generic(`Parameter '${name}' expects an unsigned ${max === 0xffffffffn ? 32 : 64}-bit integer`);
    return v;
  };
  const sid = u('sid', 0xffffffffn)!;
  const iova = u('iova', 0xffffffffffffffffn)!;
  const ssid = u('ssid', 0xffffffffn, true);
  if (ssid !== undefined && ssid !== 0n) throw QmpError.generic("Parameter 'ssid': only SubstreamID 0 is modelled");
  const access = raw.access ?? 'read';
  if (access !== 'read' && access !== 'write') throw QmpError.generic("Parameter 'access' expects 'read' or 'write'");
  const attrs = raw.attrs ?? {};
  if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs))
    throw QmpError.generic("Parameter 'attrs' expects an object");
  const space = (attrs as JsonObject).space;
  if (space !== undefined && (typeof space !== 'bigint' || space < 0n || space > 3n))
    throw QmpError.generic("Parameter 'attrs.space' expects 0..3");
  return smmu.dryRunTranslate(
    Number(sid),
    iova,
    access === 'write',
    space === undefined ? {} : { space: Number(space) },
  );
}
