/**
 * Lazy boundary (scripts/bundle.mjs, "lazy modules"): the -trace output and the trace-event
 * table, initialised in the bundled launcher only for a launch with -trace. Unbundled, a plain
 * import.
 */
import * as traceOutput from './trace-output.js';
export const traceOutputModule = (): typeof traceOutput => traceOutput;
