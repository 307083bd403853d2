/**
 * The `pcie-root-port` type as the registry lists it: QOM ancestry, help text and property schema
 * of QEMU 10.2.2, and the factory for the model in pci/pcie-root-port.ts.
 */
import { PcieRootPort } from '../pci/pcie-root-port.js';
import { prop } from './declaration.js';
import type { DeviceDeclaration } from './declaration.js';

export const PCIE_ROOT_PORT_DEVICE: DeviceDeclaration = {
  name: 'pcie-root-port',
  parent: 'pcie-root-port-base',
  interfaces: ['pci-express-device'],
  qomAncestors: [
    { name: 'base-pci-bridge', parent: 'pci-device', abstract: true },
    { name: 'pcie-port', parent: 'base-pci-bridge', abstract: true },
    { name: 'pcie-slot', parent: 'pcie-port', abstract: true },
    { name: 'pcie-root-port-base', parent: 'pcie-slot', abstract: true },
  ],
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
      chassis: prop.num(p, 'chassis'),
      slot: prop.num(p, 'slot'),
      port: prop.num(p, 'port'),
      hotplug: prop.bool(p, 'hotplug'),
      powerControllerPresent: prop.bool(p, 'power_controller_present'),
      disableAcs: prop.bool(p, 'disable-acs'),
    }),
};
