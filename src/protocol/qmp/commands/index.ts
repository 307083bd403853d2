/** The built-in QMP command set, in the order query-commands lists it. */
import { CommandRegistry, type QmpCommand, type QmpExtension } from '../registry.js';
import { catalogueCommands } from './catalogue.js';
import { chardevCommands } from './chardevs.js';
import { cpuModelCommands } from './cpu-model.js';
import { deviceCommands } from './devices.js';
import { fixedReplyCommands } from './fixed.js';
import { introspectionCommands } from './introspection.js';
import { qemuSchema } from '../schema/qapi-schema.js';
import { hmpCommands } from './hmp.js';
import { machineStateCommands } from './machine-state.js';
import { negotiationCommands } from './negotiation.js';
import { objectCommands } from './objects.js';
import { qomCommands } from './qom.js';
import { runStateCommands } from './run-state.js';
import { typePropertyCommands } from './type-properties.js';

export const BUILTIN_COMMANDS: readonly QmpCommand[] = [
  ...negotiationCommands,
  ...runStateCommands,
  ...catalogueCommands,
  ...qomCommands,
  ...deviceCommands,
  ...hmpCommands,
  ...introspectionCommands,
  ...machineStateCommands,
  ...typePropertyCommands,
  ...cpuModelCommands,
  ...objectCommands,
  ...chardevCommands,
];

let fixed: readonly QmpCommand[] | undefined;

/** QEMU's schema with the built-in handlers and the captured fixed answers, then the host's `x-qtestd-*` rows. */
export function builtinRegistry(extensions: readonly QmpExtension[] = []): CommandRegistry {
  fixed ??= fixedReplyCommands();
  return new CommandRegistry([...BUILTIN_COMMANDS, ...fixed], extensions, qemuSchema);
}
