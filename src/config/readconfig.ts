/**
 * `-readconfig FILE`: QEMU's ini-style configuration file (the format of `-writeconfig` and of
 * docs/config/*.cfg): `[group]` or `[group "id"]` headers, `key = "value"` lines, `#` comments.
 * Each section becomes the command-line option it stands for (`[object]` → `-object`,
 * `[machine]` → `-machine`, `[memory]` → `-m`, `[smp-opts]` → `-smp`, `[device]`, `[numa]`,
 * `[chardev]`, `[mon]`), as a keyval string. Pure.
 */

export interface ConfigSection {
  /** The command-line option the section stands for, without the dash. */
  option: string;
  /** The option's keyval argument (`qom-type=rng-builtin,id=rng0`). */
  value: string;
  /** 1-based line of the section header (for error texts). */
  line: number;
}

/** Sections whose option takes its first key as the implied one. */
const GROUP_OPTION: Record<string, string> = {
  object: 'object',
  machine: 'machine',
  memory: 'm',
  'smp-opts': 'smp',
  device: 'device',
  numa: 'numa',
  chardev: 'chardev',
  mon: 'mon',
};

export class ReadconfigError extends Error {}

const escape = (v: string) => v.replace(/,/g, ',,');

/** Parse a config file's text; unknown groups are returned as options of their own name. */
export function parseReadconfig(text: string, file: string): ConfigSection[] {
  const out: ConfigSection[] = [];
  let current: { option: string; pairs: string[]; line: number } | undefined;
  const flush = () => {
    if (current) out.push({ option: current.option, value: current.pairs.join(','), line: current.line });
  };
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const header = /^\[([A-Za-z0-9_-]+)(?:\s+"([^"]*)")?\]$/.exec(line);
    if (header) {
      flush();
      current = { option: GROUP_OPTION[header[1]] ?? header[1], pairs: [], line: i + 1 };
      if (header[2] !== undefined) current.pairs.push(`id=${escape(header[2])}`);
      return;
    }
    const kv = /^([A-Za-z0-9_.-]+)\s*=\s*"([^"]*)"$/.exec(line);
    if (!kv || !current) throw new ReadconfigError(`${file}:${i + 1}: parse error`);
    current.pairs.push(`${kv[1]}=${escape(kv[2])}`);
  });
  flush();
  return out;
}
