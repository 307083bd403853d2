/**
 * Plain-JSON views of SMMU state for the x-qtestd-* introspection commands: decoded configs,
 * decode traces, permission strings, and a bigint-safe converter (bigints become 0x… strings).
 * Pure formatting; no device state.
 */
import { hex } from './bits.js';
import { PERM } from './faults.js';
import type { ConfigDecodeTrace, TransCfg } from './translation-config.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

export function permName(p: number): string {
  return (p & PERM.RO ? 'r' : '-') + (p & PERM.WO ? 'w' : '-');
}

export function describeConfig(cfg: TransCfg): Record<string, unknown> {
  if (cfg.aborted) return { kind: 'abort' };
  if (cfg.bypassed) return { kind: 'bypass' };
  return {
    kind: cfg.stage,
    asid: cfg.asid,
    vmid: cfg.s2.vmid,
    oas: cfg.oas,
    tbi: cfg.tbi,
    affd: cfg.affd,
    recordFaults: cfg.recordFaults,
    tt: cfg.stage === 's2' ? undefined : cfg.tt,
    s2: cfg.stage === 's1' ? undefined : cfg.s2,
    iotlbHits: cfg.iotlbHits,
    iotlbMisses: cfg.iotlbMisses,
  };
}

export function describeTrace(t: ConfigDecodeTrace): Record<string, unknown> {
  return { steAddr: t.steAddr, ste: t.ste, cdIpa: t.cdIpa, cdAddr: t.cdAddr, cd: t.cd };
}

/** Plain JSON: bigints become hex strings, undefined members are dropped. */
export function toJson(v: unknown): JsonValue {
  if (typeof v === 'bigint') return hex(v);
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map(toJson);
  if (typeof v === 'object') {
    const out: { [k: string]: JsonValue } = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined) out[k] = toJson(x);
    return out;
  }
  return null;
}
