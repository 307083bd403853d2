/**
 * The user-creatable device types as data: name → parent type, `-device help` category/bus/desc,
 * property schema (device-specific plus the generic PCI ones), user-creatable and hotpluggable
 * flags, and a factory. `createDevice` validates options in QEMU's order and wording for `-device`
 * (text values) and `device_add` (JSON values). Bus selection, `id`, hotplug checks and slot
 * assignment are the caller's (machine/host bridge); this file only knows types and properties.
 */
import type { PciDevice } from '../pci/pci-device.js';
import { PcieRootPort } from '../pci/pcie-root-port.js';
import { Edu } from './edu.js';
import { IommuTestdev } from './iommu-testdev.js';
import { PciTestdev } from './pci-testdev.js';
import { formatPropertyHelp, parseOptionValue, parseQmpValue } from './properties.js';
import type { ParseResult, PropertySchema, PropValue } from './properties.js';
import { SmmuTestdev } from './smmu-testdev.js';

export type DeviceCategory = 'Controller/Bridge/Hub devices' | 'Misc devices';

/** Properties every PCI device has (`-device edu,help` on 10.2.2), in help order. */
export const PCI_DEVICE_PROPERTIES = [
  { name: 'acpi-index', kind: 'uint32', helpDefault: '0' },
  { name: 'addr', kind: 'pci-devfn', helpDefault: '-1', description: 'Slot and optional function number, example: 06.0 or 06' },
  { name: 'busnr', kind: 'busnr' },
  { name: 'failover_pair_id', kind: 'str' },
  { name: 'multifunction', kind: 'bool', helpDefault: 'off' },
  { name: 'rombar', kind: 'int32', helpDefault: '-1' },
  { name: 'romfile', kind: 'str' },
  { name: 'romsize', kind: 'uint32', helpDefault: '4294967295' },
  { name: 'sriov-pf', kind: 'str' },
  {
    name: 'x-max-bounce-buffer-size',
    kind: 'size',
    helpDefault: '4096',
    description: 'Maximum buffer size allocated for bounce buffers used for mapped access to indirect DMA memory',
  },
  { name: 'x-pcie-ari-nextfn-1', kind: 'bool', helpDefault: 'off' },
  { name: 'x-pcie-err-unc-mask', kind: 'bool', helpDefault: 'on' },
  { name: 'x-pcie-ext-tag', kind: 'bool', helpDefault: 'on' },
  { name: 'x-pcie-extcap-init', kind: 'bool', helpDefault: 'on' },
  { name: 'x-pcie-lnksta-dllla', kind: 'bool', helpDefault: 'on' },
] as const satisfies readonly PropertySchema[];

/** Parsed property values by name (only those given). */
export type DeviceProps = ReadonlyMap<string, PropValue>;

export interface DeviceTypeInfo {
  readonly name: string;
  readonly parent: string;
  readonly category: DeviceCategory;
  readonly bus: 'PCI';
  readonly desc?: string;
  readonly userCreatable: boolean;
  readonly hotpluggable: boolean;
  /** Device-specific properties (the generic PCI ones are added for every type). */
  readonly properties: readonly PropertySchema[];
  readonly create: (props: DeviceProps) => PciDevice;
}

const u64 = (p: DeviceProps, name: string): bigint | undefined => p.get(name) as bigint | undefined;
const num = (p: DeviceProps, name: string): number | undefined => p.get(name) as number | undefined;
const bool = (p: DeviceProps, name: string): boolean | undefined => p.get(name) as boolean | undefined;

export const DEVICE_TYPES = {
  edu: {
    name: 'edu',
    parent: 'pci-device',
    category: 'Misc devices',
    bus: 'PCI',
    userCreatable: true,
    hotpluggable: true,
    // A plain QOM property (object_property_add_uint64_ptr): help shows no default.
    properties: [{ name: 'dma_mask', kind: 'uint64' }],
    create: (p) => new Edu({ dmaMask: u64(p, 'dma_mask') }),
  },
  'pci-testdev': {
    name: 'pci-testdev',
    parent: 'pci-device',
    category: 'Misc devices',
    bus: 'PCI',
    desc: 'PCI Test Device',
    userCreatable: true,
    hotpluggable: true,
    properties: [
      { name: 'membar', kind: 'size', helpDefault: '0' },
      { name: 'membar-backed', kind: 'bool', helpDefault: 'off' },
    ],
    create: (p) => new PciTestdev({ membar: u64(p, 'membar'), membarBacked: bool(p, 'membar-backed') }),
  },
  'iommu-testdev': {
    name: 'iommu-testdev',
    parent: 'pci-device',
    category: 'Misc devices',
    bus: 'PCI',
    desc: 'A test device for IOMMU',
    userCreatable: true,
    hotpluggable: true,
    properties: [],
    create: () => new IommuTestdev(),
  },
  'smmu-testdev': {
    name: 'smmu-testdev',
    parent: 'pci-device',
    category: 'Misc devices',
    bus: 'PCI',
    desc: 'A test device for the SMMU',
    userCreatable: true,
    hotpluggable: true,
    properties: [
      { name: 'debug-log', kind: 'bool', helpDefault: 'off' },
      { name: 'device', kind: 'uint32', helpDefault: '0' },
      { name: 'function', kind: 'uint32', helpDefault: '1' },
    ],
    create: (p) => new SmmuTestdev({ device: num(p, 'device'), function: num(p, 'function'), debugLog: bool(p, 'debug-log') }),
  },
  'pcie-root-port': {
    name: 'pcie-root-port',
    parent: 'pcie-root-port-base',
    category: 'Controller/Bridge/Hub devices',
    bus: 'PCI',
    desc: 'PCI Express Root Port',
    userCreatable: true,
    hotpluggable: true,
    // x-speed / x-width (PCIELinkSpeed / PCIELinkWidth enums) are not modelled.
    properties: [
      { name: 'aer_log_max', kind: 'uint16', helpDefault: '8' },
      { name: 'bus-reserve', kind: 'uint32', helpDefault: '4294967295' },
      { name: 'chassis', kind: 'uint8', helpDefault: '0' },
      { name: 'disable-acs', kind: 'bool', helpDefault: 'off' },
      { name: 'hotplug', kind: 'bool', helpDefault: 'on' },
      { name: 'io-reserve', kind: 'size', helpDefault: '18446744073709551615' },
      { name: 'mem-reserve', kind: 'size', helpDefault: '18446744073709551615' },
      { name: 'port', kind: 'uint8', helpDefault: '0' },
      { name: 'power_controller_present', kind: 'bool', helpDefault: 'on' },
      { name: 'pref32-reserve', kind: 'size', helpDefault: '18446744073709551615' },
      { name: 'pref64-reserve', kind: 'size', helpDefault: '18446744073709551615' },
      { name: 'slot', kind: 'uint16', helpDefault: '0' },
      { name: 'x-do-not-expose-native-hotplug-cap', kind: 'bool', helpDefault: 'off' },
      { name: 'x-migrate-msix', kind: 'bool', helpDefault: 'on' },
      { name: 'x-pci-express-writeable-slt-bug', kind: 'bool', helpDefault: 'off' },
    ],
    create: (p) =>
      new PcieRootPort({
        chassis: num(p, 'chassis'),
        slot: num(p, 'slot'),
        port: num(p, 'port'),
        hotplug: bool(p, 'hotplug'),
        powerControllerPresent: bool(p, 'power_controller_present'),
        disableAcs: bool(p, 'disable-acs'),
      }),
  },
} as const satisfies Record<string, DeviceTypeInfo>;

export type DeviceTypeName = keyof typeof DEVICE_TYPES;

/** Abstract types a user might name (QEMU answers differently for them than for unknown names). */
export const ABSTRACT_DEVICE_TYPES: ReadonlySet<string> = new Set(['device', 'pci-device']);

/** Option keys handled by qdev_device_add itself, not by the device's properties. */
export const RESERVED_OPTION_KEYS: ReadonlySet<string> = new Set(['driver', 'bus', 'id']);

export function findDeviceType(name: string): DeviceTypeInfo | undefined {
  return Object.prototype.hasOwnProperty.call(DEVICE_TYPES, name) ? (DEVICE_TYPES as Record<string, DeviceTypeInfo>)[name] : undefined;
}

/** All properties of a type: its own and the generic PCI ones. */
export function propertiesOf(info: DeviceTypeInfo): PropertySchema[] {
  return [...PCI_DEVICE_PROPERTIES, ...info.properties];
}

export type DriverCheck = { ok: true; info: DeviceTypeInfo } | { ok: false; error: string };

/** qdev_device_add's driver checks (`-device X` and `device_add driver=X`). */
export function checkDriver(name: string): DriverCheck {
  const info = findDeviceType(name);
  if (info) {
    return info.userCreatable ? { ok: true, info } : { ok: false, error: "Parameter 'driver' expects a pluggable device type" };
  }
  if (ABSTRACT_DEVICE_TYPES.has(name)) return { ok: false, error: "Parameter 'driver' expects a non-abstract device type" };
  return { ok: false, error: `'${name}' is not a valid device model name` };
}

export interface CreatedDevice {
  device: PciDevice;
  /** Every property given, parsed (generic PCI ones such as `addr` and `multifunction` included). */
  props: DeviceProps;
  /** devfn from `addr`, or undefined for "first free slot" (QEMU's -1). */
  devfn?: number;
}

export type CreateResult = { ok: true; created: CreatedDevice } | { ok: false; error: string };

/**
 * Validate and create a device. `options` are the `-device`/`device_add` keys other than
 * driver/bus/id; `source` selects text (keyval) or JSON (QMP) value parsing and wording.
 * Options are applied in the order given, the first error wins (QEMU reports one error).
 */
export function createDevice(typeName: string, options: Iterable<[string, unknown]>, source: 'cli' | 'qmp'): CreateResult {
  const driver = checkDriver(typeName);
  if (!driver.ok) return driver;
  const info = driver.info;
  const schema = new Map(propertiesOf(info).map((p) => [p.name, p]));
  const props = new Map<string, PropValue>();
  for (const [key, raw] of options) {
    if (RESERVED_OPTION_KEYS.has(key)) continue;
    const prop = schema.get(key);
    if (!prop) return { ok: false, error: `Property '${info.name}.${key}' not found` };
    const parsed: ParseResult = source === 'cli' ? parseOptionValue(info.name, prop, String(raw)) : parseQmpValue(info.name, prop, raw);
    if (!parsed.ok) return parsed;
    props.set(key, parsed.value);
  }
  const valid = validateProps(info, props);
  if (valid) return { ok: false, error: valid };
  const devfn = props.get('addr') as number | undefined;
  return { ok: true, created: { device: info.create(props), props, devfn: devfn === undefined || devfn < 0 ? undefined : devfn } };
}

/** Realize-time checks where QEMU would abort or fail later (deviations noted in the doc). */
function validateProps(info: DeviceTypeInfo, props: DeviceProps): string | undefined {
  if (info.name === 'pci-testdev') {
    const membar = props.get('membar') as bigint | undefined;
    // QEMU 10.2.2 aborts on an assertion in pci_register_bar for a size that is not a power of two.
    if (membar !== undefined && membar !== 0n && (membar & (membar - 1n)) !== 0n) {
      return `Property 'pci-testdev.membar' doesn't take value '${membar}': BAR size must be a power of two`;
    }
  }
  return undefined;
}

/** `-device help` lines for our types: `name "edu", bus PCI[, desc "…"]`, grouped by category. */
export function deviceHelpLines(): Map<DeviceCategory, string[]> {
  // Categories in QEMU's order (DeviceCategory enum: bridge first, misc later).
  const out = new Map<DeviceCategory, string[]>([
    ['Controller/Bridge/Hub devices', []],
    ['Misc devices', []],
  ]);
  const infos = Object.values(DEVICE_TYPES as Record<string, DeviceTypeInfo>)
    .filter((i) => i.userCreatable)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const info of infos) {
    const line = `name "${info.name}", bus ${info.bus}` + (info.desc ? `, desc "${info.desc}"` : '');
    const list = out.get(info.category) ?? [];
    list.push(line);
    out.set(info.category, list);
  }
  for (const [k, v] of out) if (v.length === 0) out.delete(k);
  return out;
}

/** `-device X,help`: "X options:" then one line per property, sorted as QEMU sorts them. */
export function devicePropertyHelp(info: DeviceTypeInfo): string[] {
  const lines = propertiesOf(info).map(formatPropertyHelp);
  lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return [`${info.name} options:`, ...lines];
}
