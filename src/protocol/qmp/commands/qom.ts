/** qom-list, qom-list-get, qom-get, qom-set over the host's QOM tree, with QEMU 10.2.2's error texts. */
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

/** qom-list/qom-list-get resolution: an ambiguous path is a GenericError, a missing one DeviceNotFound. */
function resolveListing(root: QomNode, path: string): QomNode {
  const r = resolveQomPath(root, path);
  if (r.node === undefined) {
    if (r.ambiguous) throw QmpError.generic(`Path '${path}' is ambiguous`);
    throw notFound(path);
  }
  return r.node;
}

export const qomCommands = [
  defineCommand({
    name: 'qom-list',
    args: { path: arg.str() },
    run(args, { host }) {
      return resolveListing(host.qomRoot(), args.path).properties().map((p): JsonObject => {
        const info: JsonObject = { name: p.name, type: p.type };
        if (p.description !== undefined) info.description = p.description;
        if (p.defaultValue !== undefined) info['default-value'] = p.defaultValue;
        return info;
      });
    },
  }),
  defineCommand({
    // Per path, in qom-list order: name, type and the value (left out where reading fails, as QEMU).
    // The schema visitor has checked `paths` is a list of strings; the first bad path fails it all.
    name: 'qom-list-get',
    args: { paths: arg.any() },
    run(args, { host }) {
      const root = host.qomRoot();
      return (args.paths as string[]).map((path): JsonObject => ({
        properties: resolveListing(root, path)
          .properties()
          .map((p): JsonObject => {
            const item: JsonObject = { name: p.name, type: p.type };
            const r = p.get?.();
            if (r?.ok === true) item.value = r.value;
            return item;
          }),
      }));
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
