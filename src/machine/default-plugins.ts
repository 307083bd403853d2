/**
 * The models a real machine is built with: the SMMUv3 and the PCI device registry. Kept apart
 * from machine.ts so that the machine can be tested with fakes and knows no concrete device.
 */
import { checkDriver, createDevice } from '../devices/registry.js';
import { SmmuV3 } from '../smmu/smmu-v3.js';
import { ConfigError } from './config.js';
import { secureSmmuOptions } from './secure-smmu-options.js';
import type { MachinePlugins } from './machine-plugins.js';

export const DEFAULT_PLUGINS: MachinePlugins = {
  createSmmu(deps) {
    const sec = secureSmmuOptions(deps.globals ?? []);
    return new SmmuV3({
      memory: deps.memory,
      irqs: deps.irqs,
      log: deps.log,
      secureImpl: sec.secureImpl,
      quirks: sec.quirks,
      secureMemory: deps.secureMemory,
      secSidOf: deps.secSidOf,
      trace: deps.trace,
    });
  },
  checkDriver(name) {
    const r = checkDriver(name);
    return r.ok ? undefined : r.error;
  },
  createDevice(spec) {
    const r = createDevice(spec.driver, spec.props, spec.source);
    if (!r.ok) throw new ConfigError(r.error);
    return { device: r.created.device, devfn: r.created.devfn, props: r.created.props };
  },
};
