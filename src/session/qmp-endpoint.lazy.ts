/**
 * Lazy boundary (scripts/bundle.mjs, "lazy modules"): the QMP layer (commands, schema, JSON
 * stream), initialised in the bundled launcher on a monitor's first input, not at start-up.
 * Unbundled, a plain import.
 */
import * as endpoint from '../protocol/qmp/endpoint.js';
export const qmpEndpointModule = (): typeof endpoint => endpoint;
