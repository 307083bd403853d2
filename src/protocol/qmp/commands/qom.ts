/** qom-list, qom-get, qom-set over the host's QOM tree, with QEMU 10.2.2's error texts. */
import { arg } from '../args.js';
import type { QomNode, QomProperty } from '../host.js';
import { emptyJsonObject, type JsonObject } from '../json-value.js';
import { QmpError } from '../messages.js';
import { resolveQomPath } from '../qom-path.js';
import { defineCommand } from '../registry.js';

function notFound(path: string): QmpError {
  return new QmpError('DeviceNotFound', `Device '${path}' not found`);
}

/** qom-get/qom-set: any resolution failure, ambiguity included, is DeviceNotFound (observed). */
function resolveStrict(root: QomNode, path: string): QomNode {
  const r = resolveQomPath(root, path);
  if (r.node === undefined) throw notFound(path);
  return r.node;
}

function findProperty(node: QomNode, name: string): QomProperty {
  const prop = node.properties().find((p) => p.name === name);
  if (prop === undefined) throw QmpError.generic(`Property '${node.typeName}.${name}' not found`);
  return prop;
}

export const qomCommands = [
  defineCommand({
    name: 'qom-list',
    args: { path: arg.str() },
    run(args, { host }) {
      const r = resolveQomPath(host.qomRoot(), args.path);
      if (r.node === undefined) {
        if (r.ambiguous) throw QmpError.generic(`Path '${args.path}' is ambiguous`);
        throw notFound(args.path);
      }
      return r.node.properties().map((p): JsonObject => {
        const info: JsonObject = { name: p.name, type: p.type };
        if (p.description !== undefined) info.description = p.description;
        if (p.defaultValue !== undefined) info['default-value'] = p.defaultValue;
        return info;
      });
    },
  }),
  defineCommand({
    name: 'qom-get',
    args: { path: arg.str(), property: arg.str() },
    run(args, { host }) {
      const node = resolveStrict(host.qomRoot(), args.path);
      const prop = findProperty(node, args.property);
      if (prop.get === undefined) throw QmpError.generic(`Property '${node.typeName}.${prop.name}' is not readable`);
      const r = prop.get();
      if (!r.ok) throw QmpError.from(r.error);
      return r.value;
    },
  }),
  defineCommand({
    name: 'qom-set',
    args: { path: arg.str(), property: arg.str(), value: arg.any() },
    run(args, { host }) {
      const node = resolveStrict(host.qomRoot(), args.path);
      const prop = findProperty(node, args.property);
      if (prop.set === undefined) throw QmpError.generic(`Property '${node.typeName}.${prop.name}' is not writable`);
      const r = prop.set(args.value);
      if (!r.ok) throw QmpError.from(r.error);
      return emptyJsonObject();
    },
  }),
];
