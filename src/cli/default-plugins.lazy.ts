/**
 * Lazy boundary (scripts/bundle.mjs, "lazy modules"): the device models and the SMMUv3,
 * initialised in the bundled launcher when the machine is built, not at start-up. Unbundled, a
 * plain import.
 */
import * as plugins from '../machine/default-plugins.js';
export const defaultPluginsModule = (): typeof plugins => plugins;
