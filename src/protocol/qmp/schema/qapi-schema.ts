/**
 * QEMU 10.2.2's QAPI schema as `query-qmp-schema` returns it (captured from the oracle; the reply is
 * the same for the virt and none machines): the entity list for the reply itself, and an index by
 * name for the argument visitor (input-visitor.ts) and for command properties (`allow-oob`).
 * Loaded once per process: the schema is constant data, not machine state.
 */
import type { JsonObject, JsonValue } from '../json-value.js';
import { readQmpCapture } from './captures.js';
import { parseQemuOutput } from './json-text.js';

export interface SchemaMember {
  readonly name: string;
  readonly type: string;
  /** Present (as null) on optional members. */
  readonly default?: null;
}

export interface SchemaEntity {
  readonly name: string;
  readonly 'meta-type': 'builtin' | 'enum' | 'array' | 'object' | 'alternate' | 'command' | 'event';
  readonly 'json-type'?: string;
  readonly values?: readonly string[];
  readonly 'element-type'?: string;
  readonly members?: readonly (SchemaMember | { type: string })[];
  readonly tag?: string;
  readonly variants?: readonly { case: string; type: string }[];
  readonly 'arg-type'?: string;
  readonly 'ret-type'?: string;
  readonly 'allow-oob'?: boolean;
}

export class QapiSchema {
  private readonly byName = new Map<string, SchemaEntity>();

  /**
   * `reply`: the entity list as parsed by parseQemuOutput (prints back as QEMU printed it), or a
   * function that parses it on first use (a launch that never asks for the schema skips it).
   */
  constructor(
    readonly entities: readonly SchemaEntity[],
    private reply: JsonValue[] | (() => JsonValue[]),
  ) {
    for (const e of entities) this.byName.set(e.name, e);
  }

  get(name: string): SchemaEntity | undefined {
    return this.byName.get(name);
  }

  command(name: string): SchemaEntity | undefined {
    const e = this.byName.get(name);
    return e?.['meta-type'] === 'command' ? e : undefined;
  }

  commandNames(): string[] {
    return this.entities.filter((e) => e['meta-type'] === 'command').map((e) => e.name);
  }

  /** The reply value, as plain JSON values (the writer prints members in QDict order). */
  toJson(): JsonValue[] {
    if (typeof this.reply === 'function') this.reply = this.reply();
    return this.reply;
  }
}

let loaded: QapiSchema | undefined;

/** The captured 10.2.2 schema (`query-qmp-schema.reply`: `{"return": [...]}` + CRLF). */
export function qemuSchema(): QapiSchema {
  if (loaded === undefined) {
    const text = readQmpCapture('query-qmp-schema.reply');
    const entities = (JSON.parse(text) as { return: SchemaEntity[] }).return;
    loaded = new QapiSchema(entities, () => (parseQemuOutput(text) as JsonObject).return as JsonValue[]);
  }
  return loaded;
}
