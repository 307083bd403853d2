/**
 * Trace events of QEMU 10.2.2 that qtestd does not emit yet (protocol/trace.md, "Not emitted"; each
 * is a row of protocol/deviations.md). The trace differential drops them from QEMU's side only.
 */
export const NOT_EMITTED: ReadonlySet<string> = new Set<string>([
  'smmu_ptw_level',
  'smmu_ptw_invalid_pte',
  'smmu_ptw_page_pte',
  'smmu_ptw_block_pte',
  'smmu_get_pte',
  'smmuv3_find_ste_2lvl',
]);
