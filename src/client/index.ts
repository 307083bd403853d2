/**
 * qtestd/client: typed qtest and QMP clients, libqos-style PCI helpers and an SMMUv3 table builder
 * for driving qtestd (or a real qemu-system-aarch64) from TypeScript. Node-only (sockets, `ws`).
 */
export { QtestClient, QtestError } from './qtest-client.js';
export type {
  Endianness,
  QtestAttrs,
  QtestClientEvents,
  QtestClientOptions,
  QtestConnectOptions,
} from './qtest-client.js';
export { QtestReplyParser, classifyLine } from './qtest-reply-parser.js';
export type { QtestMessage } from './qtest-reply-parser.js';
export { QmpClient, QmpError, QmpConnectionError } from './qmp-client.js';
export type { QmpClientEvents, QmpClientOptions } from './qmp-client.js';
export type * from './qmp-types.js';
export { JsonStreamFramer } from './json-stream.js';
export type { JsonFrame } from './json-stream.js';
export {
  connectWebSocketTransport,
  newQmpToken,
  QMP_TOKEN_HEADER,
  QMP_TOKEN_OPTION,
  qtestdFirstLine,
  socketTransport,
  webSocketTransport,
  withQmpToken,
  withRequestTimeout,
} from './transport.js';
export type { ClientTransport, TransportChunk } from './transport.js';
export type { GuestMemory } from './guest-memory.js';
export { bigintToLe, leToBigint } from './guest-memory.js';
export { PciBus, VIRT_PCI_LAYOUT, PCI_CFG, PCI_COMMAND } from './pci.js';
export type { PciBar, PciDevice, PciLayout } from './pci.js';
export {
  GuestAllocator,
  LinearStreamTable,
  TwoLevelStreamTable,
  PageTableBuilder,
  DESC,
  STE_CONFIG,
  STRTAB_FMT,
  cdDwords,
  steDwords,
  dwordsOf,
  decodeCd,
  decodeSte,
  encodeCd,
  encodeSte,
  leafDescriptor,
  tableDescriptor,
  strtabBaseCfg,
  writeCd,
  writeSte,
  aarch64Stage1Cd,
  VIRT_SECURE_RAM,
} from './smmu-builder.js';
export type {
  CdFields,
  GranuleKiB,
  LeafOptions,
  PageTableOptions,
  Perms,
  SteFields,
  StreamTableRegisters,
  TableSpace,
} from './smmu-builder.js';
export {
  CMD,
  CMD_OPCODES,
  CR0_BITS,
  CommandQueue,
  EVENT_TYPES,
  EventQueue,
  IRQ_CTRL_BITS,
  SMMU_BANK_OFFSET,
  SMMU_REG,
  SMMU_S_REG,
  VIRT_SMMU_BASE,
  smmuBankBase,
  decodeEventRecord,
  enableSmmu,
  encodeCommandByName,
  linearStrtabRegisters,
  queueBaseValue,
} from './smmu-queues.js';
export type { EnableSmmuOptions, EnabledSmmu, EventRecord, QueueConfig, SmmuBank, TlbiRange } from './smmu-queues.js';
export { withAttrs } from './attrs-memory.js';
export type { AttributedGuestMemory } from './attrs-memory.js';
