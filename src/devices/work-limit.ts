/**
 * A device's long work (a DMA) can be cut short by the request's work budget: the access that
 * runs out throws a LimitError (memory/work-meter.ts). `settleOnLimit` runs the work and, when that
 * happens, first puts the device in its defined end state (idle, with the error code its
 * specification gives a failed transfer), then lets the error reach the protocol endpoint.
 * Work long enough to run in slices is a WorkJob instead (memory/work-meter.ts runWorkJob).
 */
import { LimitError } from '../base/limits.js';

export function settleOnLimit<T>(work: () => T, settle: () => void): T {
  try {
    return work();
  } catch (e) {
    if (e instanceof LimitError) settle();
    throw e;
  }
}
