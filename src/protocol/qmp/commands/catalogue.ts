/**
 * What-do-you-have queries: query-version, query-target, query-machines, query-cpu-definitions,
 * query-cpus-fast, qom-list-types, query-commands. Entries are QEMU 10.2.2's (the machine and CPU
 * lists are the oracle's captures); the lists hold only what the host models.
 */
import { arg } from '../args.js';
import type { QomTypeInfo } from '../host.js';
import type { JsonObject, JsonValue } from '../json-value.js';
import { defineCommand } from '../registry.js';
import { readQmpCapture } from '../schema/captures.js';
import type { QmpCaptureName } from '../schema/captures.js';
import { parseQemuOutput } from '../schema/json-text.js';
import { MACHINE_CATALOGUE } from '../data/machines.js';
import { QEMU_VERSION, TARGET_ARCH } from '../data/version.js';

/** Types `implements` matches: the type, its ancestors and their interfaces (QEMU object_class_dynamic_cast). */
function implementsType(type: QomTypeInfo, wanted: string, byName: Map<string, QomTypeInfo>): boolean {
  for (let t: QomTypeInfo | undefined = type, hops = 0; t !== undefined && hops < 64; hops++) {
    if (t.name === wanted || (t.interfaces ?? []).includes(wanted)) return true;
    t = t.parent === undefined ? undefined : byName.get(t.parent);
  }
  return false;
}

const captured = new Map<QmpCaptureName, JsonObject[]>();

/** The entries of a captured QEMU list reply (oracle capture, QEMU's order: the lists are filtered, never reordered). */
function capturedList(file: QmpCaptureName): JsonObject[] {
  let list = captured.get(file);
  if (list === undefined) {
    list = (parseQemuOutput(readQmpCapture(file)) as JsonObject).return as JsonObject[];
    captured.set(file, list);
  }
  return list;
}

export const catalogueCommands = [
  defineCommand({
    name: 'query-version',
    args: {},
    run: () => ({
      qemu: { major: QEMU_VERSION.major, minor: QEMU_VERSION.minor, micro: QEMU_VERSION.micro },
      package: QEMU_VERSION.package,
    }),
  }),
  defineCommand({
    name: 'query-target',
    args: {},
    run: () => ({ arch: TARGET_ARCH }),
  }),
  defineCommand({
    name: 'query-machines',
    args: { 'compat-props': arg.optBool() },
    run(args, { host }) {
      const modelled = new Set(host.machineTypes());
      return capturedList('query-machines.reply')
        .filter((m) => modelled.has(m.name as string))
        .map((m): JsonObject => {
          if (args['compat-props'] !== true) return { ...m };
          const props = MACHINE_CATALOGUE.find((c) => c.info.name === m.name)?.compatProps ?? [];
          return { ...m, 'compat-props': props };
        });
    },
  }),
  defineCommand({
    name: 'query-cpu-definitions',
    args: {},
    run(_args, { host }) {
      const modelled = host.cpuModels();
      const known = capturedList('query-cpu-definitions.reply').filter((c) => modelled.includes(c.name as string));
      const extra = modelled
        .filter((name) => !known.some((c) => c.name === name))
        .map((name): JsonObject => ({ name, typename: `${name}-arm-cpu`, static: false, deprecated: false }));
      return [...known.map((c) => ({ ...c })), ...extra];
    },
  }),
  defineCommand({
    name: 'query-cpus-fast',
    args: {},
    run(_args, { host }) {
      return host.cpus().map((cpu): JsonObject => {
        const props: JsonObject = {};
        if (cpu.props.nodeId !== undefined) props['node-id'] = cpu.props.nodeId;
        if (cpu.props.socketId !== undefined) props['socket-id'] = cpu.props.socketId;
        if (cpu.props.clusterId !== undefined) props['cluster-id'] = cpu.props.clusterId;
        if (cpu.props.coreId !== undefined) props['core-id'] = cpu.props.coreId;
        if (cpu.props.threadId !== undefined) props['thread-id'] = cpu.props.threadId;
        return {
          'cpu-index': cpu.cpuIndex,
          'qom-path': cpu.qomPath,
          'thread-id': cpu.threadId,
          props,
          'qom-type': cpu.qomType,
          target: TARGET_ARCH,
        };
      });
    },
  }),
  defineCommand({
    name: 'qom-list-types',
    args: { implements: arg.optStr(), abstract: arg.optBool() },
    run(args, { host }) {
      const types = host.qomTypes();
      const byName = new Map(types.map((t) => [t.name, t] as const));
      const includeAbstract = args.abstract ?? false;
      const wanted = args.implements;
      const out: JsonValue[] = [];
      for (const t of types) {
        if (t.abstract && !includeAbstract) continue;
        if (wanted !== undefined && !implementsType(t, wanted, byName)) continue;
        const info: JsonObject = { name: t.name };
        if (t.abstract) info.abstract = true;
        if (t.parent !== undefined) info.parent = t.parent;
        out.push(info);
      }
      return out;
    },
  }),
  defineCommand({
    name: 'query-commands',
    args: {},
    run(_args, { registry }) {
      return registry.names().map((name): JsonObject => ({ name }));
    },
  }),
];
