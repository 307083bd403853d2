/**
 * The QMP command table: name → argument schema → handler. `defineCommand` ties a handler's argument
 * type to its schema; `CommandRegistry.run` checks arguments from the schema (so every command gets
 * QEMU's missing/unexpected/wrong-type errors) and then calls the handler.
 */
import { checkArgs, type ArgSchema, type ArgsOf } from './args.js';
import type { QmpHost } from './host.js';
import type { JsonObject, JsonValue } from './json-value.js';

/** What a handler may touch besides its arguments. */
export interface CommandContext {
  readonly host: QmpHost;
  readonly registry: CommandRegistry;
  /** Capabilities negotiation state of the calling endpoint. */
  readonly negotiation: {
    readonly complete: boolean;
    finish(enabled: readonly string[]): void;
  };
}

export interface QmpCommandDef<S extends ArgSchema> {
  readonly name: string;
  readonly args: S;
  /** Members outside `args` are allowed and reach `run` through `raw` (QEMU `'gen': false`). */
  readonly openArgs?: boolean;
  /** Whether `exec-oob` may run it (none of ours: QEMU's OOB commands are migration ones). */
  readonly allowOob?: boolean;
  run(args: ArgsOf<S>, ctx: CommandContext, raw: JsonObject): JsonValue;
}

/** A command with its argument type erased, as the registry stores it. */
export interface QmpCommand {
  readonly name: string;
  readonly allowOob: boolean;
  execute(raw: JsonObject, ctx: CommandContext): JsonValue;
}

export function defineCommand<S extends ArgSchema>(def: QmpCommandDef<S>): QmpCommand {
  return {
    name: def.name,
    allowOob: def.allowOob ?? false,
    execute: (raw, ctx) => def.run(checkArgs(def.args, raw, def.openArgs ?? false), ctx, raw),
  };
}

export class CommandRegistry {
  private readonly commands = new Map<string, QmpCommand>();

  constructor(commands: Iterable<QmpCommand>) {
    for (const c of commands) {
      if (this.commands.has(c.name)) throw new Error(`duplicate QMP command ${c.name}`);
      this.commands.set(c.name, c);
    }
  }

  get(name: string): QmpCommand | undefined {
    return this.commands.get(name);
  }

  names(): string[] {
    return [...this.commands.keys()];
  }
}
