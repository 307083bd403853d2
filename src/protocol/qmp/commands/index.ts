/** The built-in QMP command set, in the order query-commands lists it. */
import { CommandRegistry, type QmpCommand, type QmpExtension } from '../registry.js';
import { catalogueCommands } from './catalogue.js';
import { deviceCommands } from './devices.js';
import { hmpCommands } from './hmp.js';
import { negotiationCommands } from './negotiation.js';
import { qomCommands } from './qom.js';
import { runStateCommands } from './run-state.js';

export const BUILTIN_COMMANDS: readonly QmpCommand[] = [
  ...negotiationCommands,
  ...runStateCommands,
  ...catalogueCommands,
  ...qomCommands,
  ...deviceCommands,
  ...hmpCommands,
];

/** The built-in commands, then the host's `x-qtestd-*` rows. */
export function builtinRegistry(extensions: readonly QmpExtension[] = []): CommandRegistry {
  return new CommandRegistry(BUILTIN_COMMANDS, extensions);
}
