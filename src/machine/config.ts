/**
 * MachineConfig: what a Machine is built from, and its parsing from QEMU's -machine/-m/-smp/-cpu
 * /-device option values with QEMU 10.2.2's error texts (checked against the oracle). Pure.
 */
import { lookup, parseBool, parseKeyVal, parseSize } from '../base/keyval.js';
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
  smp: number;
  ramBytes: bigint;
  /** Default NIC wanted (no -net none / -nodefaults); we never create one, but slots shift. */
  defaultNic: boolean;
  devices: DeviceSpec[];
  /** -machine secure=on: a Secure view (machine/secure-view.ts). */
  secure: boolean;
  /** -global DRIVER.PROP=VALUE, in order. */
  globals: Array<{ driver: string; prop: string; value: string }>;
  /** `x-qtestd-memtx-errors=on`: plain qtest memory commands report failed accesses (protocol/qtest.md). */
  qtestMemTxErrors?: boolean;
}

export class ConfigError extends Error {
  /** Extra lines QEMU prints after the main message. */
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
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
]);

/** Apply a -machine/-M value. */
export function applyMachineOption(cfg: MachineConfig, text: string, warn: (msg: string) => void): void {
  const kv = parseKeyVal(text, 'type');
  if (kv.implied !== undefined && kv.implied !== '') {
    const t = kv.implied;
    if (t === 'virt' || t === 'virt-10.2') cfg.machine = 'virt';
    else if (t === 'none') cfg.machine = 'none';
    else if (t === 'help' || t === '?') throw new ConfigError('help', 'machine-help');
    else throw new ConfigError(`unsupported machine type: "${t}"`, 'Use -machine help to list supported machines');
  }
  const typeName = cfg.machine === 'virt' ? 'virt-10.2-machine' : 'none-machine';
  for (const [k, v] of kv.pairs) {
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
}

export function applySmpOption(cfg: MachineConfig, text: string): void {
  const kv = parseKeyVal(text, 'cpus');
  const cpus = kv.implied ?? lookup(kv, 'cpus');
  if (cpus === undefined) return;
  if (!/^[0-9]+$/.test(cpus)) throw new ConfigError("Parameter 'smp.cpus' expects integer");
  const n = Number(cpus);
  cfg.smp = n === 0 ? 1 : n;
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

/** Checks that need the whole configuration (done when the machine is built). */
export function validateMachineConfig(cfg: MachineConfig): void {
  if (cfg.machine !== 'virt') return;
  if (!(VALID_CPUS as readonly string[]).includes(cfg.cpu)) {
    throw new ConfigError(`Invalid CPU model: ${cfg.cpu}`, `The valid models are: ${VALID_CPUS.join(', ')}`);
  }
  if (cfg.ramBytes > VIRT_MAX_RAM_BYTES) {
    throw new ConfigError(`cannot set up guest memory 'mach-virt.ram': Cannot allocate memory`);
  }
  if (cfg.smp > 512)
    throw new ConfigError(`Invalid SMP CPUs ${cfg.smp}. The max CPUs supported by machine 'virt-10.2' is 512`);
}
