// Over 400 lines: the QMP host is one class for the whole host surface (run state, hot-plug, QOM, PCI, the x-qtestd-* rows).
/**
 * The session's QmpHost: run state, events, resets, hot-plug and QOM/PCI/HMP introspection of one
 * Machine in the shapes the QMP layer asks for, plus the `x-qtestd-*` extensions (SMMU state and
 * stream decoding, session summary) as QMP registry rows. Events go to every subscribed monitor synchronously, so an
 * event a command causes precedes that command's reply (as on QEMU 10.2.2).
 */
import { ConfigError, VALID_CPUS } from '../machine/config.js';
import type { DeviceSpec } from '../machine/config.js';
import { machineInfoNuma } from '../machine/machine-props.js';
import { formatInfoMtree, formatInfoPci, formatInfoQtree, pciInfo } from '../machine/introspection.js';
import type { DeletedDevice, Machine } from '../machine/machine.js';
import type { QomNode as MachineQomNode } from '../machine/qom-tree.js';
import { QOM_TYPES } from '../machine/qom-types.js';
import type {
  ChardevInfo,
  CpuInfoFast,
  HmpInfoTopic,
  HostOutcome,
  HostResult,
  MachineSummary,
  PciInfo,
  QmpEvent,
  QmpEventListener,
  QmpHost,
  QomNode,
  QomProperty,
  RunState,
  ShutdownCause,
} from '../protocol/qmp/host.js';
import type { JsonObject, JsonValue } from '../protocol/qmp/json-value.js';
import { QmpError } from '../protocol/qmp/messages.js';
import { defineExtension, type QmpExtension } from '../protocol/qmp/registry.js';
import { declaredTypeProperties } from './qmp-type-properties.js';
import { memoryBackends, USER_OBJECT_TYPES, userObjectSpec } from '../machine/user-objects.js';
import type { TrafficTap } from './traffic-tap.js';
import { smmuQueues } from './smmu-queues.js';
import { dryRunTranslate } from './smmu-translate.js';

/**
 * What the QMP host needs from its session (Session implements it; naming the interface here
 * rather than importing Session keeps session.ts → session-qmp-host.ts one-way).
 */
export interface QmpHostSession {
  readonly machine: Machine;
  /** Run `fn` once the machine is built (a session may build it on first use). */
  whenBuilt(fn: (m: Machine) => void): void;
  readonly runState: RunState;
  /** Returns whether the state changed. */
  pause(): boolean;
  /** Returns whether the state changed. */
  resume(): boolean;
  reset(): void;
  /** Recent qtest traffic (x-qtestd-traffic). */
  readonly traffic: TrafficTap;
}

const ok = <T>(value: T): HostResult<T> => ({ ok: true, value });
const genericError = (desc: string): { ok: false; error: { class: 'GenericError'; desc: string } } => ({
  ok: false,
  error: { class: 'GenericError', desc },
});

/** Convert a property value or debug record to JSON; bigints stay bigints at any depth. */
function toJson(v: unknown): JsonValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map(toJson);
  if (typeof v === 'object') {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toJson(x);
    return out;
  }
  return String(v);
}

function configOutcome(f: () => unknown): HostOutcome {
  try {
    f();
    return { ok: true };
  } catch (e) {
    if (e instanceof ConfigError) return genericError(e.message);
    throw e;
  }
}

export class SessionQmpHost implements QmpHost {
  private readonly listeners = new Set<QmpEventListener>();
  /** Events QEMU sends after the current command's reply (DEVICE_DELETED of device_del). */
  private afterReplyEvents: QmpEvent[] = [];
  private watchingDeletions = false;

  constructor(
    private readonly session: QmpHostSession,
    /** Tear the session (or process) down after a QMP `quit`. */
    private readonly onQuit: () => void,
  ) {}

  emit(event: QmpEvent): void {
    for (const l of [...this.listeners]) l(event);
  }

  subscribe(listener: QmpEventListener): () => void {
    if (!this.watchingDeletions) {
      // Devices the guest unplugs (a slot powered off through Slot Control) are announced at once.
      this.watchingDeletions = true;
      this.session.whenBuilt((m) => m.onDeviceDeleted((d) => this.emit(deviceDeleted(d))));
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  runState(): RunState {
    if (this.prelaunch) return 'prelaunch';
    return this.session.runState;
  }

  stop(): void {
    if (this.session.pause()) this.emit({ event: 'STOP' });
  }

  cont(): HostOutcome {
    this.started = true;
    if (this.session.resume()) this.emit({ event: 'RESUME' });
    return { ok: true };
  }

  systemReset(reason: ShutdownCause): void {
    this.session.reset();
    this.emit({ event: 'RESET', data: { guest: false, reason } });
  }

  requestQuit(reason: ShutdownCause): void {
    this.emit({ event: 'SHUTDOWN', data: { guest: false, reason } });
    // The endpoint writes the reply right after this returns; tear down after that.
    setImmediate(this.onQuit);
  }

  powerdown(): void {
    this.emit({ event: 'POWERDOWN' });
  }

  /** `--preconfig`: set by the launcher; cleared by x-exit-preconfig. */
  preconfig = false;
  /** -S: what x-exit-preconfig leaves the machine in (paused: no RESUME). */
  startStopped = false;

  inPreconfig(): boolean {
    return this.preconfig;
  }

  exitPreconfig(): void {
    this.preconfig = false;
    if (!this.startStopped) this.cont();
  }

  /** Never started yet (-S or --preconfig): QEMU reports `prelaunch` until the first `cont`. */
  private get prelaunch(): boolean {
    return this.preconfig || (this.startStopped && !this.started);
  }
  private started = false;

  /** `-name`, when the launcher knows it. */
  guestName: string | undefined;

  /** The launcher's character devices (query-chardev, query-yank); absent in a service session. */
  chardevs: (() => readonly ChardevInfo[]) | undefined;

  summary(): MachineSummary {
    const c = this.session.machine.config;
    return {
      board: c.machine,
      ramBytes: c.machine === 'none' ? 0n : c.ramBytes,
      acpi: c.machine === 'virt' && c.acpi !== 'off',
      guestName: this.guestName,
    };
  }

  machineTypes(): readonly string[] {
    return ['none', 'virt-10.2'];
  }

  cpuModels(): readonly string[] {
    return VALID_CPUS;
  }

  qomTypes() {
    return QOM_TYPES;
  }

  declaredTypeProperties(typename: string) {
    return declaredTypeProperties(typename);
  }

  cpus(): readonly CpuInfoFast[] {
    const m = this.session.machine;
    if (m.config.machine === 'none') return [];
    return m
      .possibleCpus()
      .slice(0, m.config.smp)
      .map((p, i) => ({
        cpuIndex: i,
        qomPath: `/machine/unattached/device[${i}]`,
        qomType: `${m.config.cpu}-arm-cpu`,
        threadId: process.pid,
        props: {
          nodeId: p['node-id'],
          socketId: p['socket-id'],
          clusterId: p['cluster-id'],
          coreId: p['core-id'],
          threadId: p['thread-id'],
        },
      }));
  }

  pci(): readonly PciInfo[] {
    const pci = this.session.machine.pci;
    return pci ? pciInfo(pci) : [];
  }

  hmpInfo(topic: HmpInfoTopic, flags: readonly string[] = []): string {
    const m = this.session.machine;
    if (topic === 'pci') return m.pci ? formatInfoPci(m.pci) : '';
    if (topic === 'mtree') return formatInfoMtree(m);
    if (topic === 'numa') return machineInfoNuma(m.config);
    return formatInfoQtree(m, flags.includes('b'));
  }

  qomRoot(): QomNode {
    return qomView(this.session.machine.qom.root);
  }

  objectTypes(): readonly string[] {
    return USER_OBJECT_TYPES;
  }

  objectAdd(type: string, id: string, props: JsonObject): HostOutcome {
    return configOutcome(() => this.session.machine.addObject(userObjectSpec(type, id, Object.entries(props))));
  }

  objectDel(id: string): HostOutcome {
    return configOutcome(() => this.session.machine.removeObject(id));
  }

  memdevs(): readonly JsonObject[] {
    return memoryBackends(this.session.machine.objects).map((m) => toJson(m) as JsonObject);
  }

  deviceAdd(opts: JsonObject): HostOutcome {
    const { driver, ...rest } = opts;
    const spec: DeviceSpec = {
      driver: String(driver),
      props: Object.entries(rest),
      source: 'qmp',
      text: String(driver),
    };
    try {
      this.session.machine.addDevice(spec, true);
      return { ok: true };
    } catch (e) {
      if (e instanceof ConfigError) return genericError(e.message);
      throw e;
    }
  }

  afterReply(): void {
    // The next command starts with a fresh work count.
    this.session.machine.work.begin();
    const events = this.afterReplyEvents;
    this.afterReplyEvents = [];
    for (const e of events) this.emit(e);
  }

  deviceDel(id: string): HostOutcome {
    try {
      // On 10.2.2 DEVICE_DELETED of an immediate unplug follows the reply.
      for (const d of this.session.machine.removeDevice(id)) this.afterReplyEvents.push(deviceDeleted(d));
      return { ok: true };
    } catch (e) {
      if (e instanceof ConfigError) {
        if (/not found$/.test(e.message)) return { ok: false, error: { class: 'DeviceNotFound', desc: e.message } };
        return genericError(e.message);
      }
      throw e;
    }
  }

  /**
   * The `x-qtestd-*` rows, in query-commands order. They read no declared members and ignore any
   * others (as they always have); decode-stream checks `sid` itself so that a machine without SMMU
   * answers that first, with the same text whatever `sid` is.
   */
  readonly extensions: readonly QmpExtension[] = [
    defineExtension({
      name: 'x-qtestd-smmu-state',
      args: {},
      openArgs: true,
      // A machine without an SMMU answers {"present": false}: the command takes no arguments, so
      // generic clients (QEMU's qmp-cmd-test) call it on any machine and expect a return.
      run: () => (this.session.machine.smmu ? toJson(this.session.machine.smmu.debugSnapshot()) : { present: false }),
    }),
    defineExtension({
      name: 'x-qtestd-smmu-decode-stream',
      args: {},
      openArgs: true,
      // Mandatory in the schema (generic clients such as qmp-cmd-test do not call it bare).
      introspect: [
        { name: 'sid', type: 'int', optional: false },
        { name: 'sec-sid', type: 'str', optional: true },
      ],
      run: (_args, _ctx, raw) => {
        const smmu = this.smmu();
        const sid = raw.sid;
        if (typeof sid !== 'bigint' || sid < 0n || sid > 0xffffffffn)
          throw QmpError.generic("Parameter 'sid' expects an unsigned 32-bit integer");
        // optional `sec-sid` (docs/secure-smmu.md): which world's stream table to decode
        const secSid = raw['sec-sid'];
        let sec: 0 | 1 = 0;
        if (secSid === 'secure' || secSid === 1n) sec = 1;
        else if (secSid !== undefined && secSid !== 'non-secure' && secSid !== 0n)
          throw QmpError.generic("Parameter 'sec-sid' expects 'non-secure' or 'secure'");
        if (sec === 1 && !smmu.secureImpl)
          throw QmpError.generic('The SMMU has no Secure bank (-global arm-smmuv3.secure-impl=true)');
        return toJson(smmu.decodeStreamForDebug(Number(sid), sec));
      },
    }),
    defineExtension({
      name: 'x-qtestd-session',
      args: {},
      openArgs: true,
      run: () => {
        const m = this.session.machine;
        return {
          machine: m.config.machine,
          'clock-ns': m.clock.nowNs,
          'ram-size': m.config.ramBytes,
          'ram-touched-bytes': m.ram?.touchedBytes ?? 0,
          devices: [...m.userDevices.entries()].map(([d, node]) => ({
            type: d.typeName,
            'qom-path': node.path,
            devfn: d.devfn,
            command: d.config.get(4, 2),
          })),
        };
      },
    }),
    defineExtension({
      name: 'x-qtestd-smmu-translate',
      args: {},
      openArgs: true,
      run: (_args, _ctx, raw) => toJson(dryRunTranslate(this.smmu(), raw)),
    }),
    defineExtension({
      name: 'x-qtestd-smmu-queues',
      args: {},
      openArgs: true,
      run: (_args, _ctx, raw) => toJson(smmuQueues(this.session.machine, this.smmu(), raw)),
    }),
    defineExtension({
      name: 'x-qtestd-traffic',
      args: {},
      openArgs: true,
      run: (_args, _ctx, raw) => {
        const after = raw.after ?? 0n;
        if (typeof after !== 'bigint' || after < 0n) throw QmpError.generic("Parameter 'after' expects a line number");
        return toJson(this.session.traffic.since(Number(after)));
      },
    }),
  ];

  private smmu(): NonNullable<Machine['smmu']> {
    const smmu = this.session.machine.smmu;
    if (!smmu) throw QmpError.generic('this machine has no SMMU (use -machine virt,iommu=smmuv3)');
    return smmu;
  }
}

function deviceDeleted(d: DeletedDevice): QmpEvent {
  return { event: 'DEVICE_DELETED', data: d.id !== undefined ? { device: d.id, path: d.path } : { path: d.path } };
}

/** The QMP layer's view of a machine QOM node: `type`, its children, then its properties. */
function qomView(node: MachineQomNode): QomNode {
  return {
    typeName: node.typeName,
    properties(): readonly QomProperty[] {
      const props: QomProperty[] = [{ name: 'type', type: 'string', get: () => ok(node.typeName) }];
      for (const child of node.children.values()) {
        props.push({
          name: child.name,
          type: `child<${child.typeName}>`,
          target: () => qomView(child),
          get: () => ok(child.path),
        });
      }
      for (const p of node.properties) {
        props.push({
          name: p.name,
          type: p.type,
          get: p.get ? () => ok(toJson(p.get!())) : undefined,
          set: p.set
            ? (value: JsonValue): HostOutcome => {
                try {
                  p.set!(value);
                  return { ok: true };
                } catch (e) {
                  return genericError((e as Error).message);
                }
              }
            : undefined,
        });
      }
      // QEMU's qom-list order where the machine knows it
      const order = node.order;
      if (order) props.sort((a, b) => rank(order, a.name) - rank(order, b.name));
      return props;
    },
  };
}

const rank = (order: readonly string[], name: string): number => {
  const i = order.indexOf(name);
  return i < 0 ? order.length : i;
};
