/**
 * What a Machine (machine.ts) asks of the models plugged into it: the SMMU's interface towards the
 * board and the x-qtestd inspection rows, and the factories that build the SMMU and the -device
 * list (devices/registry.ts and smmu/ provide the real ones; default-plugins.ts wires them).
 */
import type { Logger } from '../base/log.js';
import type { Tracer } from '../base/trace.js';
import type { Iommu } from '../memory/dma-view.js';
import type { BusAccess, IoRegion } from '../memory/types.js';
import type { PciDevice } from '../pci/pci-device.js';
import type { DebugQueueRegs } from '../smmu/queue-peek.js';
import type { SmmuV3Irqs } from '../smmu/smmu-v3.js';
import type { DeviceSpec, MachineConfig } from './config.js';

/** What the machine needs of an SMMU model. */
export interface SmmuModel extends IoRegion, Iommu {
  reset(): void;
  /** Registers, queues, caches and counters as plain JSON (x-qtestd-smmu-state). */
  debugSnapshot(): unknown;
  /** Decode the STE/CD of a StreamID without side effects (x-qtestd-smmu-decode-stream); secSid 1: the Secure world. */
  decodeStreamForDebug(sid: number, secSid?: 0 | 1): unknown;
  /** Whether the SMMU has the Secure programming interface (docs/secure-smmu.md). */
  readonly secureImpl?: boolean;
  dryRunTranslate(requesterId: number, iova: bigint, isWrite: boolean, attrs?: { space?: number }): unknown; // x-qtestd-smmu-translate
  /** A bank's queue registers and the view its queues live in (x-qtestd-smmu-queues); undefined: no such bank. */
  debugQueueRegs(secSid: 0 | 1): DebugQueueRegs | undefined;
  /** Activity counters for the service's metrics (guest-caused faults are counted, not logged). */
  readonly counters: { readonly translations: number; readonly faults: number; readonly eventsRecorded: number };
}

/** Factories for the pluggable models (devices/registry.ts and smmu/ provide the real ones). */
export interface MachinePlugins {
  createSmmu(deps: {
    memory: BusAccess;
    irqs: SmmuV3Irqs;
    log: Logger;
    /** The Secure view (secure=on), the -global list and each requester's sec-sid (secure-smmu-options.ts). */
    secureMemory?: BusAccess;
    globals?: MachineConfig['globals'];
    secSidOf?: (requesterId: number) => number;
    trace?: Tracer;
  }): SmmuModel;
  /** QEMU's first check of a -device/device_add driver name: an error text, or undefined. */
  checkDriver(name: string): string | undefined;
  /** Build a PCI device from a spec (driver already checked); throws ConfigError with QEMU's text. */
  createDevice(spec: DeviceSpec): { device: PciDevice; devfn?: number; props?: ReadonlyMap<string, unknown> };
}
