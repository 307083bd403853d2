/**
 * Lazy boundary (scripts/bundle.mjs, "lazy modules"): -version / -help / -machine help texts,
 * initialised in the bundled launcher only when one is asked for. Unbundled, a plain import.
 */
import * as info from './info.js';
export const infoModule = (): typeof info => info;
