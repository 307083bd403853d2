/**
 * QmpHost: everything the QMP layer needs from the machine, as one narrow interface the session
 * implements. The QMP layer knows no devices; the host knows no JSON framing, ids or negotiation.
 *
 * Events: the host owns run state and emits every event (RESET, SHUTDOWN, STOP, RESUME,
 * DEVICE_DELETED, ...) to its subscribers synchronously, at the moment the state changes. An event
 * caused by a command is therefore on the wire before that command's reply, as on QEMU 10.2.2.
 * Each negotiated QmpEndpoint subscribes; endpoints still in capabilities negotiation drop events
 * (QEMU does the same).
 */
import type { JsonObject, JsonValue } from './json-value.js';
import type { PciInfo, RunState } from './wire-types.js';

export type { PciBridgeInfo, PciBusInfo, PciDeviceInfo, PciInfo, PciMemoryRange, PciMemoryRegion, RunState } from './wire-types.js';

/** QMP error classes (QAPI `QapiErrorClass`). */
export type QmpErrorClass = 'GenericError' | 'CommandNotFound' | 'DeviceNotActive' | 'DeviceNotFound' | 'KVMMissingCap';

export interface QmpErrorBody {
  class: QmpErrorClass;
  desc: string;
}

export type HostOutcome = { ok: true } | { ok: false; error: QmpErrorBody };
export type HostResult<T> = { ok: true; value: T } | { ok: false; error: QmpErrorBody };


/** QAPI `ShutdownCause` values the QMP layer passes to the host. */
export type ShutdownCause = 'host-qmp-quit' | 'host-qmp-system-reset';

/** One event; the endpoint adds the timestamp. `data` is omitted for STOP/RESUME. */
export interface QmpEvent {
  event: string;
  data?: JsonObject;
}

export type QmpEventListener = (event: QmpEvent) => void;

/** One QOM property, as qom-list/qom-get/qom-set see it. */
export interface QomProperty {
  readonly name: string;
  /** QOM type string: `string`, `bool`, `uint64`, `child<edu>`, `link<bus>`, ... */
  readonly type: string;
  readonly description?: string;
  readonly defaultValue?: JsonValue;
  /** For child<> and link<> properties: the object the property leads to (path resolution). */
  target?(): QomNode | undefined;
  /** Absent: the property is not readable. child<>/link<> getters return the canonical path. */
  get?(): HostResult<JsonValue>;
  /** Absent: the property is not writable. Integers arrive as bigint. */
  set?(value: JsonValue): HostOutcome;
}

/** One QOM object. `properties()` is in the order qom-list prints (QEMU's order for the captures). */
export interface QomNode {
  /** Its QOM type name, used in errors: `Property 'edu.nope' not found`. */
  readonly typeName: string;
  properties(): readonly QomProperty[];
}

/** One QOM type for qom-list-types. `implements` matches the type, its ancestors and interfaces. */
export interface QomTypeInfo {
  readonly name: string;
  /** Absent only for the roots `object` and `interface`. */
  readonly parent?: string;
  readonly abstract: boolean;
  readonly interfaces?: readonly string[];
}

/** One property of a type as device-list-properties / qom-list-properties print it. */
export interface TypePropertyInfo {
  readonly name: string;
  readonly type: string;
  readonly description?: string;
  readonly defaultValue?: JsonValue;
}

/**
 * The properties of a type the oracle does not have: those of the type `like` (an oracle type with
 * the same ancestry) without `like`'s own ones (`likeOwn`), then `own`.
 */
export interface DeclaredTypeProperties {
  readonly like: string;
  readonly likeOwn: readonly string[];
  readonly own: readonly TypePropertyInfo[];
}

/** One vCPU for query-cpus-fast. */
export interface CpuInfoFast {
  readonly cpuIndex: number;
  readonly qomPath: string;
  /** e.g. `max-arm-cpu`. */
  readonly qomType: string;
  /** Host thread id QEMU would report (the session may use its pid). */
  readonly threadId: number;
  readonly props: { nodeId?: number; socketId?: number; clusterId?: number; coreId?: number; threadId?: number };
}

/** `info <topic>` texts the host renders (LF line ends; the QMP layer turns them into CRLF). */
export type HmpInfoTopic = 'mtree' | 'pci' | 'qtree' | 'numa';

/** One character device of the launch, for query-chardev and query-yank. */
export interface ChardevInfo {
  readonly label: string;
  /** QEMU's `filename` of the backend as it stands now. */
  readonly filename: string;
  /** A frontend (monitor, qtest, serial) uses it. */
  readonly frontendOpen: boolean;
  /** A socket chardev: it has a yank instance. */
  readonly yank: boolean;
}

/** Facts about the machine some queries report (query-memdev, query-name, ...). */
export interface MachineSummary {
  /** `virt` or `none`. */
  readonly board: 'virt' | 'none';
  readonly ramBytes: bigint;
  /** Whether the board has an ACPI device (virt with acpi on/auto). */
  readonly acpi: boolean;
  /** `-name` guest name. */
  readonly guestName?: string;
}

export interface QmpHost {
  // -- run state --
  runState(): RunState;
  /** Pause; emits STOP only if the state changed. */
  stop(): void;
  /** Resume; emits RESUME only if the state changed. */
  cont(): HostOutcome;
  /** Reset the machine and emit RESET `{guest: false, reason}` before returning. */
  systemReset(reason: ShutdownCause): void;
  /**
   * Emit SHUTDOWN `{guest: false, reason}` before returning, then tear down asynchronously: the
   * endpoint writes the command's reply right after this returns, and teardown must not lose it.
   */
  requestQuit(reason: ShutdownCause): void;
  subscribe(listener: QmpEventListener): () => void;
  /**
   * Called right after each reply is written. Events QEMU sends *after* the reply belong here: on
   * 10.2.2 `device_del` of a device behind a powered-off root-port slot replies first and then emits
   * DEVICE_DELETED (device-add-del-root-port-slot-off.txt).
   */
  afterReply?(): void;

  /** Whether the machine waits in `--preconfig` (before initialization) for x-exit-preconfig. */
  inPreconfig?(): boolean;
  /** x-exit-preconfig: initialize the machine; emits RESUME unless started with -S. */
  exitPreconfig?(): void;

  /** system_powerdown: emit POWERDOWN (no guest reacts under qtest). */
  powerdown(): void;

  // -- what we model --
  summary(): MachineSummary;
  /** Machine type names (`virt-10.2`, `none`); query-machines shows their catalogue entries. */
  machineTypes(): readonly string[];
  /** CPU model names (`cortex-a57`, `max`, ...). */
  cpuModels(): readonly string[];
  /** Every QOM type we model (devices, buses, machines, interfaces, abstract bases). */
  qomTypes(): readonly QomTypeInfo[];
  cpus(): readonly CpuInfoFast[];
  /** Property lists of the types only qtestd has (device types from their declarations). */
  declaredTypeProperties?(typename: string): DeclaredTypeProperties | undefined;
  pci(): readonly PciInfo[];
  /** An HMP `info` text; `flags` are the letters given (`b` for `info qtree -b`). */
  hmpInfo(topic: HmpInfoTopic, flags?: readonly string[]): string;

  // -- QOM and hot-plug --
  qomRoot(): QomNode;
  /** The object-add types the host models (`memory-backend-ram`, `rng-builtin`). */
  objectTypes?(): readonly string[];
  /**
   * object-add of a modelled type; `props` are its properties (schema-checked) without `qom-type`
   * and `id`, in the order QEMU sets them. Errors carry QEMU's texts.
   */
  objectAdd?(type: string, id: string, props: JsonObject): HostOutcome;
  /** object-del: `object 'X' not found`, `object 'X' is in use, can not be deleted`. */
  objectDel?(id: string): HostOutcome;
  /** The launch's character devices in creation order; absent when the host has no such table. */
  chardevs?(): readonly ChardevInfo[];
  /** query-memdev entries, in QEMU's order (the /objects container's). */
  memdevs?(): readonly JsonObject[];
  /** `opts` is the whole argument object (`driver` is known to be a string). */
  deviceAdd(opts: JsonObject): HostOutcome;
  deviceDel(id: string): HostOutcome;

  // The host's `x-qtestd-*` extensions are registry rows (registry.ts `defineExtension`), handed
  // to the endpoint with its options rather than listed here.
}
