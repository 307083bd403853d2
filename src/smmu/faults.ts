/**
 * The SMMUv3 event vocabulary: event type codes and names (IHI 0070 7.3), fault classes, the
 * page-table-walk fault kinds a walk reports (QEMU SMMUPTWEventType) and the event-info union the
 * model records. Also the IOMMU permission bits (QEMU IOMMU_RO/IOMMU_WO). Pure data and types.
 */

/** Event type codes, spec spellings (QEMU's trace names differ for 0x07 and 0x24). */
export const EVENT_TYPES = {
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06,
  F_TRANSL_FORBIDDEN: 0x07,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
  E_PAGE_REQUEST: 0x24,
} as const satisfies Record<string, number>;

export type EventName = keyof typeof EVENT_TYPES;

/** Event CLASS field (IHI 0070 7.3.12): what the faulting access was for. */
export const FAULT_CLASS = { CD: 0, TT: 1, IN: 2 } as const satisfies Record<string, number>;
export type FaultClass = keyof typeof FAULT_CLASS;

/** IOMMU access permission bits (QEMU IOMMUAccessFlags): bit 0 read, bit 1 write. */
export const PERM = { NONE: 0, RO: 1, WO: 2, RW: 3 } as const;
export type Perm = number;

/** Kinds of page-table-walk failure (QEMU SMMU_PTW_ERR_*). */
export type PtwFaultKind = 'walk-eabt' | 'translation' | 'addr-size' | 'access' | 'permission';

/** A walk failure: which stage it is attributed to and the address QEMU reports with it. */
export interface PtwFault {
  kind: PtwFaultKind;
  stage: 1 | 2;
  /** Descriptor address (walk-eabt), faulting IPA (stage-2 faults) or 0. */
  addr: bigint;
  /** The fault happened translating a stage-1 table address through stage 2 (nested). */
  isIpaDescriptor: boolean;
}

/** The event each walk fault kind becomes. */
export const PTW_FAULT_EVENT = {
  'walk-eabt': 'F_WALK_EABT',
  translation: 'F_TRANSLATION',
  'addr-size': 'F_ADDR_SIZE',
  access: 'F_ACCESS',
  permission: 'F_PERMISSION',
} as const satisfies Record<PtwFaultKind, EventName>;

export type WalkEventName = (typeof PTW_FAULT_EVENT)[PtwFaultKind];

/** What an event record carries, by type (QEMU SMMUEventInfo restricted to what 10.2.2 raises). */
export type EventInfo =
  | { type: 'C_BAD_STREAMID' }
  | { type: 'F_STE_FETCH'; fetchAddr: bigint }
  | { type: 'C_BAD_STE' }
  | { type: 'F_CD_FETCH'; fetchAddr: bigint }
  | { type: 'C_BAD_CD' }
  | {
      type: WalkEventName;
      s2: boolean;
      cls: FaultClass;
      /** Read (1) or write (0) as QEMU sets it: bit 0 of the requested permission. */
      rnw: boolean;
      /** InputAddr (words 4–5): the transaction IOVA, filled in by the frontend. */
      inputAddr: bigint;
      /** IPA or fetch address (words 6–7). */
      addr2: bigint;
    };

/** A complete event: the info plus the StreamID. */
export type SmmuEvent = EventInfo & { sid: number };

export function isWalkEvent(e: EventInfo): e is Extract<EventInfo, { s2: boolean }> {
  return 's2' in e;
}
