/**
 * Trace events of QEMU 10.2.2 that qtestd does not emit yet (protocol/trace.md, "Not emitted"; each
 * is a row of protocol/deviations.md). The trace differential drops them from QEMU's side only.
 */
export const NOT_EMITTED: ReadonlySet<string> = new Set<string>([]);
