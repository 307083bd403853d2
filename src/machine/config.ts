/**
 * MachineConfig: what a Machine is built from, and its parsing from QEMU's -machine/-m/-smp/-cpu
 * /-device option values with QEMU 10.2.2's error texts (checked against the oracle). Pure.
 */
import { lookup, parseBool, parseKeyVal, parseSize } from '../base/keyval.js';
import { ConfigError } from './config-error.js';
import { parseCpuList, resolveSmp, SMP_KEYS } from './topology.js';
import type { NumaConfig, SmpKey, SmpTopology } from './topology.js';
import { VIRT_MAX_RAM_BYTES } from './virt-map.js';

export interface DeviceSpec {
  driver: string;
  /** Properties other than the driver, in order: strings from -device, JSON values from device_add. */
  props: Array<[string, unknown]>;
  /** `cli` for -device text, `qmp` for device_add arguments (value parsing and wording differ). */
  source: 'cli' | 'qmp';
  /** The option text, for error messages (`-device edu,x=1`). */
  text: string;
}

export interface MachineConfig {
  machine: 'virt' | 'none';
  iommu: 'none' | 'smmuv3';
  gicVersion: 2 | 3;
  acpi: 'on' | 'off' | 'auto';
  highmem: boolean;
  highmemEcam: boolean;
  cpu: string;
  /** Number of CPUs started (the resolved smp.cpus; set by validateMachineConfig). */
  smp: number;
  /** The smp values given (-smp, -machine smp.X=), unset ones absent. */
  smpGiven: Partial<Record<SmpKey, number>>;
  /** The resolved topology (validateMachineConfig). */
  topology?: SmpTopology;
  numa: NumaConfig;
  /** Objects from -object / readconfig that the machine models (memory-backend-ram, rng-builtin, ...). */
  objects: ObjectSpec[];
  ramBytes: bigint;
  /** -m was given (the `none` machine has no RAM otherwise). */
  ramExplicit?: boolean;
  /** Default NIC wanted (no -net none / -nodefaults); we never create one, but slots shift. */
  defaultNic: boolean;
  devices: DeviceSpec[];
  /** -machine secure=on: a Secure view (machine/secure-view.ts). */
  secure: boolean;
  /** -global DRIVER.PROP=VALUE, in order. */
  globals: Array<{ driver: string; prop: string; value: string }>;
  /** `x-qtestd-memtx-errors=on`: plain qtest memory commands report failed accesses (protocol/qtest.md). */
  qtestMemTxErrors?: boolean;
  /**
   * `x-qtestd-work-budget=UNITS`, `x-qtestd-request-time=SECONDS`: a per-request work budget
   * (memory/work-meter.ts) — how the drop-in launcher gets one; in the service it can only lower
   * the service's. Absent or 0: no limit (QEMU's behaviour).
   */
  requestWorkUnits?: number;
  requestWallMs?: number;
}

export { ConfigError };
export type { ConfigPhase } from './config-error.js';

/** A user-created object (-object, object-add, a readconfig [object] section). */
export interface ObjectSpec {
  type: string;
  id: string;
  props: Array<[string, string]>;
}

export const VALID_CPUS = ['cortex-a53', 'cortex-a57', 'max'] as const;

export function defaultMachineConfig(): MachineConfig {
  return {
    machine: 'virt',
    iommu: 'none',
    gicVersion: 2,
    acpi: 'auto',
    highmem: true,
    highmemEcam: true,
    cpu: 'max',
    smp: 1,
    smpGiven: {},
    numa: { nodes: [], cpus: [] },
    objects: [],
    ramBytes: 128n << 20n,
    defaultNic: true,
    devices: [],
    secure: false,
    globals: [],
  };
}

/** The embedded default machine of the service (DEVELOPERS.md design card). */
export const DEFAULT_SERVICE_ARGV = [
  '-machine',
  'virt,acpi=off,gic-version=3,iommu=smmuv3',
  '-cpu',
  'max',
  '-smp',
  '1',
  '-m',
  '512',
  '-net',
  'none',
  '-accel',
  'qtest',
  '-device',
  'smmu-testdev',
];

const MACHINE_PROPS = new Set([
  'type',
  'iommu',
  'acpi',
  'gic-version',
  'highmem',
  'highmem-ecam',
  'accel',
  'its',
  'secure',
  'virtualization',
  'mte',
  'ras',
  'highmem-mmio',
  'highmem-redists',
  'compact-highmem',
  'default-bus-bypass-iommu',
  'dump-guest-core',
  'mem-merge',
  'memory-backend',
  'usb',
  'graphics',
  'kernel-irqchip',
  'dtb-randomness',
  'x-qtestd-memtx-errors',
  'x-qtestd-work-budget',
  'x-qtestd-request-time',
]);

/** Apply a -machine/-M value. */
export function applyMachineOption(cfg: MachineConfig, text: string, warn: (msg: string) => void): void {
  const kv = parseKeyVal(text, 'type');
  if (kv.implied !== undefined && kv.implied !== '') {
    const t = kv.implied;
    if (t === 'virt' || t === 'virt-10.2') cfg.machine = 'virt';
    else if (t === 'none') cfg.machine = 'none';
    else if (t === 'help' || t === '?') throw new ConfigError('help', 'machine-help');
    else
      throw new ConfigError(
        `unsupported machine type: "${t}"`,
        'Use -machine help to list supported machines',
        'machine-type',
      );
  }
  const typeName = cfg.machine === 'virt' ? 'virt-10.2-machine' : 'none-machine';
  for (const [k, v] of kv.pairs) {
    if (k.startsWith('smp.') && (SMP_KEYS as readonly string[]).includes(k.slice(4))) {
      setSmp(cfg, k.slice(4) as SmpKey, v);
      continue;
    }
    if (
      !MACHINE_PROPS.has(k) ||
      (cfg.machine === 'none' &&
        ![
          'accel',
          'type',
          'dump-guest-core',
          'mem-merge',
          'memory-backend',
          'usb',
          'graphics',
          'kernel-irqchip',
        ].includes(k))
    ) {
      throw new ConfigError(`Property '${typeName}.${k}' not found`);
    }
    switch (k) {
      case 'iommu':
        if (v !== 'none' && v !== 'smmuv3')
          throw new ConfigError('Invalid iommu value', 'Valid values are none, smmuv3.');
        cfg.iommu = v;
        break;
      case 'acpi':
        if (v !== 'on' && v !== 'off' && v !== 'auto')
          throw new ConfigError(`Parameter 'acpi' does not accept value '${v}'`);
        cfg.acpi = v;
        break;
      case 'gic-version':
        if (v === '2') cfg.gicVersion = 2;
        else if (v === '3' || v === 'max' || v === 'host') cfg.gicVersion = 3;
        else throw new ConfigError(`Invalid gic-version value`, 'Valid values are 3, 2, host, max.');
        break;
      case 'highmem':
      case 'highmem-ecam': {
        const b = parseBool(v);
        if (b === undefined) throw new ConfigError(`Parameter '${k}' expects 'on' or 'off'`);
        if (k === 'highmem') cfg.highmem = b;
        else cfg.highmemEcam = b;
        break;
      }
      case 'accel':
        break;
      case 'secure': {
        const b = parseBool(v);
        if (b === undefined) throw new ConfigError(`Parameter '${k}' expects 'on' or 'off'`);
        cfg.secure = b;
        break;
      }
      case 'x-qtestd-memtx-errors': {
        const b = parseBool(v);
        if (b === undefined) throw new ConfigError(`Parameter '${k}' expects 'on' or 'off'`);
        cfg.qtestMemTxErrors = b;
        break;
      }
      case 'x-qtestd-work-budget':
      case 'x-qtestd-request-time': {
        const n = /^\d+$/.test(v) ? Number(v) : NaN;
        if (!Number.isSafeInteger(n)) throw new ConfigError(`Parameter '${k}' expects a non-negative integer`);
        if (k === 'x-qtestd-work-budget') cfg.requestWorkUnits = n;
        else cfg.requestWallMs = n * 1000;
        break;
      }
      default:
        warn(`-machine ${k}=${v}: accepted but not modelled`);
    }
  }
}

export function applyMemoryOption(cfg: MachineConfig, text: string): void {
  const kv = parseKeyVal(text, 'size');
  const sizeText = kv.implied ?? lookup(kv, 'size');
  const bytes = sizeText === undefined ? undefined : parseSize(sizeText, 'M');
  if (bytes === undefined) {
    throw new ConfigError(
      "Parameter 'size' expects a non-negative number below 2^64",
      'Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.',
    );
  }
  cfg.ramBytes = bytes;
  cfg.ramExplicit = true;
}

function setSmp(cfg: MachineConfig, k: SmpKey, v: string): void {
  if (!/^[0-9]+$/.test(v)) throw new ConfigError(`Parameter 'smp.${k}' expects integer`);
  cfg.smpGiven[k] = Number(v);
}

export function applySmpOption(cfg: MachineConfig, text: string): void {
  const kv = parseKeyVal(text, 'cpus');
  if (kv.implied !== undefined) setSmp(cfg, 'cpus', kv.implied);
  for (const [k, v] of kv.pairs) {
    if (!(SMP_KEYS as readonly string[]).includes(k)) throw new ConfigError(`Parameter 'smp.${k}' is unexpected`);
    setSmp(cfg, k as SmpKey, v);
  }
}

/** `-numa node,nodeid=N,memdev=ID,cpus=A-B` and `-numa cpu,node-id=N,socket-id=…`. */
export function applyNumaOption(cfg: MachineConfig, text: string): void {
  const kv = parseKeyVal(text, 'type');
  const type = kv.implied ?? lookup(kv, 'type') ?? 'node';
  const num = (k: string, v: string): number => {
    if (!/^[0-9]+$/.test(v)) throw new ConfigError(`Parameter '${k}' expects uint16_t`);
    return Number(v);
  };
  if (type === 'node') {
    const node = { nodeid: cfg.numa.nodes.length, memdev: undefined as string | undefined, cpus: [] as number[] };
    for (const [k, v] of kv.pairs) {
      if (k === 'nodeid') node.nodeid = num(k, v);
      else if (k === 'memdev') node.memdev = v;
      else if (k === 'cpus') node.cpus.push(...parseCpuList(v));
      else if (k !== 'type') throw new ConfigError(`Invalid parameter '${k}'`);
    }
    if (cfg.numa.nodes.some((n) => n.nodeid === node.nodeid))
      throw new ConfigError(`Duplicate NUMA nodeid: ${node.nodeid}`);
    cfg.numa.nodes.push(node);
    cfg.numa.firstOption ??= `-numa ${text}`;
  } else if (type === 'cpu') {
    const spec: NumaConfig['cpus'][number] = { nodeId: -1, match: {} };
    for (const [k, v] of kv.pairs) {
      if (k === 'node-id') spec.nodeId = num(k, v);
      else if (k === 'socket-id' || k === 'cluster-id' || k === 'core-id' || k === 'thread-id')
        spec.match[k] = num(k, v);
      else if (k !== 'type') throw new ConfigError(`Invalid parameter '${k}'`);
    }
    if (spec.nodeId < 0) throw new ConfigError('Missing mandatory node-id property');
    cfg.numa.cpus.push(spec);
    cfg.numa.firstOption ??= `-numa ${text}`;
  } else throw new ConfigError(`-numa ${type}: not modelled by qtestd`);
}

/** `-object TYPE,id=ID,...` for the object types the machine models; false for others. */
export function addObjectOption(cfg: MachineConfig, type: string, props: Array<[string, string]>): boolean {
  if (!OBJECT_TYPES.has(type)) return false;
  const id = props.find(([k]) => k === 'id')?.[1];
  if (!id) throw new ConfigError(`Parameter 'id' is missing`);
  if (cfg.objects.some((o) => o.id === id))
    throw new ConfigError(`attempt to add duplicate property '${id}' to object (type 'container')`);
  const rest = props.filter(([k]) => k !== 'id' && k !== 'qom-type');
  if (type.startsWith('memory-backend-')) {
    const size = rest.find(([k]) => k === 'size')?.[1];
    if (size === undefined) throw new ConfigError("can't create backend with size 0");
    if (parseSize(size, 'B') === undefined)
      throw new ConfigError(
        "Parameter 'size' expects a non-negative number below 2^64",
        'Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.',
      );
  }
  cfg.objects.push({ type, id, props: rest });
  return true;
}

/** Object types whose instances the machine holds under /objects. */
export const OBJECT_TYPES = new Set(['memory-backend-ram', 'rng-builtin']);

/** The size in bytes of a memory backend object. */
export function objectSize(o: ObjectSpec): bigint {
  return parseSize(o.props.find(([k]) => k === 'size')?.[1] ?? '0', 'B') ?? 0n;
}

export function applyCpuOption(cfg: MachineConfig, text: string): void {
  const model = text.split(',')[0];
  cfg.cpu = model;
}

export function addDeviceOption(cfg: MachineConfig, text: string): void {
  const kv = parseKeyVal(text, 'driver');
  cfg.devices.push({
    driver: kv.implied ?? lookup(kv, 'driver') ?? '',
    props: kv.pairs.filter(([k]) => k !== 'driver'),
    source: 'cli',
    text,
  });
}

/**
 * Whether building a Machine from `config` can throw a ConfigError once validateMachineConfig
 * passed: only what -device, -object and -global add is checked while the board is built.
 */
export function buildCanFail(config: MachineConfig): boolean {
  return config.devices.length > 0 || config.objects.length > 0 || config.globals.length > 0;
}

/** Checks that need the whole configuration (done when the machine is built). */
export function validateMachineConfig(cfg: MachineConfig): void {
  const virt = cfg.machine === 'virt';
  cfg.topology = resolveSmp(cfg.smpGiven, {
    name: virt ? 'virt-10.2' : 'none',
    maxCpus: virt ? 512 : 1,
    clustersSupported: virt,
  });
  cfg.smp = cfg.topology.cpus;
  if (cfg.numa.nodes.length || cfg.numa.cpus.length) {
    if (!virt) throw new ConfigError(`${cfg.numa.firstOption}: NUMA is not supported by this machine-type`);
    for (const n of cfg.numa.nodes) {
      if (n.memdev !== undefined && !cfg.objects.some((o) => o.id === n.memdev && o.type.startsWith('memory-backend-')))
        throw new ConfigError(`Device '${n.memdev}' not found`);
    }
  }
  if (!virt) return;
  if (!(VALID_CPUS as readonly string[]).includes(cfg.cpu)) {
    throw new ConfigError(`Invalid CPU model: ${cfg.cpu}`, `The valid models are: ${VALID_CPUS.join(', ')}`);
  }
  if (cfg.ramBytes > VIRT_MAX_RAM_BYTES) {
    throw new ConfigError(`cannot set up guest memory 'mach-virt.ram': Cannot allocate memory`);
  }
}
