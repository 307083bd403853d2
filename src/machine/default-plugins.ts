/**
 * The models a real machine is built with: the SMMUv3 and the PCI device registry. Kept apart
 * from machine.ts so that the machine can be tested with fakes and knows no concrete device.
 */
import { ConfigError } from './config.js';
import type { MachinePlugins } from './machine.js';

export const DEFAULT_PLUGINS: MachinePlugins = {
  createSmmu() {
    throw new ConfigError('arm-smmuv3 is not available in this build');
  },
  createDevice(spec) {
    throw new ConfigError(`'${spec.driver}' is not a valid device model name`);
  },
};
