/**
 * object-add / object-del for the user-creatable objects the host models (memory-backend-ram,
 * rng-builtin). The schema visitor has already checked the arguments (ObjectOptions, with the C
 * types of its integer members); then, as QEMU's user_creatable_add_type: the id must be an
 * identifier, the type one the host models, and the host sets the properties in QDict order,
 * adds the object under /objects and completes it, with QEMU's texts.
 */
import { arg } from '../args.js';
import type { HostOutcome } from '../host.js';
import { emptyJsonObject, type JsonObject, type JsonValue } from '../json-value.js';
import { QmpError } from '../messages.js';
import { qdictKeyOrder } from '../qdict-order.js';
import { defineCommand } from '../registry.js';

/** QEMU's id_wellformed: a letter, then letters, digits, '-', '.', '_'. */
const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_.-]*$/;

function outcome(r: HostOutcome | undefined, name: string): JsonValue {
  if (r === undefined) throw QmpError.generic(`The command ${name} is not supported by qtestd`);
  if (!r.ok) throw new QmpError(r.error.class, r.error.desc);
  return emptyJsonObject();
}

export const objectCommands = [
  defineCommand({
    name: 'object-add',
    args: { 'qom-type': arg.str(), id: arg.str() },
    boxed: true,
    run(args, { host }, raw) {
      const type = args['qom-type'];
      const id = args.id;
      if (!IDENTIFIER.test(id)) throw QmpError.generic("Parameter 'id' expects an identifier");
      if (!(host.objectTypes?.() ?? []).includes(type)) {
        throw QmpError.generic(`object-add of qom-type '${type}' is not supported by qtestd`);
      }
      const props: JsonObject = {};
      for (const key of qdictKeyOrder(Object.keys(raw))) if (key !== 'qom-type' && key !== 'id') props[key] = raw[key];
      return outcome(host.objectAdd?.(type, id, props), 'object-add');
    },
  }),
  defineCommand({
    name: 'object-del',
    args: { id: arg.str() },
    run: (args, { host }) => outcome(host.objectDel?.(args.id), 'object-del'),
  }),
];
