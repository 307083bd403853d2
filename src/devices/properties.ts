/**
 * qdev property types and their parsers, with QEMU 10.2.2's error texts for both ways a value
 * arrives: as text from `-device a=b` (keyval) and as JSON from QMP `device_add`/`qom-set`.
 * Observed on the oracle (see protocol/deviations-devices.md for the few cases we refuse where
 * QEMU aborts). Does not implement QOM link/child properties or `-global`.
 */

export type PropKind =
  'uint64' | 'uint32' | 'uint16' | 'uint8' | 'int32' | 'size' | 'bool' | 'str' | 'pci-devfn' | 'busnr';
export type PropValue = bigint | number | boolean | string;

export interface PropertySchema {
  readonly name: string;
  readonly kind: PropKind;
  /** Default as `-device X,help` prints it (omitted: no "(default: …)"). */
  readonly helpDefault?: string;
  readonly description?: string;
}

export type ParseResult = { ok: true; value: PropValue } | { ok: false; error: string };

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);

const fail = (error: string): ParseResult => ({ ok: false, error });
const ok = (value: PropValue): ParseResult => ({ ok: true, value });

/**
 * C strtoull/strtoll syntax over the whole string, base 0 (leading white space, an optional sign,
 * 0x hex, 0 octal or decimal): the sign and the magnitude, or undefined when it is not one number.
 */
function cIntegerParts(text: string): { negative: boolean; magnitude: bigint } | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!m) return undefined;
  const digits = m[2];
  const magnitude = /^0[xX]/.test(digits)
    ? BigInt(digits)
    : digits.length > 1 && digits[0] === '0'
      ? BigInt('0o' + digits.slice(1))
      : BigInt(digits);
  return { negative: m[1] === '-', magnitude };
}

/** QEMU's qemu_strtou64(s, NULL, 0): C strtoull rules, whole string, negative wraps, overflow fails. */
export function parseStrtou64(text: string): bigint | undefined {
  const p = cIntegerParts(text);
  if (!p || p.magnitude > U64_MAX) return undefined;
  return p.negative ? BigInt.asUintN(64, -p.magnitude) : p.magnitude;
}

/** QEMU's qemu_strtoi64(s, NULL, 0). */
function parseStrtoi64(text: string): bigint | undefined {
  const p = cIntegerParts(text);
  if (!p) return undefined;
  const v = p.negative ? -p.magnitude : p.magnitude;
  if (v < I64_MIN || v > (1n << 63n) - 1n) return undefined;
  return v;
}

const SIZE_UNITS: Record<string, bigint> = {
  b: 1n,
  k: 1n << 10n,
  m: 1n << 20n,
  g: 1n << 30n,
  t: 1n << 40n,
  p: 1n << 50n,
  e: 1n << 60n,
};

/** QEMU's qemu_strtosz: hex, or decimal with optional fraction and B/K/M/G/T/P/E suffix (powers of 1024). */
export function parseSize(text: string): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*(?:0[xX]([0-9a-fA-F]+)|([0-9]+)(?:\.([0-9]+))?)([bBkKmMgGtTpPeE])?$/.exec(text);
  if (!m) return undefined;
  if (m[1] !== undefined && m[4] !== undefined) return undefined; // hex takes no suffix (oracle: 0x10k rejected)
  const unit = SIZE_UNITS[(m[4] ?? 'b').toLowerCase()];
  let value: bigint;
  if (m[1] !== undefined) {
    value = BigInt('0x' + m[1]) * unit;
  } else {
    value = BigInt(m[2]) * unit;
    if (m[3] !== undefined) {
      if (unit === 1n) return undefined; // a fraction of a byte
      value += (BigInt(m[3]) * unit) / 10n ** BigInt(m[3].length);
    }
  }
  return value > U64_MAX ? undefined : value;
}

const UINT_BITS = { uint32: 32, uint16: 16, uint8: 8 } as const;

const BOOL_WORDS: Record<string, boolean> = { on: true, yes: true, true: true, off: false, no: false, false: false };

/** PCI `addr` property text ("SS" or "SS.F", hex, slot ≤ 0x1f, function ≤ 7) → devfn. */
export function parsePciDevfn(text: string): number | undefined {
  const m = /^[ \t\n\v\f\r]*[+]?(?:0[xX])?([0-9a-fA-F]+)(?:\.[ \t\n\v\f\r]*[+]?(?:0[xX])?([0-9a-fA-F]+))?$/.exec(text);
  if (!m) return undefined;
  const slot = parseInt(m[1], 16);
  const fn = m[2] === undefined ? 0 : parseInt(m[2], 16);
  if (slot > 0x1f || fn > 7) return undefined;
  return (slot << 3) | fn;
}

/** Parse a `-device` option value (text), with the texts QEMU's keyval input visitor produces. */
export function parseOptionValue(typeName: string, prop: PropertySchema, text: string): ParseResult {
  const name = prop.name;
  switch (prop.kind) {
    case 'uint64': {
      const v = parseStrtou64(text);
      return v === undefined ? fail(`Parameter '${name}' expects integer`) : ok(v);
    }
    case 'uint32':
    case 'uint16':
    case 'uint8': {
      const v = parseStrtou64(text);
      if (v === undefined) return fail(`Parameter '${name}' expects integer`);
      const bits = UINT_BITS[prop.kind];
      return v >= 1n << BigInt(bits) ? fail(`Parameter '${name}' expects uint${bits}_t`) : ok(Number(v));
    }
    case 'int32': {
      const v = parseStrtoi64(text);
      if (v === undefined) return fail(`Parameter '${name}' expects integer`);
      return v < -(1n << 31n) || v >= 1n << 31n ? fail(`Parameter '${name}' expects int32_t`) : ok(Number(v));
    }
    case 'size': {
      const v = parseSize(text);
      return v === undefined ? fail(`Parameter '${name}' expects size`) : ok(v);
    }
    case 'bool': {
      const v = BOOL_WORDS[text];
      return v === undefined ? fail(`Parameter '${name}' expects 'on' or 'off'`) : ok(v);
    }
    case 'str':
      return ok(text);
    case 'pci-devfn': {
      const v = parsePciDevfn(text);
      return v === undefined ? fail(`Property '${typeName}.${name}' doesn't take value '${text}'`) : ok(v);
    }
    case 'busnr':
      return fail(`Property '${typeName}.${name}' is not writable`);
  }
}

/** A JSON integer as a bigint, or undefined for anything else (strings, fractions, booleans). */
function jsonInteger(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  return undefined;
}

/** Parse a QMP argument (JSON), with the texts QEMU's QObject input visitor produces. */
export function parseQmpValue(typeName: string, prop: PropertySchema, value: unknown): ParseResult {
  const name = prop.name;
  switch (prop.kind) {
    case 'uint64':
    case 'size':
    case 'uint32':
    case 'uint16':
    case 'uint8': {
      const v = jsonInteger(value);
      if (v === undefined || v < I64_MIN || v > U64_MAX) return fail(`Parameter '${name}' expects uint64`);
      const u = BigInt.asUintN(64, v);
      if (prop.kind === 'uint64' || prop.kind === 'size') return ok(u);
      const bits = UINT_BITS[prop.kind];
      return u >= 1n << BigInt(bits) ? fail(`Parameter '${name}' expects uint${bits}_t`) : ok(Number(u));
    }
    case 'int32': {
      if (typeof value !== 'number' && typeof value !== 'bigint')
        return fail(`Invalid parameter type for '${name}', expected: integer`);
      const v = jsonInteger(value);
      if (v === undefined || v < I64_MIN || v >= 1n << 63n) return fail(`Parameter '${name}' expects integer`);
      return v < -(1n << 31n) || v >= 1n << 31n ? fail(`Parameter '${name}' expects int32_t`) : ok(Number(v));
    }
    case 'bool':
      return typeof value === 'boolean' ? ok(value) : fail(`Invalid parameter type for '${name}', expected: boolean`);
    case 'str':
      return typeof value === 'string' ? ok(value) : fail(`Invalid parameter type for '${name}', expected: string`);
    case 'pci-devfn': {
      if (typeof value === 'string') return parseOptionValue(typeName, prop, value);
      const v = jsonInteger(value);
      if (v === undefined) return fail(`Invalid parameter type for '${name}', expected int or str`);
      return v < -1n || v > 255n ? fail(`Parameter '${name}' expects a value between -1 and 255`) : ok(Number(v));
    }
    case 'busnr':
      return fail(`Property '${typeName}.${name}' is not writable`);
  }
}

/** Type name as `-device X,help` shows it. */
const HELP_TYPE: Record<PropKind, string> = {
  uint64: 'uint64',
  uint32: 'uint32',
  uint16: 'uint16',
  uint8: 'uint8',
  int32: 'int32',
  size: 'size',
  bool: 'bool',
  str: 'str',
  'pci-devfn': 'str',
  busnr: 'busnr',
};

/** One line of `-device X,help` ("  name=<type>" padded to 22, then " - desc (default: d)"). */
export function formatPropertyHelp(prop: PropertySchema): string {
  const head = `  ${`${prop.name}=<${HELP_TYPE[prop.kind]}>`.padEnd(22)}`;
  if (prop.description === undefined && prop.helpDefault === undefined)
    return `  ${prop.name}=<${HELP_TYPE[prop.kind]}>`;
  const desc = prop.description ?? (prop.kind === 'bool' ? 'on/off' : '');
  const dflt = prop.helpDefault === undefined ? '' : ` (default: ${prop.helpDefault})`;
  return `${head} - ${desc}${dflt}`;
}
