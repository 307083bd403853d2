/**
 * Which world a command acts on when the SMMU has both programming interfaces
 * (docs/secure-smmu.md "Commands"): the command table of command-queue.ts run against the
 * Non-secure world's caches, the Secure world's, or both, by the queue it came from, its SSec bit
 * and the quirk switches. Without the Secure interface this is not used (QEMU 10.2.2's rules).
 */
import { CERROR, CMD_OPCODES, executeCommand } from './command-queue.js';
import type { CommandError, CommandFields, CommandTarget } from './command-queue.js';
import type { SecSid } from './bank-decode.js';
import type { SmmuQuirks } from './quirks.js';

const CFGI: ReadonlySet<number> = new Set([
  CMD_OPCODES.CMD_CFGI_STE,
  CMD_OPCODES.CMD_CFGI_STE_RANGE,
  CMD_OPCODES.CMD_CFGI_CD,
  CMD_OPCODES.CMD_CFGI_CD_ALL,
]);
const STAGE2: ReadonlySet<number> = new Set([CMD_OPCODES.CMD_TLBI_S12_VMALL, CMD_OPCODES.CMD_TLBI_S2_IPA]);
const BOTH_BY_SERIES: ReadonlySet<number> = new Set([
  CMD_OPCODES.CMD_TLBI_NH_ALL,
  CMD_OPCODES.CMD_TLBI_NH_ASID,
  CMD_OPCODES.CMD_TLBI_NSNH_ALL,
]);

/** Run `cmd` on each target in turn; the first error wins (the targets agree on legality). */
function onAll(cmd: CommandFields, targets: readonly CommandTarget[]): CommandError {
  let err: CommandError = CERROR.NONE;
  for (const t of targets) {
    const e = executeCommand(cmd, t);
    if (err === CERROR.NONE) err = e;
  }
  return err;
}

/** The executor for the queue of bank `queue`; targets are indexed by SEC_SID (0 NS, 1 S). */
export function worldCommandExecutor(
  queue: SecSid,
  targets: readonly [CommandTarget, CommandTarget],
  quirks: SmmuQuirks,
): (cmd: CommandFields) => CommandError {
  const [ns, s] = targets;
  const both = quirks['invalidate-both-worlds'];
  return (cmd) => {
    const op = cmd.Opcode;
    if (CFGI.has(op)) {
      if (cmd.SSec) {
        if (queue === 0 || quirks['ssec-commands']) return CERROR.ILL;
        return executeCommand({ ...cmd, SSec: 0 }, s);
      }
      return both ? onAll(cmd, [ns, s]) : executeCommand(cmd, ns);
    }
    if (queue === 1 && STAGE2.has(op)) return quirks['ssec-commands'] ? CERROR.ABT : executeCommand(cmd, ns);
    if (BOTH_BY_SERIES.has(op)) {
      if (both) return onAll(cmd, [ns, s]);
      return executeCommand(cmd, op === CMD_OPCODES.CMD_TLBI_NSNH_ALL ? ns : targets[queue]);
    }
    return executeCommand(cmd, targets[queue]);
  };
}
