/**
 * Argument checking driven by the introspected QAPI schema, with the texts of QEMU's QObject input
 * visitor: members in schema order (base members, then the variant the union tag selects); the
 * first missing member (`Parameter 'a.b' is missing`), wrong JSON type (`Invalid parameter type
 * for 'a[0]', expected: integer`) or bad enum value (`Parameter 'b' does not accept value 'x'`,
 * which names the member alone, `null` for a list element) wins; then the first leftover member is
 * `Parameter 'a.x' is unexpected`. Error paths: `outer.inner` for object members, `list[3]` for
 * list elements.
 *
 * The schema collapses QEMU's sized integer types into `int`; a command may name the C type of its
 * integer members (data/c-int-types.ts): unsigned ones then take any integer in [-2^63, 2^64)
 * (negatives wrap, as QEMU's visitor does) and answer `Parameter 'a.x' expects uint64` for other
 * JSON, and sized ones answer `Parameter 'x' expects uint32_t` out of range (bare name, `null` for a
 * list element). Without a C type, range errors are not reproduced. An alternate matching no branch
 * is reported with the schema's (masked) type name where QEMU names the C type.
 */
import { hasKey, isJsonObject, type JsonObject, type JsonValue } from '../json-value.js';
import { QmpError } from '../messages.js';
import { qdictKeyOrder } from '../qdict-order.js';
import type { QapiSchema, SchemaEntity, SchemaMember } from './qapi-schema.js';
import { C_INT_RANGE, type CIntMembers, type CIntType } from '../data/c-int-types.js';

const INT_MIN = -(1n << 63n);
const UINT_MAX = (1n << 64n) - 1n;

type JsonKind = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null';

function kindOf(v: JsonValue): JsonKind {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'bigint') return 'integer';
  if (typeof v === 'number') return 'number';
  return 'object';
}

/** Where a value sits, for error texts: the full path, and the bare name QEMU uses in some texts. */
interface Place {
  readonly path: string;
  readonly name: string | null;
}

function typeError(place: Place, expected: string): QmpError {
  return QmpError.generic(`Invalid parameter type for '${place.path}', expected: ${expected}`);
}

function memberPlace(parent: string, name: string): Place {
  return { path: parent === '' ? name : `${parent}.${name}`, name };
}

/** An integer member with a known C type (QEMU's visit_type_uintN / visit_type_intN). */
function visitCInt(cInt: CIntType, value: JsonValue, place: Place): void {
  const range = C_INT_RANGE[cInt];
  if (range.unsigned) {
    if (typeof value !== 'bigint' || value < INT_MIN || value > UINT_MAX) {
      throw QmpError.generic(`Parameter '${place.path}' expects uint64`);
    }
    const wrapped = value < 0n ? value + (1n << 64n) : value;
    if (wrapped > range.max) throw QmpError.generic(`Parameter '${place.name ?? 'null'}' expects ${range.cName}`);
    return;
  }
  if (typeof value !== 'bigint' || value < INT_MIN || value > (1n << 63n) - 1n) throw typeError(place, 'integer');
  if (value < range.min || value > range.max) {
    throw QmpError.generic(`Parameter '${place.name ?? 'null'}' expects ${range.cName}`);
  }
}

export class SchemaInputVisitor {
  /** C types of the current command's integer members, by member name. */
  private cInts: CIntMembers = {};

  constructor(private readonly schema: QapiSchema) {}

  /** Check a command's `arguments` against its arg-type (`cInts`: its integer members' C types). */
  checkArguments(argType: string, args: JsonObject, cInts: CIntMembers = {}): void {
    this.cInts = cInts;
    const visited = new Set<string>();
    this.visitMembers(this.entity(argType), args, '', visited);
    this.checkLeftovers(args, '', visited);
  }

  private entity(name: string): SchemaEntity {
    const e = this.schema.get(name);
    if (e === undefined) throw new Error(`QAPI schema has no type ${name}`);
    return e;
  }

  private visit(typeName: string, value: JsonValue, place: Place, cInt?: CIntType): void {
    const e = this.entity(typeName);
    switch (e['meta-type']) {
      case 'builtin':
        if (cInt !== undefined && e['json-type'] === 'int') return visitCInt(cInt, value, place);
        return this.visitBuiltin(e['json-type'] ?? 'value', value, place);
      case 'enum':
        if (typeof value !== 'string') throw typeError(place, 'string');
        if (!(e.values ?? []).includes(value)) {
          throw QmpError.generic(`Parameter '${place.name ?? 'null'}' does not accept value '${value}'`);
        }
        return;
      case 'array':
        if (!Array.isArray(value)) throw typeError(place, 'array');
        value.forEach((element, i) =>
          this.visit(e['element-type']!, element, { path: `${place.path}[${i}]`, name: null }, cInt),
        );
        return;
      case 'object': {
        if (!isJsonObject(value)) throw typeError(place, 'object');
        const visited = new Set<string>();
        this.visitMembers(e, value, place.path, visited);
        this.checkLeftovers(value, place.path, visited);
        return;
      }
      case 'alternate':
        return this.visitAlternate(e, value, place);
      default:
        throw new Error(`QAPI entity ${e.name} is not a type`);
    }
  }

  private visitBuiltin(jsonType: string, value: JsonValue, place: Place): void {
    const kind = kindOf(value);
    switch (jsonType) {
      case 'string':
        if (kind !== 'string') throw typeError(place, 'string');
        return;
      case 'boolean':
        if (kind !== 'boolean') throw typeError(place, 'boolean');
        return;
      case 'null':
        if (kind !== 'null') throw typeError(place, 'null');
        return;
      case 'int':
        if (typeof value !== 'bigint' || value < INT_MIN || value > UINT_MAX) throw typeError(place, 'integer');
        return;
      case 'number':
        if (kind !== 'integer' && kind !== 'number') throw typeError(place, 'number');
        return;
      default:
        return;
    }
  }

  private visitAlternate(e: SchemaEntity, value: JsonValue, place: Place): void {
    const kind = kindOf(value);
    for (const m of e.members ?? []) {
      const branch = this.entity(m.type);
      if (this.accepts(branch, kind)) return this.visit(m.type, value, place);
    }
    throw typeError(place, e.name);
  }

  /** Whether an alternate branch of this type takes a value of this JSON kind (QEMU picks by QType). */
  private accepts(e: SchemaEntity, kind: JsonKind): boolean {
    switch (e['meta-type']) {
      case 'builtin': {
        const t = e['json-type'];
        if (t === 'int') return kind === 'integer';
        if (t === 'number') return kind === 'integer' || kind === 'number';
        if (t === 'value') return true;
        return t === kind;
      }
      case 'enum':
        return kind === 'string';
      case 'array':
        return kind === 'array';
      case 'object':
        return kind === 'object';
      default:
        return false;
    }
  }

  private visitMembers(e: SchemaEntity, dict: JsonObject, parent: string, visited: Set<string>): void {
    if (e['meta-type'] !== 'object') throw new Error(`QAPI type ${e.name} is not an object`);
    for (const m of (e.members ?? []) as SchemaMember[]) {
      visited.add(m.name);
      if (!hasKey(dict, m.name)) {
        if (Object.prototype.hasOwnProperty.call(m, 'default')) continue;
        throw QmpError.generic(`Parameter '${memberPlace(parent, m.name).path}' is missing`);
      }
      const cInt = Object.prototype.hasOwnProperty.call(this.cInts, m.name) ? this.cInts[m.name] : undefined;
      this.visit(m.type, dict[m.name], memberPlace(parent, m.name), cInt);
    }
    if (e.tag !== undefined && hasKey(dict, e.tag)) {
      const variant = (e.variants ?? []).find((v) => v.case === dict[e.tag!]);
      if (variant !== undefined) this.visitMembers(this.entity(variant.type), dict, parent, visited);
    }
  }

  private checkLeftovers(dict: JsonObject, parent: string, visited: Set<string>): void {
    const extra = qdictKeyOrder(Object.keys(dict)).find((k) => !visited.has(k));
    if (extra !== undefined) throw QmpError.generic(`Parameter '${memberPlace(parent, extra).path}' is unexpected`);
  }
}
