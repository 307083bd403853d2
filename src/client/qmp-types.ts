/**
 * QMP wire types and the command map QmpClient.execute is typed by: the commands qtestd
 * implements, with their arguments and return shapes as QEMU 10.2.2's QAPI schema defines them
 * (only the members qtestd produces or tests read are spelled out). `x-qtestd-*` extensions are
 * typed loosely. Types only. RunState and the query-pci shapes are the server's own
 * (protocol/qmp/wire-types.ts, imported type-only).
 */
import type {
  PciDeviceInfo as WirePciDeviceInfo,
  PciInfo as WirePciInfo,
  PciMemoryRegion,
  RunState,
} from '../protocol/qmp/wire-types.js';

export interface QmpGreeting {
  QMP: {
    version: { qemu: { major: number; minor: number; micro: number }; package: string };
    capabilities: string[];
  };
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export type Empty = Record<string, never>;

export type { RunState };

export interface StatusInfo {
  running: boolean;
  status: RunState;
  singlestep?: boolean;
}

export interface MachineInfo {
  name: string;
  alias?: string;
  'is-default'?: boolean;
  'cpu-max': number;
  'hotpluggable-cpus': boolean;
  'numa-mem-supported': boolean;
  deprecated: boolean;
  'default-cpu-type'?: string;
  'default-ram-id'?: string;
  acpi: boolean;
}

export interface ObjectTypeInfo {
  name: string;
  abstract?: boolean;
  parent?: string;
}

export interface ObjectPropertyInfo {
  name: string;
  type: string;
  description?: string;
  'default-value'?: unknown;
}

/** One BAR of query-pci (QAPI PciMemoryRegion), integers as JSON.parse reads them. */
export type PciBarInfo = PciMemoryRegion<number>;
export type PciDeviceInfo = WirePciDeviceInfo<number>;
export type PciInfo = WirePciInfo<number>;

interface Cmd<A, R> {
  args: A;
  returns: R;
}

/** Commands typed by name. `undefined` in args means the command takes none (or all optional). */
export interface QmpCommandMap {
  qmp_capabilities: Cmd<{ enable?: string[] } | undefined, Empty>;
  'query-status': Cmd<undefined, StatusInfo>;
  'query-machines': Cmd<{ 'compat-props'?: boolean } | undefined, MachineInfo[]>;
  'qom-list-types': Cmd<{ implements?: string; abstract?: boolean } | undefined, ObjectTypeInfo[]>;
  'qom-get': Cmd<{ path: string; property: string }, unknown>;
  'qom-set': Cmd<{ path: string; property: string; value: unknown }, Empty>;
  'qom-list': Cmd<{ path: string }, ObjectPropertyInfo[]>;
  device_add: Cmd<{ driver: string; id?: string; bus?: string; addr?: string; [property: string]: unknown }, Empty>;
  device_del: Cmd<{ id: string }, Empty>;
  system_reset: Cmd<undefined, Empty>;
  quit: Cmd<undefined, Empty>;
  stop: Cmd<undefined, Empty>;
  cont: Cmd<undefined, Empty>;
  'human-monitor-command': Cmd<{ 'command-line': string; 'cpu-index'?: number }, string>;
  'query-pci': Cmd<undefined, PciInfo[]>;
  [extension: `x-qtestd-${string}`]: Cmd<Record<string, unknown> | undefined, unknown>;
}

export type QmpCommandName = keyof QmpCommandMap;
export type QmpArgs<K extends QmpCommandName> = QmpCommandMap[K]['args'];
export type QmpReturn<K extends QmpCommandName> = QmpCommandMap[K]['returns'];
/** Parameter list for execute(): optional when the command accepts `undefined`. */
export type QmpArgList<K extends QmpCommandName> =
  undefined extends QmpArgs<K> ? [args?: QmpArgs<K>] : [args: QmpArgs<K>];
