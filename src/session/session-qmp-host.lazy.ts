/**
 * Lazy boundary (scripts/bundle.mjs, "lazy modules"): the session's QMP host (QOM, introspection,
 * info texts), initialised in the bundled launcher on the first QMP command or event, not at
 * start-up. Unbundled, a plain import.
 */
import * as host from './session-qmp-host.js';
export const qmpHostModule = (): typeof host => host;
