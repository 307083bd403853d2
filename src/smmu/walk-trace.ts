/**
 * The page-table walk's trace events (protocol/trace.md) as a WalkObserver: for every descriptor
 * read that succeeds, smmu_get_pte, then smmu_ptw_level, then, by the descriptor's kind,
 * smmu_ptw_invalid_pte, _page_pte or _block_pte (nothing more for a table descriptor; a failed
 * read prints nothing). QEMU 10.2.2 prints a stage-1 walk with the config's stage number (3 when
 * nested) and a stage-2 walk with 2. Built only when one of these events is enabled, so walks
 * without tracing stay observer-free.
 */
import type { Tracer } from '../base/trace.js';
import { TRACE_IDS as T } from '../base/trace-events.js';
import { extract64 } from './bits.js';
import { levelShift } from './granules.js';
import { descriptorKind } from './page-table-walk.js';
import type { WalkObserver } from './page-table-walk.js';

const WALK_EVENTS = [
  T.smmu_get_pte,
  T.smmu_ptw_level,
  T.smmu_ptw_invalid_pte,
  T.smmu_ptw_page_pte,
  T.smmu_ptw_block_pte,
] as const;

/** Whether any walk event is on (the caller checked `tr.any`). */
export function walkTraced(tr: Tracer): boolean {
  const on = tr.on;
  for (const id of WALK_EVENTS) if (on[id]) return true;
  return false;
}

/** Output address bits [47:shift] of a descriptor (QEMU PTE_ADDRESS). */
const pteAddress = (pte: bigint, shift: number): bigint => extract64(pte, shift, 47 - shift + 1) << BigInt(shift);

/** An observer printing the walk events of one translation; `s1Stage` is 1, or 3 when nested. */
export function walkTraceObserver(tr: Tracer, s1Stage: 1 | 3): WalkObserver {
  // The input address and granule of the stage being walked (the nested stage-2 walk of the
  // stage-1 output follows the stage-1 walk; table-address walks use observers of their own).
  let input = 0n;
  let granule = 12;
  const on = tr.on;
  return {
    walk(w) {
      input = w.input;
      granule = w.granuleShift;
    },
    descriptor(d) {
      const pte = d.pte;
      if (pte === null) return;
      const stage = d.stage === 1 ? s1Stage : 2;
      const { level, tableBase, index, pteAddr } = d;
      if (on[T.smmu_get_pte]) tr.emit(T.smmu_get_pte, tableBase, index, pteAddr, pte);
      const shift = levelShift(level, granule);
      if (on[T.smmu_ptw_level])
        tr.emit(T.smmu_ptw_level, stage, level, input, 1n << BigInt(shift), tableBase, index, pte);
      switch (descriptorKind(pte, level)) {
        case 'invalid':
          if (on[T.smmu_ptw_invalid_pte]) tr.emit(T.smmu_ptw_invalid_pte, stage, level, tableBase, pteAddr, index, pte);
          break;
        case 'page':
          if (on[T.smmu_ptw_page_pte])
            tr.emit(T.smmu_ptw_page_pte, stage, level, input, tableBase, pteAddr, pte, pteAddress(pte, granule));
          break;
        case 'block':
          if (on[T.smmu_ptw_block_pte]) {
            const blockMiB = BigInt.asUintN(64, 1n << BigInt(shift)) >> 20n;
            tr.emit(
              T.smmu_ptw_block_pte,
              stage,
              level,
              tableBase,
              pteAddr,
              pte,
              input,
              pteAddress(pte, shift),
              blockMiB,
            );
          }
          break;
        default:
          break;
      }
    },
  };
}
