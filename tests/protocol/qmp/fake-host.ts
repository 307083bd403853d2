/**
 * A fake QmpHost for the QMP tests: run state with events, a small QOM tree shaped like the main
 * argv's (/machine/peripheral-anon/device[0] = edu), catalogues, hot-plug answers with QEMU's texts
 * for the pcie.0 / root-port cases, and a recorder of what the layer asked for.
 */
import type {
  CpuInfoFast,
  HostOutcome,
  HmpInfoTopic,
  PciInfo,
  QmpEvent,
  QmpEventListener,
  MachineSummary,
  QmpHost,
  QomNode,
  QomProperty,
  QomTypeInfo,
  RunState,
  ShutdownCause,
} from '../../../src/protocol/qmp/host.js';
import type { JsonObject, JsonValue } from '../../../src/protocol/qmp/json-value.js';
import { defineExtension, type QmpExtension } from '../../../src/protocol/qmp/registry.js';

export class FakeNode implements QomNode {
  readonly props: QomProperty[] = [{ name: 'type', type: 'string', get: () => ({ ok: true, value: this.typeName }) }];
  constructor(
    readonly typeName: string,
    readonly path: string,
  ) {}

  properties(): readonly QomProperty[] {
    return this.props;
  }

  addChild(name: string, child: FakeNode): FakeNode {
    this.props.push({
      name,
      type: `child<${child.typeName}>`,
      target: () => child,
      get: () => ({ ok: true, value: child.path }),
    });
    return child;
  }
}

const UINT64_MAX = (1n << 64n) - 1n;

export function buildTree(): { root: FakeNode; edu: FakeNode; state: { dmaMask: bigint } } {
  const state = { dmaMask: UINT64_MAX };
  const root = new FakeNode('container', '/');
  const machine = root.addChild('machine', new FakeNode('virt-10.2-machine', '/machine'));
  const unattached = machine.addChild('unattached', new FakeNode('container', '/machine/unattached'));
  unattached.addChild('device[0]', new FakeNode('max-arm-cpu', '/machine/unattached/device[0]'));
  machine.addChild('peripheral', new FakeNode('container', '/machine/peripheral'));
  const anon = machine.addChild('peripheral-anon', new FakeNode('container', '/machine/peripheral-anon'));
  const edu = anon.addChild('device[0]', new FakeNode('edu', '/machine/peripheral-anon/device[0]'));
  edu.props.push({
    name: 'dma_mask',
    type: 'uint64',
    get: () => ({ ok: true, value: state.dmaMask }),
    set: (v: JsonValue): HostOutcome => {
      if (typeof v !== 'bigint') return { ok: false, error: { class: 'GenericError', desc: "Parameter 'dma_mask' expects uint64" } };
      state.dmaMask = BigInt.asUintN(64, v);
      return { ok: true };
    },
  });
  return { root, edu, state };
}

export class FakeHost implements QmpHost {
  state: RunState = 'running';
  readonly calls: string[] = [];
  readonly listeners = new Set<QmpEventListener>();
  readonly tree = buildTree();
  /** Devices that may be unplugged (behind a powered-off root-port slot). */
  readonly unpluggable = new Set<string>();
  readonly added = new Map<string, JsonObject>();

  emit(event: QmpEvent): void {
    for (const l of [...this.listeners]) l(event);
  }

  runState(): RunState {
    return this.state;
  }

  powerdown(): void {
    this.calls.push('powerdown');
    this.emit({ event: 'POWERDOWN' });
  }

  summary(): MachineSummary {
    return { board: 'virt', ramBytes: 512n << 20n, acpi: false };
  }

  stop(): void {
    this.calls.push('stop');
    if (this.state === 'paused') return;
    this.state = 'paused';
    this.emit({ event: 'STOP' });
  }

  cont(): HostOutcome {
    this.calls.push('cont');
    if (this.state !== 'running') {
      this.state = 'running';
      this.emit({ event: 'RESUME' });
    }
    return { ok: true };
  }

  systemReset(reason: ShutdownCause): void {
    this.calls.push(`systemReset:${reason}`);
    this.emit({ event: 'RESET', data: { guest: false, reason } });
  }

  requestQuit(reason: ShutdownCause): void {
    this.calls.push(`requestQuit:${reason}`);
    this.emit({ event: 'SHUTDOWN', data: { guest: false, reason } });
  }

  subscribe(listener: QmpEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  machineTypes(): readonly string[] {
    return ['virt-10.2', 'none'];
  }

  cpuModels(): readonly string[] {
    return ['cortex-a53', 'cortex-a57', 'max', 'future-cpu'];
  }

  qomTypes(): readonly QomTypeInfo[] {
    return [
      { name: 'object', abstract: true },
      { name: 'interface', abstract: true },
      { name: 'pci-express-device', parent: 'interface', abstract: true },
      { name: 'device', parent: 'object', abstract: true },
      { name: 'pci-device', parent: 'device', abstract: true },
      { name: 'edu', parent: 'pci-device', abstract: false },
      { name: 'pci-testdev', parent: 'pci-device', abstract: false },
      { name: 'pcie-root-port-base', parent: 'pci-device', abstract: true, interfaces: ['pci-express-device'] },
      { name: 'pcie-root-port', parent: 'pcie-root-port-base', abstract: false },
      { name: 'accel', parent: 'object', abstract: true },
      { name: 'qtest-accel', parent: 'accel', abstract: false },
    ];
  }

  cpus(): readonly CpuInfoFast[] {
    return [
      {
        cpuIndex: 0,
        qomPath: '/machine/unattached/device[0]',
        qomType: 'max-arm-cpu',
        threadId: 18128,
        props: { socketId: 0, clusterId: 0, coreId: 0, threadId: 0 },
      },
    ];
  }

  pci(): readonly PciInfo[] {
    return [
      {
        bus: 0,
        devices: [
          {
            bus: 0,
            slot: 0,
            function: 0,
            class_info: { desc: 'Host bridge', class: 1536 },
            id: { device: 8, vendor: 6966, subsystem: 4352, 'subsystem-vendor': 6900 },
            irq_pin: 0,
            qdev_id: '',
            regions: [],
          },
          {
            bus: 0,
            slot: 1,
            function: 0,
            class_info: { class: 255 },
            id: { device: 4584, vendor: 4660, subsystem: 4352, 'subsystem-vendor': 6900 },
            irq: 0,
            irq_pin: 1,
            qdev_id: '',
            regions: [{ bar: 0, type: 'memory', address: -1, size: 1048576, prefetch: false, mem_type_64: false }],
          },
        ],
      },
    ];
  }

  hmpInfo(topic: HmpInfoTopic): string {
    this.calls.push(`hmpInfo:${topic}`);
    return `fake ${topic} line 1\nfake ${topic} line 2\n`;
  }

  qomRoot(): QomNode {
    return this.tree.root;
  }

  deviceAdd(opts: JsonObject): HostOutcome {
    this.calls.push(`deviceAdd:${JSON.stringify(opts, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`);
    const driver = opts.driver as string;
    if (driver !== 'edu' && driver !== 'pci-testdev') {
      return { ok: false, error: { class: 'GenericError', desc: `'${driver}' is not a valid device model name` } };
    }
    if (opts.bus === undefined) {
      return { ok: false, error: { class: 'GenericError', desc: "Bus 'pcie.0' does not support hotplugging" } };
    }
    const id = typeof opts.id === 'string' ? opts.id : '';
    this.added.set(id, opts);
    this.unpluggable.add(id);
    return { ok: true };
  }

  deviceDel(id: string): HostOutcome {
    this.calls.push(`deviceDel:${id}`);
    if (!this.added.has(id)) return { ok: false, error: { class: 'DeviceNotFound', desc: `Device '${id}' not found` } };
    this.added.delete(id);
    // Slot powered off: the device goes at once, the event follows the reply
    // (device-add-del-root-port-slot-off.txt).
    this.deferred.push({ event: 'DEVICE_DELETED', data: { device: id, path: `/machine/peripheral/${id}` } });
    return { ok: true };
  }

  readonly deferred: QmpEvent[] = [];

  afterReply(): void {
    for (const e of this.deferred.splice(0)) this.emit(e);
  }

}

/** The fake host's one extension row: echoes whatever arguments it gets. */
export const ECHO_EXTENSION: QmpExtension = defineExtension({
  name: 'x-qtestd-echo',
  args: {},
  openArgs: true,
  run: (_args, _ctx, raw) => ({ echoed: raw }),
});

/** A deterministic wall clock: 1795628323.342730, then +1 µs per call. */
export function fakeClock(): () => { seconds: number; microseconds: number } {
  let us = 342730;
  return () => ({ seconds: 1795628323, microseconds: us++ });
}
