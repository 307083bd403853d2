/**
 * x-qtestd-smmu-queues {bank?: "non-secure"|"secure", max?} (docs/inspector.md): the command and
 * event queue entries of one register bank, decoded, read straight from RAM — no MMIO read, no
 * access counted, nothing changed. A queue whose entries are not in RAM says so in `note`.
 */
import type { AddressSpace } from '../memory/address-space.js';
import type { Machine } from '../machine/machine.js';
import type { JsonObject } from '../protocol/qmp/json-value.js';
import { QmpError } from '../protocol/qmp/messages.js';
import { peekQueues } from '../smmu/queue-peek.js';
import type { RamPeek } from '../smmu/queue-peek.js';

const DEFAULT_MAX = 32n;
const MAX_MAX = 1024n;

/** Reads RAM behind `space` (following aliases) without touching any other region or meter. */
function ramPeek(space: AddressSpace): RamPeek {
  return (addr, length) => {
    const r = space.resolve(addr);
    if (!r || r.region.kind !== 'ram' || r.offset + BigInt(length) > r.region.size) return null;
    const out = new Uint8Array(length);
    r.region.readBytes(r.offset, out);
    return out;
  };
}

export function smmuQueues(machine: Machine, smmu: NonNullable<Machine['smmu']>, raw: JsonObject): unknown {
  const bankArg = raw.bank ?? 'non-secure';
  if (bankArg !== 'non-secure' && bankArg !== 'secure')
    throw QmpError.generic("Parameter 'bank' expects 'non-secure' or 'secure'");
  const max = raw.max ?? DEFAULT_MAX;
  if (typeof max !== 'bigint' || max < 0n || max > MAX_MAX)
    throw QmpError.generic(`Parameter 'max' expects an integer 0..${MAX_MAX}`);
  const regs = smmu.debugQueueRegs(bankArg === 'secure' ? 1 : 0);
  if (!regs) throw QmpError.generic('The SMMU has no Secure bank (-global arm-smmuv3.secure-impl=true)');
  const space = regs.view === 'secure' && machine.secureView ? machine.secureView : machine.system;
  return {
    bank: bankArg,
    ...peekQueues(regs.cmdq, regs.eventq, Number(max), ramPeek(space)),
  };
}
