/**
 * The C types of integer members the introspected schema shows as plain `int` (QEMU's QAPI
 * definitions: qapi/qom.json for object-add), per command and member name, so the argument visitor
 * answers with QEMU's texts for them (schema/input-visitor.ts). Listed for the commands whose
 * members qtestd acts on.
 */
export type CIntType = 'int8' | 'int16' | 'int32' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'size';

export const C_INT_RANGE: Readonly<Record<CIntType, { unsigned: boolean; min: bigint; max: bigint; cName: string }>> = {
  int8: { unsigned: false, min: -128n, max: 127n, cName: 'int8_t' },
  int16: { unsigned: false, min: -32768n, max: 32767n, cName: 'int16_t' },
  int32: { unsigned: false, min: -(1n << 31n), max: (1n << 31n) - 1n, cName: 'int32_t' },
  uint8: { unsigned: true, min: 0n, max: 255n, cName: 'uint8_t' },
  uint16: { unsigned: true, min: 0n, max: 65535n, cName: 'uint16_t' },
  uint32: { unsigned: true, min: 0n, max: (1n << 32n) - 1n, cName: 'uint32_t' },
  uint64: { unsigned: true, min: 0n, max: (1n << 64n) - 1n, cName: 'uint64' },
  size: { unsigned: true, min: 0n, max: (1n << 64n) - 1n, cName: 'uint64' },
};

/** Member name → C type (a list member names its elements' type). */
export type CIntMembers = Readonly<Record<string, CIntType>>;

export const C_INT_MEMBERS: Readonly<Record<string, CIntMembers>> = {
  // MemoryBackendProperties (memory-backend-ram and the other backends).
  'object-add': { size: 'size', 'prealloc-threads': 'uint32', 'host-nodes': 'uint16' },
};
