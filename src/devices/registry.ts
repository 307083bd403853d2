/**
 * The user-creatable device types: the list of the device modules' declarations (declaration.ts),
 * plus the generic PCI properties. Everything else is derived from that list: driver checks,
 * `createDevice` (options validated in QEMU's order and wording for `-device` text values and
 * `device_add` JSON values), `-device help` and property help, and the QOM type rows. Bus
 * selection, `id`, hotplug checks and slot assignment are the caller's (machine/host bridge).
 */
import type { PciDevice } from '../pci/pci-device.js';
import type { DeviceCategory, DeviceDeclaration, DeviceProps, DeviceQomRow } from './declaration.js';
import { EDU_DEVICE } from './edu.js';
import { IOMMU_TESTDEV_DEVICE } from './iommu-testdev.js';
import { PCI_TESTDEV_DEVICE } from './pci-testdev.js';
import { PCIE_ROOT_PORT_DEVICE } from './pcie-root-port.js';
import { formatPropertyHelp, parseOptionValue, parseQmpValue } from './properties.js';
import type { ParseResult, PropertySchema, PropValue } from './properties.js';
import { SMMU_TESTDEV_DEVICE } from './smmu-testdev.js';

export type { DeviceCategory, DeviceProps } from './declaration.js';
export type DeviceTypeInfo = DeviceDeclaration;

/** Every device type, in qom-list-types order. */
export const DEVICES: readonly DeviceDeclaration[] = [
  EDU_DEVICE,
  PCI_TESTDEV_DEVICE,
  IOMMU_TESTDEV_DEVICE,
  SMMU_TESTDEV_DEVICE,
  PCIE_ROOT_PORT_DEVICE,
];

const BY_NAME: ReadonlyMap<string, DeviceDeclaration> = new Map(DEVICES.map((d) => [d.name, d]));

/** The device types by name. */
export const DEVICE_TYPES: Readonly<Record<string, DeviceDeclaration>> = Object.fromEntries(BY_NAME);

/** Properties every PCI device has (`-device edu,help` on 10.2.2), in help order. */
export const PCI_DEVICE_PROPERTIES = [
  { name: 'acpi-index', kind: 'uint32', helpDefault: '0' },
  {
    name: 'addr',
    kind: 'pci-devfn',
    helpDefault: '-1',
    description: 'Slot and optional function number, example: 06.0 or 06',
  },
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

/** Abstract types a user might name (QEMU answers differently for them than for unknown names). */
export const ABSTRACT_DEVICE_TYPES: ReadonlySet<string> = new Set(['device', 'pci-device']);

/** Option keys handled by qdev_device_add itself, not by the device's properties. */
export const RESERVED_OPTION_KEYS: ReadonlySet<string> = new Set(['driver', 'bus', 'id']);

/**
 * `sec-sid` on every PCI function (docs/secure-smmu.md "sec-sid"): accepted always, hidden from
 * help and introspection (protocol/deviations-smmu.md). `non-secure`/`secure`, also 0/1.
 */
export const SEC_SID_PROPERTY = 'sec-sid';

function parseSecSid(raw: unknown): 0 | 1 | undefined {
  if (raw === 'non-secure' || raw === '0' || raw === 0) return 0;
  if (raw === 'secure' || raw === '1' || raw === 1) return 1;
  return undefined;
}

export function findDeviceType(name: string): DeviceTypeInfo | undefined {
  return BY_NAME.get(name);
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
    return info.userCreatable
      ? { ok: true, info }
      : { ok: false, error: "Parameter 'driver' expects a pluggable device type" };
  }
  if (ABSTRACT_DEVICE_TYPES.has(name))
    return { ok: false, error: "Parameter 'driver' expects a non-abstract device type" };
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
export function createDevice(
  typeName: string,
  options: Iterable<[string, unknown]>,
  source: 'cli' | 'qmp',
): CreateResult {
  const driver = checkDriver(typeName);
  if (!driver.ok) return driver;
  const info = driver.info;
  const schema = new Map(propertiesOf(info).map((p) => [p.name, p]));
  const props = new Map<string, PropValue>();
  let secSid: 0 | 1 = 0;
  for (const [key, raw] of options) {
    if (RESERVED_OPTION_KEYS.has(key)) continue;
    if (key === SEC_SID_PROPERTY) {
      const v = parseSecSid(raw);
      if (v === undefined) return { ok: false, error: `Parameter '${key}' does not accept value '${String(raw)}'` };
      secSid = v;
      continue;
    }
    const prop = schema.get(key);
    if (!prop) return { ok: false, error: `Property '${info.name}.${key}' not found` };
    const parsed: ParseResult =
      source === 'cli' ? parseOptionValue(info.name, prop, String(raw)) : parseQmpValue(info.name, prop, raw);
    if (!parsed.ok) return parsed;
    props.set(key, parsed.value);
  }
  const valid = info.validate?.(props);
  if (valid) return { ok: false, error: valid };
  const devfn = props.get('addr') as number | undefined;
  const device = info.create(props);
  device.secSid = secSid;
  return { ok: true, created: { device, props, devfn: devfn === undefined || devfn < 0 ? undefined : devfn } };
}

/** `-device help` lines for our types: `name "edu", bus PCI[, desc "…"]`, grouped by category. */
export function deviceHelpLines(): Map<DeviceCategory, string[]> {
  // Categories in QEMU's order (DeviceCategory enum: bridge first, misc later).
  const out = new Map<DeviceCategory, string[]>([
    ['Controller/Bridge/Hub devices', []],
    ['Misc devices', []],
  ]);
  const infos = [...DEVICES]
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

/** qom-list-types rows of the device types: each type's own abstract ancestors, then the type. */
export function deviceQomRows(): DeviceQomRow[] {
  return DEVICES.flatMap((d) => [
    ...(d.qomAncestors ?? []),
    { name: d.name, parent: d.parent, abstract: false, interfaces: d.interfaces },
  ]);
}
