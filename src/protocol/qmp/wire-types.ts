/**
 * QMP wire types shared by the server's QMP layer and the client library (which imports them
 * type-only): QAPI shapes by their wire member names. Types only — no runtime code, so that the
 * client may depend on this file without pulling in the server.
 *
 * 64-bit integers: the server holds them as `bigint` when a `number` would round them; a client
 * reading replies with JSON.parse sees `number`s. `I` is that integer type.
 */

/** An integer on the wire. */
export type WireInt = number | bigint;

/** QAPI `RunState`. */
export type RunState =
  | 'debug' | 'finish-migrate' | 'inmigrate' | 'internal-error' | 'io-error' | 'paused' | 'postmigrate'
  | 'prelaunch' | 'restore-vm' | 'running' | 'save-vm' | 'shutdown' | 'suspended' | 'watchdog'
  | 'guest-panicked' | 'colo';

// ---- query-pci (QAPI PciInfo and its members) ----

export interface PciMemoryRange<I extends WireInt = WireInt> {
  base: I;
  limit: I;
}

export interface PciMemoryRegion<I extends WireInt = WireInt> {
  bar: number;
  type: 'io' | 'memory';
  address: I;
  size: I;
  prefetch?: boolean;
  mem_type_64?: boolean;
}

export interface PciBusInfo<I extends WireInt = WireInt> {
  number: number;
  secondary: number;
  subordinate: number;
  io_range: PciMemoryRange<I>;
  memory_range: PciMemoryRange<I>;
  prefetchable_range: PciMemoryRange<I>;
}

export interface PciBridgeInfo<I extends WireInt = WireInt> {
  bus: PciBusInfo<I>;
  devices?: PciDeviceInfo<I>[];
}

export interface PciDeviceInfo<I extends WireInt = WireInt> {
  bus: number;
  slot: number;
  function: number;
  class_info: { desc?: string; class: number };
  id: { device: number; vendor: number; subsystem?: number; 'subsystem-vendor'?: number };
  irq?: number;
  irq_pin: number;
  qdev_id: string;
  pci_bridge?: PciBridgeInfo<I>;
  regions: PciMemoryRegion<I>[];
}

export interface PciInfo<I extends WireInt = WireInt> {
  bus: number;
  devices: PciDeviceInfo<I>[];
}
