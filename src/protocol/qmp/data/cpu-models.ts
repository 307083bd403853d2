/**
 * query-cpu-definitions entries for the AArch64 CPU models QEMU 10.2.2 offers, copied from
 * reference/qemu-10.2.2/qmp/query-cpu-definitions.json in capture order (members in QAPI
 * CpuDefinitionInfo order). The command lists the ones the host says it models; a model missing
 * here gets the same shape with typename `<name>-arm-cpu`.
 */
import type { JsonObject } from '../json-value.js';

export const CPU_MODEL_CATALOGUE: readonly JsonObject[] = [
  { name: 'neoverse-n2', typename: 'neoverse-n2-arm-cpu', static: false, deprecated: false },
  { name: 'cortex-a57', typename: 'cortex-a57-arm-cpu', static: false, deprecated: false },
  { name: 'cortex-a76', typename: 'cortex-a76-arm-cpu', static: false, deprecated: false },
  { name: 'a64fx', typename: 'a64fx-arm-cpu', static: false, deprecated: false },
  { name: 'neoverse-v1', typename: 'neoverse-v1-arm-cpu', static: false, deprecated: false },
  { name: 'cortex-a710', typename: 'cortex-a710-arm-cpu', static: false, deprecated: false },
  { name: 'max', typename: 'max-arm-cpu', static: false, deprecated: false },
  { name: 'cortex-a53', typename: 'cortex-a53-arm-cpu', static: false, deprecated: false },
  { name: 'cortex-a72', typename: 'cortex-a72-arm-cpu', static: false, deprecated: false },
  { name: 'cortex-a78ae', typename: 'cortex-a78ae-arm-cpu', static: false, deprecated: false },
  { name: 'cortex-a55', typename: 'cortex-a55-arm-cpu', static: false, deprecated: false },
  { name: 'neoverse-n1', typename: 'neoverse-n1-arm-cpu', static: false, deprecated: false },
  { name: 'cortex-a35', typename: 'cortex-a35-arm-cpu', static: false, deprecated: false },
];
