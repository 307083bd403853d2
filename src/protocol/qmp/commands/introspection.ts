/**
 * query-qmp-schema: QEMU 10.2.2's schema exactly as the oracle returns it (captured), followed by
 * one entry per `x-qtestd-*` extension (and an argument type for those with arguments) — the only
 * part of the reply that is not QEMU's (protocol/deviations.md).
 */
import type { JsonObject, JsonValue } from '../json-value.js';
import { defineCommand, type QmpExtension } from '../registry.js';

function extensionEntries(ext: QmpExtension): JsonObject[] {
  const members = ext.introspect ?? [];
  if (members.length === 0) return [{ name: ext.name, 'ret-type': 'any', 'meta-type': 'command', 'arg-type': '0' }];
  const argType = `${ext.name}-arg`;
  return [
    { name: ext.name, 'ret-type': 'any', 'meta-type': 'command', 'arg-type': argType },
    {
      name: argType,
      members: members.map((m): JsonObject => (m.optional ? { name: m.name, default: null, type: m.type } : { name: m.name, type: m.type })),
      'meta-type': 'object',
    },
  ];
}

export const introspectionCommands = [
  defineCommand({
    name: 'query-qmp-schema',
    args: {},
    run(_args, { registry }) {
      const qemu: JsonValue[] = registry.schema?.toJson() ?? [];
      return [...qemu, ...registry.extensions.flatMap(extensionEntries)];
    },
  }),
];
