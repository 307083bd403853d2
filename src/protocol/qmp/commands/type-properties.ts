/**
 * device-list-properties and qom-list-properties. For every type the oracle has, the answer is its
 * capture (type-properties.json: names, types, descriptions, defaults in QEMU's hash order); a type
 * only qtestd has is answered from the host's declaration, shaped like an oracle type's list. Types
 * the host does not list answer as QEMU does for an unknown type; abstract and non-device types get
 * QEMU's parameter errors.
 */
import { arg } from '../args.js';
import type { QmpHost, QomTypeInfo, TypePropertyInfo } from '../host.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../json-value.js';
import { QmpError } from '../messages.js';
import { defineCommand } from '../registry.js';
import { readQmpCapture } from '../schema/captures.js';
import { parseQemuOutput } from '../schema/json-text.js';

type Command = 'device-list-properties' | 'qom-list-properties';

let captured: Record<Command, Record<string, string>> | undefined;

/** The oracle's reply for `typename`, or undefined when the oracle has no such type. */
function capturedReply(command: Command, typename: string): JsonObject[] | undefined {
  captured ??= JSON.parse(readQmpCapture('type-properties.json')) as Record<Command, Record<string, string>>;
  const line = captured[command][typename];
  if (line === undefined) return undefined;
  return ((parseQemuOutput(line) as JsonObject).return as JsonObject[]).map((p) => ({ ...p }));
}

/** Whether `name` descends from `root` through parents (QOM class ancestry; interfaces not followed). */
function descends(types: readonly QomTypeInfo[], name: string, root: string): boolean {
  const byName = new Map(types.map((t) => [t.name, t] as const));
  for (let t = byName.get(name), hops = 0; t !== undefined && hops < 64; hops++) {
    if (t.name === root) return true;
    t = t.parent === undefined ? undefined : byName.get(t.parent);
  }
  return false;
}

/** One property entry in QAPI ObjectPropertyInfo member order (name, type, description, default-value). */
function infoOf(p: TypePropertyInfo): JsonObject {
  const out: JsonObject = { name: p.name, type: p.type };
  if (p.description !== undefined) out.description = p.description;
  if (p.defaultValue !== undefined) out['default-value'] = p.defaultValue;
  return out;
}

function answer(command: Command, typename: string, host: QmpHost): JsonValue {
  const own = capturedReply(command, typename);
  if (own !== undefined) return own;
  const declared = host.declaredTypeProperties?.(typename);
  if (declared === undefined) throw QmpError.generic(`Type '${typename}' has no property list in qtestd`);
  const template = capturedReply(command, declared.like) ?? [];
  const drop = new Set(declared.likeOwn);
  return [...template.filter((p) => !(isJsonObject(p) && drop.has(p.name as string))), ...declared.own.map(infoOf)];
}

export const typePropertyCommands = [
  defineCommand({
    name: 'device-list-properties',
    args: { typename: arg.str() },
    run(args, { host }) {
      const types = host.qomTypes();
      const type = types.find((t) => t.name === args.typename);
      if (type === undefined) throw new QmpError('DeviceNotFound', `Device '${args.typename}' not found`);
      if (type.abstract || !descends(types, type.name, 'device'))
        throw QmpError.generic("Parameter 'typename' expects a non-abstract device type");
      return answer('device-list-properties', type.name, host);
    },
  }),
  defineCommand({
    name: 'qom-list-properties',
    args: { typename: arg.str() },
    run(args, { host }) {
      const types = host.qomTypes();
      const type = types.find((t) => t.name === args.typename);
      if (type === undefined) throw new QmpError('DeviceNotFound', `Class '${args.typename}' not found`);
      if (!descends(types, type.name, 'object')) throw QmpError.generic("Parameter 'typename' expects a QOM type");
      return answer('qom-list-properties', type.name, host);
    },
  }),
];
