/**
 * Properties of the user-creatable objects the machine models, set as QEMU's property setters set
 * them (object-add, in the order the caller gives): QEMU 10.2.2's texts for values its setters
 * refuse (backends/hostmem.c, backends/rng.c behaviour on a build without NUMA support, as the
 * oracle answers). The result is the ObjectSpec Machine.addObject takes, values as `-object` text.
 */
import { ConfigError, OBJECT_TYPES, type MachineConfig, type ObjectSpec } from './config.js';
import { ramBackendId } from './machine-props.js';
import type { QomNode } from './qom-tree.js';

type Setter = (value: unknown, state: Map<string, string>) => string | undefined;

const onOff = (v: unknown): string => (v === true ? 'on' : 'off');
const asUint = (v: unknown): bigint => {
  const n = typeof v === 'bigint' ? v : BigInt(Number(v));
  return n < 0n ? n + (1n << 64n) : n;
};

const BACKEND: Readonly<Record<string, Setter>> = {
  size(v) {
    const n = asUint(v);
    if (n === 0n) throw new ConfigError("property 'size' of memory-backend-ram doesn't take value '0'");
    return String(n);
  },
  'host-nodes'() {
    throw new ConfigError('NUMA node binding are not supported by this QEMU');
  },
  policy(v) {
    if (v !== 'default') throw new ConfigError('NUMA policies are not supported by this QEMU');
    return String(v);
  },
  'prealloc-threads'(v) {
    if (asUint(v) === 0n)
      throw new ConfigError("property 'prealloc-threads' of memory-backend-ram doesn't take value '0'");
    return String(asUint(v));
  },
  prealloc(v, state) {
    if (v === true && state.get('reserve') === 'off')
      throw new ConfigError("'prealloc=on' and 'reserve=off' are incompatible");
    return onOff(v);
  },
  reserve(v, state) {
    if (v === false && state.get('prealloc') === 'on')
      throw new ConfigError("'prealloc=on' and 'reserve=off' are incompatible");
    return onOff(v);
  },
  'prealloc-context'() {
    throw new ConfigError("memory-backend-ram property 'prealloc-context' is not supported by qtestd");
  },
  share: onOff,
  merge: onOff,
  dump: onOff,
  'x-use-canonical-path-for-ramblock-id': onOff,
};

const SETTERS: Readonly<Record<string, Readonly<Record<string, Setter>>>> = {
  'memory-backend-ram': BACKEND,
  'rng-builtin': {
    opened() {
      throw new ConfigError("Property 'rng-builtin.opened' is not writable");
    },
  },
};

/** The object-add types the machine models. */
export const USER_OBJECT_TYPES: readonly string[] = [...OBJECT_TYPES];

/** Set `props` on a new `type` object, in the given order; throws ConfigError with QEMU's text. */
export function userObjectSpec(type: string, id: string, props: ReadonlyArray<readonly [string, unknown]>): ObjectSpec {
  const setters = SETTERS[type];
  if (setters === undefined) throw new ConfigError(`object-add of qom-type '${type}' is not supported by qtestd`);
  const state = new Map<string, string>();
  for (const [name, value] of props) {
    const set = Object.prototype.hasOwnProperty.call(setters, name) ? setters[name] : undefined;
    if (set === undefined) throw new ConfigError(`Property '${type}.${name}' not found`);
    const text = set(value, state);
    if (text !== undefined) state.set(name, text);
  }
  return { type, id, props: [...state] };
}

/** object-del from the /objects container: unknown ids, and backends the machine uses, refused. */
export function removeUserObject(objects: QomNode, config: MachineConfig, id: string): void {
  const node = objects.children.get(id);
  if (node === undefined) throw new ConfigError(`object '${id}' not found`);
  const inUse = id === ramBackendId(config) || config.numa.nodes.some((n) => n.memdev === id);
  if (inUse) throw new ConfigError(`object '${id}' is in use, can not be deleted`);
  objects.remove(node);
}

/** query-memdev: each memory backend under /objects, in the container's (qom-list) order. */
export function memoryBackends(objects: QomNode): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const name of objects.order ?? [...objects.children.keys()]) {
    const node = objects.children.get(name);
    if (node === undefined || !node.typeName.startsWith('memory-backend-')) continue;
    const get = (p: string): unknown => node.properties.find((x) => x.name === p)?.get?.();
    const props = ['size', 'merge', 'dump', 'prealloc', 'share', 'reserve', 'host-nodes', 'policy'];
    out.push({ id: name, ...Object.fromEntries(props.map((p) => [p, get(p)])) });
  }
  return out;
}

/** The order QEMU creates `-object`s in: memory backends after the others (object_create_early). */
export function creationOrder(objects: readonly ObjectSpec[]): ObjectSpec[] {
  const late = (o: ObjectSpec): boolean => o.type.startsWith('memory-backend-');
  return [...objects.filter((o) => !late(o)), ...objects.filter(late)];
}
