/**
 * Resource limits a client could otherwise push without bound, and the error thrown when one is hit.
 * Machine code throws LimitError; each protocol endpoint's single error boundary turns it into a
 * FAIL line or a QMP GenericError and the session carries on.
 */

export interface Limits {
  /** Longest qtest line accepted, in bytes (a 1 MiB b64write is a ~1.4 MB line). */
  maxLineBytes: number;
  /** Guest RAM a session may touch (allocated pages), in bytes. */
  maxTouchedRamBytes: number;
  /** Largest single read/b64read/write/b64write/memset size, in bytes (a `read` reply is 2 chars a byte: must stay below V8's ~512 Mi-char string limit). */
  maxTransferBytes: number;
  /** Largest QMP message, in bytes. */
  maxQmpMessageBytes: number;
  /** Deepest JSON nesting accepted on QMP. */
  maxJsonDepth: number;
  /**
   * Work one request may make the machine do, in units of memory/work-meter.ts (bytes moved + a
   * fixed cost per access, DMA and SMMU fetches included); 0 = no limit (as QEMU).
   */
  requestWorkUnits: number;
  /** Wall time one request may run, in ms; 0 = no limit. */
  requestWallMs: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxLineBytes: 64 * 1024 * 1024,
  maxTouchedRamBytes: 8 * 1024 * 1024 * 1024,
  maxTransferBytes: 128 * 1024 * 1024,
  maxQmpMessageBytes: 16 * 1024 * 1024,
  maxJsonDepth: 64,
  requestWorkUnits: 0,
  requestWallMs: 0,
});

/** The service's per-request budget: far above any upstream qtest or differential input. */
export const SERVICE_REQUEST_BUDGET = Object.freeze({ requestWorkUnits: 2 ** 32, requestWallMs: 120_000 });

export class LimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LimitError';
  }
}
