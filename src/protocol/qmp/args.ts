/**
 * Argument schemas for QMP commands and the checker generated from them, with the error texts of
 * QEMU's QAPI input visitor: members are visited in schema order (first missing or mistyped one
 * wins), then the first leftover member (in QDict order) is reported as unexpected.
 */
import { asInt64, hasKey, type JsonObject, type JsonValue } from './json-value.js';
import { QmpError } from './messages.js';
import { qdictKeyOrder } from './qdict-order.js';

export type ArgKind = 'str' | 'bool' | 'int' | 'any' | 'enum-list';

export interface ArgSpec<K extends ArgKind = ArgKind, O extends boolean = boolean> {
  readonly kind: K;
  readonly optional: O;
  /** Allowed values, for 'enum-list'. */
  readonly values?: readonly string[];
}

export type ArgSchema = Readonly<Record<string, ArgSpec>>;

/** Schema builders: `{ path: arg.str(), abstract: arg.optBool() }`. */
export const arg = {
  str: (): ArgSpec<'str', false> => ({ kind: 'str', optional: false }),
  optStr: (): ArgSpec<'str', true> => ({ kind: 'str', optional: true }),
  optBool: (): ArgSpec<'bool', true> => ({ kind: 'bool', optional: true }),
  optInt: (): ArgSpec<'int', true> => ({ kind: 'int', optional: true }),
  any: (): ArgSpec<'any', false> => ({ kind: 'any', optional: false }),
  optEnumList: (values: readonly string[]): ArgSpec<'enum-list', true> => ({ kind: 'enum-list', optional: true, values }),
} as const;

type ValueOf<S extends ArgSpec> = S['kind'] extends 'str'
  ? string
  : S['kind'] extends 'bool'
    ? boolean
    : S['kind'] extends 'int'
      ? bigint
      : S['kind'] extends 'enum-list'
        ? string[]
        : JsonValue;

/** The typed argument object a schema describes. */
export type ArgsOf<S extends ArgSchema> = {
  [K in keyof S as S[K]['optional'] extends false ? K : never]: ValueOf<S[K]>;
} & {
  [K in keyof S as S[K]['optional'] extends true ? K : never]?: ValueOf<S[K]>;
};

const EXPECTED: Record<ArgKind, string> = {
  str: 'string',
  bool: 'boolean',
  int: 'integer',
  any: 'any',
  'enum-list': 'array',
};

function typeError(name: string, kind: ArgKind): QmpError {
  return QmpError.generic(`Invalid parameter type for '${name}', expected: ${EXPECTED[kind]}`);
}

function checkOne(name: string, spec: ArgSpec, value: JsonValue): JsonValue | string[] {
  switch (spec.kind) {
    case 'str':
      if (typeof value !== 'string') throw typeError(name, 'str');
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw typeError(name, 'bool');
      return value;
    case 'int': {
      const n = asInt64(value);
      if (n === undefined) throw typeError(name, 'int');
      return n;
    }
    case 'any':
      return value;
    case 'enum-list': {
      if (!Array.isArray(value)) throw typeError(name, 'enum-list');
      return value.map((element, index) => {
        if (typeof element !== 'string') throw typeError(`${name}[${index}]`, 'str');
        // QEMU 10.2.2 names list elements 'null' in this message (observed).
        if (!(spec.values ?? []).includes(element)) throw QmpError.generic(`Parameter 'null' does not accept value '${element}'`);
        return element;
      });
    }
  }
}

/**
 * Check `input` against `schema`. With `open`, members outside the schema are allowed (commands
 * QEMU declares `'gen': false`, such as device_add).
 */
export function checkArgs<S extends ArgSchema>(schema: S, input: JsonObject, open = false): ArgsOf<S> {
  const out: Record<string, JsonValue | string[]> = {};
  for (const [name, spec] of Object.entries(schema)) {
    if (!hasKey(input, name)) {
      if (!spec.optional) throw QmpError.generic(`Parameter '${name}' is missing`);
      continue;
    }
    out[name] = checkOne(name, spec, input[name]);
  }
  if (!open) {
    const extra = qdictKeyOrder(Object.keys(input)).find((k) => !Object.prototype.hasOwnProperty.call(schema, k));
    if (extra !== undefined) throw QmpError.generic(`Parameter '${extra}' is unexpected`);
  }
  return out as ArgsOf<S>;
}
