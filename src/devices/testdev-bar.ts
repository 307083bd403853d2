/**
 * What the two SMMU test devices (iommu-testdev, smmu-testdev) share: the 1b36:0005 "unclassified"
 * identity and a 4 KiB BAR0 of 32-bit registers, 4-byte accesses only, unknown offsets RAZ/WI.
 */
import { RegisterFile } from '../memory/register-file.js';
import type { RegisterHooks, RegisterTable } from '../memory/register-file.js';
import type { ConfigSpace } from '../pci/config-space.js';

export const TESTDEV_BAR0_BYTES = 0x1000n;

/** Config identity of both test devices (vendor 1b36, device 0005, revision 0, class 00ff). */
export function setTestdevIdentity(config: ConfigSpace): void {
  config.setIdentity({ vendor: 0x1b36, device: 0x0005, revision: 0, classCode: 0x00ff });
}

/** The BAR0 register block `<typeName>.bar0` over `registers`, with the devices' hooks. */
export function testdevRegisterBar<T extends RegisterTable>(
  typeName: string,
  registers: T,
  hooks: NoInfer<RegisterHooks<T>>,
): RegisterFile<T> {
  return new RegisterFile({
    name: `${typeName}.bar0`,
    size: TESTDEV_BAR0_BYTES,
    registers,
    unknown: 'raz',
    valid: { minSize: 4, maxSize: 4 },
    impl: { minSize: 4, maxSize: 4 },
    hooks,
  });
}
