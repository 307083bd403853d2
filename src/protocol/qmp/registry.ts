/**
 * The QMP command table: name → argument schema → handler. `defineCommand` ties a handler's argument
 * type to its schema; a command's `execute` checks arguments from the schema (so every command gets
 * QEMU's missing/unexpected/wrong-type errors) and then calls the handler. The host's `x-qtestd-*`
 * extensions are rows of the same shape (`defineExtension`): the host writes their handlers, this
 * layer checks their arguments and lists them after the built-in commands.
 */
import { checkArgs, type ArgSchema, type ArgsOf } from './args.js';
import type { QmpHost } from './host.js';
import type { JsonObject, JsonValue } from './json-value.js';
import type { QapiSchema } from './schema/qapi-schema.js';

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
  /**
   * QEMU `'boxed': true` with a union argument type (object-add): the schema visitor checks all
   * members; `args` names only those the handler reads, the others reach `run` through `raw`.
   */
  readonly boxed?: boolean;
  /** Whether `exec-oob` may run it (none of ours: QEMU's OOB commands are migration ones). */
  readonly allowOob?: boolean;
  run(args: ArgsOf<S>, ctx: CommandContext, raw: JsonObject): JsonValue;
}

/** A command with its argument type erased, as the registry stores it. */
export interface QmpCommand {
  readonly name: string;
  readonly allowOob: boolean;
  readonly openArgs: boolean;
  execute(raw: JsonObject, ctx: CommandContext): JsonValue;
}

export function defineCommand<S extends ArgSchema>(def: QmpCommandDef<S>): QmpCommand {
  return {
    name: def.name,
    allowOob: def.allowOob ?? false,
    openArgs: def.openArgs ?? false,
    execute: (raw, ctx) => def.run(checkArgs(def.args, raw, (def.openArgs ?? false) || (def.boxed ?? false)), ctx, raw),
  };
}

/** Every host extension's name starts with this; unknown names under it are CommandNotFound. */
export const EXTENSION_PREFIX = 'x-qtestd-';
export type ExtensionName = `${typeof EXTENSION_PREFIX}${string}`;

/** A host-defined command row (`x-qtestd-*`), as the host hands it to the endpoint. */
export interface QmpExtension extends QmpCommand {
  readonly name: ExtensionName;
  /** Its arguments as query-qmp-schema describes them (all optional members; none if absent). */
  readonly introspect?: readonly ExtensionMember[];
}

/** One argument of an extension, for query-qmp-schema (`type` is a schema builtin: int, str, ...). */
export interface ExtensionMember {
  readonly name: string;
  readonly type: 'int' | 'str' | 'bool';
  readonly optional: boolean;
}

export interface QmpExtensionDef<S extends ArgSchema> extends QmpCommandDef<S> {
  readonly name: ExtensionName;
  readonly introspect?: readonly ExtensionMember[];
}

/** An `x-qtestd-*` row: same argument checking as a built-in command; never OOB. */
export function defineExtension<S extends ArgSchema>(def: QmpExtensionDef<S>): QmpExtension {
  if (!def.name.startsWith(EXTENSION_PREFIX)) throw new Error(`QMP extension ${def.name} lacks the ${EXTENSION_PREFIX} prefix`);
  return { ...defineCommand({ ...def, allowOob: false }), name: def.name, introspect: def.introspect };
}

/**
 * The command set: QEMU 10.2.2's schema decides which commands exist (query-commands, CommandNotFound)
 * and how their arguments are checked; handlers implement them; a schema command without a handler
 * answers `The command X is not supported by qtestd` (after its arguments are checked, so argument
 * errors stay QEMU's). Extensions come after QEMU's commands.
 */
export class CommandRegistry {
  private readonly commands = new Map<string, QmpCommand>();
  readonly extensions: readonly QmpExtension[];

  private schemaSource: QapiSchema | (() => QapiSchema) | undefined;

  /**
   * `extensions` follow the built-ins (query-commands lists them last, in the host's order).
   * `schema` may be a function: it is called on first use (a launch whose QMP monitor runs no
   * command never parses the 230 KB schema: idle VmRSS -0.7 MiB, see README "Benchmarks").
   */
  constructor(
    commands: Iterable<QmpCommand>,
    extensions: Iterable<QmpExtension> = [],
    schema?: QapiSchema | (() => QapiSchema),
  ) {
    for (const c of commands) this.add(c);
    this.extensions = [...extensions];
    for (const c of this.extensions) {
      if (!c.name.startsWith(EXTENSION_PREFIX)) throw new Error(`QMP extension ${c.name} lacks the ${EXTENSION_PREFIX} prefix`);
      this.add(c);
    }
    this.schemaSource = schema;
    if (typeof schema !== 'function') this.checkAgainst(schema);
  }

  /** QEMU's schema, if the registry has one (resolved and checked against the handlers on first use). */
  get schema(): QapiSchema | undefined {
    if (typeof this.schemaSource === 'function') {
      const schema = this.schemaSource();
      this.checkAgainst(schema);
      this.schemaSource = schema;
    }
    return this.schemaSource;
  }

  private checkAgainst(schema: QapiSchema | undefined): void {
    if (schema === undefined) return;
    for (const name of this.commands.keys()) {
      if (!name.startsWith(EXTENSION_PREFIX) && schema.command(name) === undefined) {
        throw new Error(`QMP command ${name} is not in QEMU's schema`);
      }
    }
  }

  /** Whether the command exists (in the schema or as a handler). */
  has(name: string): boolean {
    return this.commands.has(name) || this.schema?.command(name) !== undefined;
  }

  private add(c: QmpCommand): void {
    if (this.commands.has(c.name)) throw new Error(`duplicate QMP command ${c.name}`);
    this.commands.set(c.name, c);
  }

  get(name: string): QmpCommand | undefined {
    return this.commands.get(name);
  }

  /**
   * In query-commands order: QEMU 10.2.2 lists `device_add` first, then the other commands in
   * reverse schema order (observed); the extensions follow.
   */
  names(): string[] {
    if (this.schema === undefined) return [...this.commands.keys()];
    const qemu = this.schema.commandNames().reverse();
    const rest = qemu.filter((n) => n !== 'device_add');
    return [...(rest.length < qemu.length ? ['device_add'] : []), ...rest, ...this.extensions.map((e) => e.name)];
  }
}
