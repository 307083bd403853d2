/**
 * The QOM types qtestd models, with their parents, for qom-list-types. Names, parents and
 * abstractness are QEMU 10.2.2's (reference capture qom-list-types-abstract.json), restricted to the
 * types our machine instantiates and their ancestors; the two test devices are not in QEMU 10.2.2
 * and descend from pci-device as in their sources. Board types are data here; the rows of the
 * device types (and the abstract ancestors only they bring) come from the device registry.
 */
import { deviceQomRows } from '../devices/registry.js';

/** One row of qom-list-types (the QMP layer's QomTypeInfo has the same shape). */
export interface QomTypeRow {
  readonly name: string;
  /** Absent only for the roots `object` and `interface`. */
  readonly parent?: string;
  readonly abstract: boolean;
  readonly interfaces?: readonly string[];
}

const DEVICE_ROWS: readonly QomTypeRow[] = deviceQomRows();

/** The registry rows named, in the place the list has held them since they were captured. */
function deviceRows(...names: string[]): QomTypeRow[] {
  return names.map((name) => {
    const row = DEVICE_ROWS.find((r) => r.name === name);
    if (!row) throw new Error(`qom-types: device type '${name}' is not in the registry`);
    return row;
  });
}

const EARLY_DEVICES = ['edu', 'pci-testdev'];

export const QOM_TYPES: readonly QomTypeRow[] = [
  { name: 'object', abstract: true },
  { name: 'device', parent: 'object', abstract: true },
  { name: 'pci-device', parent: 'device', abstract: true },
  ...deviceRows(...EARLY_DEVICES),
  { name: 'sys-bus-device', parent: 'device', abstract: true },
  { name: 'arm-smmu', parent: 'sys-bus-device', abstract: true },
  { name: 'arm-smmuv3', parent: 'arm-smmu', abstract: false },
  { name: 'pci-host-bridge', parent: 'sys-bus-device', abstract: true },
  { name: 'pcie-host-bridge', parent: 'pci-host-bridge', abstract: true },
  { name: 'gpex-pcihost', parent: 'pcie-host-bridge', abstract: false },
  { name: 'gpex-root', parent: 'pci-device', abstract: false },
  { name: 'machine', parent: 'object', abstract: true },
  { name: 'virt-machine', parent: 'machine', abstract: true },
  { name: 'virt-10.2-machine', parent: 'virt-machine', abstract: false },
  { name: 'none-machine', parent: 'machine', abstract: false },
  { name: 'arm-gicv3-common', parent: 'sys-bus-device', abstract: true },
  { name: 'arm-gicv3', parent: 'arm-gicv3-common', abstract: false },
  { name: 'arm-gicv3-its-common', parent: 'sys-bus-device', abstract: true },
  { name: 'arm-gicv3-its', parent: 'arm-gicv3-its-common', abstract: false },
  { name: 'arm_gic_common', parent: 'sys-bus-device', abstract: true },
  { name: 'arm_gic', parent: 'arm_gic_common', abstract: false },
  { name: 'arm-gicv2m', parent: 'sys-bus-device', abstract: false },
  { name: 'cpu', parent: 'device', abstract: true },
  { name: 'arm-cpu', parent: 'cpu', abstract: true },
  { name: 'max-arm-cpu', parent: 'arm-cpu', abstract: false },
  { name: 'cortex-a53-arm-cpu', parent: 'arm-cpu', abstract: false },
  { name: 'cortex-a57-arm-cpu', parent: 'arm-cpu', abstract: false },
  { name: 'pl011', parent: 'sys-bus-device', abstract: false },
  { name: 'pl031', parent: 'sys-bus-device', abstract: false },
  { name: 'pl061', parent: 'sys-bus-device', abstract: false },
  { name: 'gpio-key', parent: 'sys-bus-device', abstract: false },
  { name: 'virtio-mmio', parent: 'sys-bus-device', abstract: false },
  { name: 'platform-bus-device', parent: 'sys-bus-device', abstract: false },
  { name: 'accel', parent: 'object', abstract: true },
  { name: 'qtest-accel', parent: 'accel', abstract: false },
  { name: 'tcg-accel', parent: 'accel', abstract: false },
  { name: 'container', parent: 'object', abstract: false },
  { name: 'bus', parent: 'object', abstract: true },
  { name: 'PCI', parent: 'bus', abstract: false },
  { name: 'PCIE', parent: 'PCI', abstract: false },
  { name: 'interface', abstract: true },
  { name: 'conventional-pci-device', parent: 'interface', abstract: true },
  { name: 'pci-express-device', parent: 'interface', abstract: true },
  { name: 'fw_cfg', parent: 'sys-bus-device', abstract: true },
  { name: 'fw_cfg_mem', parent: 'fw_cfg', abstract: false },
  { name: 'qtest', parent: 'object', abstract: false },
  // Every other registry row, in registry order.
  ...DEVICE_ROWS.filter((r) => !EARLY_DEVICES.includes(r.name)),
];
