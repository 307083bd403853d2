/**
 * query-machines entries for the machine types we model, copied member for member from
 * protocol/captures/qemu-10.2.2/qmp/query-machines.json (members in QAPI MachineInfo order; the writer
 * prints them in QEMU's order). `compatProps` is what `{"compat-props": true}` adds (observed).
 * Catalogue order = capture order (`none` before `virt-10.2`).
 */
import type { JsonObject } from '../json-value.js';

export interface MachineCatalogueEntry {
  readonly info: JsonObject;
  readonly compatProps: JsonObject[];
}

export const MACHINE_CATALOGUE: readonly MachineCatalogueEntry[] = [
  {
    info: {
      name: 'none',
      'cpu-max': 1,
      'hotpluggable-cpus': false,
      'numa-mem-supported': false,
      deprecated: false,
      'default-ram-id': 'ram',
      acpi: false,
    },
    compatProps: [],
  },
  {
    info: {
      name: 'virt-10.2',
      alias: 'virt',
      'cpu-max': 512,
      'hotpluggable-cpus': false,
      'numa-mem-supported': false,
      deprecated: false,
      'default-ram-id': 'mach-virt.ram',
      acpi: true,
    },
    compatProps: [{ 'qom-type': 'virtio-iommu-pci', property: 'aw-bits', value: '48' }],
  },
];
