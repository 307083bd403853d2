/**
 * What a device module declares about its type, once: QOM name, parent and interfaces (and any
 * abstract ancestors only it uses), `-device help` category and description, property schema,
 * realize-time checks and a factory. registry.ts is the list of these records and derives driver
 * checks, help text and QOM type rows from them.
 */
import type { PciDevice } from '../pci/pci-device.js';
import type { PropertySchema, PropValue } from './properties.js';

export type DeviceCategory = 'Controller/Bridge/Hub devices' | 'Misc devices';

/** Parsed property values by name (only those given). */
export type DeviceProps = ReadonlyMap<string, PropValue>;

/** One qom-list-types row (machine/qom-types.ts's QomTypeRow has the same shape). */
export interface DeviceQomRow {
  readonly name: string;
  readonly parent: string;
  readonly abstract: boolean;
  readonly interfaces?: readonly string[];
}

export interface DeviceDeclaration {
  readonly name: string;
  readonly parent: string;
  /** QOM interfaces of the type (e.g. conventional-pci-device). */
  readonly interfaces: readonly string[];
  /** Abstract QOM ancestors that only this type brings in, root first (listed before it). */
  readonly qomAncestors?: readonly DeviceQomRow[];
  readonly category: DeviceCategory;
  readonly bus: 'PCI';
  readonly desc?: string;
  readonly userCreatable: boolean;
  readonly hotpluggable: boolean;
  /** Device-specific properties (the generic PCI ones are added for every type). */
  readonly properties: readonly PropertySchema[];
  /** Realize-time checks where QEMU would abort or fail later: an error text, or undefined. */
  readonly validate?: (props: DeviceProps) => string | undefined;
  readonly create: (props: DeviceProps) => PciDevice;
}

/** Typed reads of parsed props (the schema fixes each property's value type). */
export const prop = {
  u64: (p: DeviceProps, name: string): bigint | undefined => p.get(name) as bigint | undefined,
  num: (p: DeviceProps, name: string): number | undefined => p.get(name) as number | undefined,
  bool: (p: DeviceProps, name: string): boolean | undefined => p.get(name) as boolean | undefined,
};
