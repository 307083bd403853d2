/**
 * Commands QEMU 10.2.2 answers, when called without arguments, the same way for every machine qtestd
 * models, because the answer reports a subsystem neither has or a state that never changes under
 * qtestd (jobs, NBD, migration, SEV, balloon, replay, `eject` without a device, ...): served verbatim
 * from the oracle capture `protocol/captures/qemu-10.2.2/qmp/fixed-replies.json` (written by
 * scripts/capture-qmp-oracle.mjs). An error reply is re-raised with its class and text. Called
 * with arguments (already checked against the schema), they are not supported by qtestd.
 */
import type { QmpErrorClass } from '../host.js';
import { isJsonObject, type JsonValue } from '../json-value.js';
import { QmpError } from '../messages.js';
import type { QmpCommand } from '../registry.js';
import { readQmpCapture } from '../schema/captures.js';
import { parseQemuOutput } from '../schema/json-text.js';

export function notSupported(name: string): QmpError {
  return QmpError.generic(`The command ${name} is not supported by qtestd`);
}

function answerOf(name: string, reply: JsonValue): () => JsonValue {
  if (!isJsonObject(reply)) throw new Error(`fixed reply of ${name} is not an object`);
  const error = reply.error;
  // The writer never mutates a value, so the parsed reply is returned as is on every call.
  return isJsonObject(error)
    ? (): JsonValue => {
        throw new QmpError(error.class as QmpErrorClass, String(error.desc));
      }
    : (): JsonValue => reply.return;
}

/** The captured reply line is parsed on the first call (a launch parses none of them). */
function fixedCommand(name: string, line: string): QmpCommand {
  let answer: (() => JsonValue) | undefined;
  return {
    name,
    allowOob: false,
    openArgs: false,
    execute(raw) {
      if (Object.keys(raw).length > 0) throw notSupported(name);
      answer ??= answerOf(name, parseQemuOutput(line));
      return answer();
    },
  };
}

/** One command per captured reply, in the capture's order. */
export function fixedReplyCommands(): QmpCommand[] {
  const table = JSON.parse(readQmpCapture('fixed-replies.json')) as Record<string, string>;
  return Object.entries(table).map(([name, line]) => fixedCommand(name, line));
}
