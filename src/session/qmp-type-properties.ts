/**
 * Property lists (device-list-properties / qom-list-properties) of the device types only qtestd has,
 * from their declarations in the device registry: the generic PCI part is that of `edu` as the oracle
 * prints it (edu's own properties removed), followed by the type's own properties.
 */
import { findDeviceType } from '../devices/registry.js';
import type { PropertySchema } from '../devices/properties.js';
import type { DeclaredTypeProperties, TypePropertyInfo } from '../protocol/qmp/host.js';
import type { JsonValue } from '../protocol/qmp/json-value.js';

/** The oracle type whose generic PCI properties the declared types share. */
const LIKE = 'edu';

function defaultOf(p: PropertySchema): JsonValue | undefined {
  const d = p.helpDefault;
  if (d === undefined) return undefined;
  if (p.kind === 'bool') return d === 'on';
  if (p.kind === 'str') return d;
  return BigInt(d);
}

function infoOf(p: PropertySchema): TypePropertyInfo {
  const type = p.kind === 'pci-devfn' ? 'str' : p.kind;
  const description = p.description ?? (p.kind === 'bool' ? 'on/off' : undefined);
  const defaultValue = defaultOf(p);
  return {
    name: p.name,
    type,
    ...(description !== undefined ? { description } : {}),
    ...(defaultValue !== undefined ? { defaultValue } : {}),
  };
}

export function declaredTypeProperties(typename: string): DeclaredTypeProperties | undefined {
  const info = findDeviceType(typename);
  const like = findDeviceType(LIKE);
  if (info === undefined || like === undefined) return undefined;
  return { like: LIKE, likeOwn: like.properties.map((p) => p.name), own: info.properties.map(infoOf) };
}
