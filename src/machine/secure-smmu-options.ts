/**
 * The `-global arm-smmuv3.PROP=VALUE` properties of the Secure SMMU (docs/secure-smmu.md
 * "Properties"): `secure-impl` (bool), `x-quirks=rfc|architectural` and `x-quirk-NAME` (bool)
 * per quirk of smmu/quirks.ts. Other globals are left alone (config/argv.ts warns about them).
 */
import { parseBool } from '../base/keyval.js';
import { QUIRK_NAMES, quirkSet } from '../smmu/quirks.js';
import type { SmmuQuirkName, SmmuQuirks } from '../smmu/quirks.js';
import { ConfigError } from './config.js';
import type { MachineConfig } from './config.js';

export interface SecureSmmuOptions {
  secureImpl: boolean;
  quirks: Partial<SmmuQuirks>;
}

/** A global this file consumes (argv.ts does not warn about these). */
export const isSecureSmmuGlobal = (driver: string, prop: string): boolean =>
  driver === 'arm-smmuv3' && (prop === 'secure-impl' || prop === 'x-quirks' || prop.startsWith('x-quirk-'));

export function secureSmmuOptions(globals: MachineConfig['globals']): SecureSmmuOptions {
  const out: { secureImpl: boolean; quirks: Partial<Record<SmmuQuirkName, boolean>> } = {
    secureImpl: false,
    quirks: {},
  };
  for (const g of globals) {
    if (g.driver !== 'arm-smmuv3') continue;
    const fail = (why: string) => new ConfigError(`can't apply global ${g.driver}.${g.prop}=${g.value}: ${why}`);
    if (g.prop === 'x-quirks') {
      if (g.value !== 'rfc' && g.value !== 'architectural')
        throw fail(`Parameter 'x-quirks' does not accept value '${g.value}'`);
      out.quirks = { ...quirkSet(g.value) };
      continue;
    }
    const quirk = g.prop.startsWith('x-quirk-') ? (g.prop.slice(8) as SmmuQuirkName) : undefined;
    if (g.prop !== 'secure-impl' && !(quirk && QUIRK_NAMES.includes(quirk))) continue;
    const b = parseBool(g.value);
    if (b === undefined) throw fail(`Parameter '${g.prop}' expects 'on' or 'off'`);
    if (quirk) out.quirks[quirk] = b;
    else out.secureImpl = b;
  }
  return out;
}
