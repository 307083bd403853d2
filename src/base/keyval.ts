/**
 * QEMU's option-string syntax (QemuOpts): `value,key=val,flag,key=a,,b` where an initial bare
 * value is the implied key (e.g. `virt` for -machine, `edu` for -device) and `,,` is a literal
 * comma. Pure.
 */

export interface KeyVal {
  /** Value of the implied first key, if given bare. */
  implied?: string;
  /** Other pairs in order (later wins on lookup). */
  pairs: Array<[string, string]>;
}

export function parseKeyVal(text: string, impliedKey?: string): KeyVal {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === ',') {
      if (text[i + 1] === ',') {
        cur += ',';
        i++;
      } else {
        parts.push(cur);
        cur = '';
      }
    } else cur += c;
  }
  parts.push(cur);
  const out: KeyVal = { pairs: [] };
  parts.forEach((p, i) => {
    const eq = p.indexOf('=');
    if (eq < 0) {
      if (i === 0 && impliedKey !== undefined) out.implied = p;
      else if (p !== '') out.pairs.push([p, 'on']);
    } else {
      const k = p.slice(0, eq);
      const v = p.slice(eq + 1);
      if (i === 0 && impliedKey !== undefined && k === impliedKey) out.implied = v;
      else out.pairs.push([k, v]);
    }
  });
  return out;
}

export function lookup(kv: KeyVal, key: string): string | undefined {
  for (let i = kv.pairs.length - 1; i >= 0; i--) if (kv.pairs[i][0] === key) return kv.pairs[i][1];
  return undefined;
}

/** QEMU's boolean parsing (qapi_bool_parse): on/off, yes/no, true/false, y/n. */
export function parseBool(v: string): boolean | undefined {
  if (['on', 'yes', 'true', 'y'].includes(v)) return true;
  if (['off', 'no', 'false', 'n'].includes(v)) return false;
  return undefined;
}

/**
 * QEMU's size parsing (qemu_strtosz with a default suffix): decimal or 0x hex, optional
 * fractional part for decimal, suffixes B K M G T P E (case-insensitive). Returns bytes or undefined.
 */
export function parseSize(text: string, defaultSuffix: 'B' | 'M' = 'B'): bigint | undefined {
  const m = /^(0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]+)?)([bBkKmMgGtTpPeE]?)$/.exec(text);
  if (!m) return undefined;
  const unit = (m[2] || defaultSuffix).toUpperCase();
  const shift = { B: 0, K: 10, M: 20, G: 30, T: 40, P: 50, E: 60 }[unit] ?? 0;
  let bytes: bigint;
  if (m[1].startsWith('0x') || m[1].startsWith('0X')) {
    if (m[2] && unit !== 'B') return undefined; // QEMU refuses hex with a suffix
    bytes = BigInt(m[1]) << BigInt(shift);
  } else if (m[1].includes('.')) {
    const [i, f] = m[1].split('.');
    const scale = 10n ** BigInt(f.length);
    bytes = ((BigInt(i) * scale + BigInt(f)) << BigInt(shift)) / scale;
  } else bytes = BigInt(m[1]) << BigInt(shift);
  if (bytes >= 1n << 64n) return undefined;
  return bytes;
}
