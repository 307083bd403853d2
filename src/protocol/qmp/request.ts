/**
 * Validation of one QMP input object into a request, with QEMU 10.2.2's texts (errors.txt and the
 * oracle): members are checked in QDict order, so with several problems the same one is reported.
 */
import { emptyJsonObject, isJsonObject, type JsonObject, type JsonValue } from './json-value.js';
import { QmpError } from './messages.js';
import { qdictKeyOrder } from './qdict-order.js';

export interface QmpRequest {
  readonly name: string;
  /** Sent as `exec-oob`. */
  readonly oob: boolean;
  readonly args: JsonObject;
}

export function parseRequest(input: JsonValue, oobEnabled: boolean): QmpRequest {
  if (!isJsonObject(input)) throw QmpError.generic('QMP input must be a JSON object');
  let execute: string | undefined;
  let execOob: string | undefined;
  let args: JsonObject | undefined;
  for (const key of qdictKeyOrder(Object.keys(input))) {
    const value = input[key];
    if (key === 'execute') {
      if (typeof value !== 'string') throw QmpError.generic("QMP input member 'execute' must be a string");
      execute = value;
    } else if (key === 'exec-oob' && oobEnabled) {
      if (typeof value !== 'string') throw QmpError.generic("QMP input member 'exec-oob' must be a string");
      execOob = value;
    } else if (key === 'arguments') {
      if (!isJsonObject(value)) throw QmpError.generic("QMP input member 'arguments' must be an object");
      args = value;
    } else if (key !== 'id') {
      throw QmpError.generic(`QMP input member '${key}' is unexpected`);
    }
  }
  if (execute !== undefined && execOob !== undefined) {
    throw QmpError.generic("QMP input member 'execute' clashes with 'exec-oob'");
  }
  const name = execute ?? execOob;
  if (name === undefined) throw QmpError.generic("QMP input lacks member 'execute'");
  return { name, oob: execOob !== undefined, args: args ?? emptyJsonObject() };
}

/** The request's `id`, echoed in its reply whatever happens (any JSON value). */
export function requestId(input: JsonValue): JsonValue | undefined {
  return isJsonObject(input) && Object.prototype.hasOwnProperty.call(input, 'id') ? input.id : undefined;
}
