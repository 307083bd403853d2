/**
 * Lazy boundary (scripts/bundle.mjs, "lazy modules"): the machine layer (board, PCI, SMMU,
 * devices), initialised in the bundled launcher when the first session builds its machine, not at
 * start-up. Unbundled, a plain import.
 */
import * as machine from '../machine/machine.js';
export const machineModule = (): typeof machine => machine;
