/**
 * Command-line parsing for the drop-in `qemu-system-aarch64`: every argv the libqtest generations
 * produce plus the options people use by hand, with QEMU 10.2.2's error texts (checked against the
 * oracle). Options we accept but do not model produce one warning each. Pure (but for reading a
 * -readconfig file): returns a
 * LaunchOptions or throws ArgvError; the caller prints and exits.
 */
import {
  addDeviceOption,
  addObjectOption,
  applyCpuOption,
  applyNumaOption,
  applyMachineOption,
  applyMemoryOption,
  applySmpOption,
  ConfigError,
  defaultMachineConfig,
} from '../machine/config.js';
import type { MachineConfig } from '../machine/config.js';
import { isSecureSmmuGlobal } from '../machine/secure-smmu-options.js';
import { readFileSync } from 'node:fs';
import { parseReadconfig, ReadconfigError } from './readconfig.js';
import { lookup, parseBool, parseKeyVal } from '../base/keyval.js';
import { ChardevError, parseLegacyChardev, parseSocketChardev } from './chardev-address.js';
import type { ChardevAddress } from './chardev-address.js';

export interface LaunchOptions {
  machine: MachineConfig;
  /** The qtest chardev (from -qtest or -object qtest,chardev=); `spec` is the -qtest value. */
  qtest?: { address: ChardevAddress; spec: string };
  /** -qtest-log value; undefined = stderr (QEMU's default). */
  qtestLog?: string;
  /** QMP monitors (from -qmp, -mon mode=control, -object monitor-qmp); `spec` is the option that defines the socket, e.g. `-chardev socket,…`. */
  qmp: Array<{ address: ChardevAddress; spec: string }>;
  /** Other client-mode sockets that must be connected (e.g. -serial chardev:s0). */
  otherSockets: Array<{ address: ChardevAddress; spec: string }>;
  exitWithParent: boolean;
  startStopped: boolean;
  name?: string;
  warnings: string[];
  /** -version / -help / -machine help / -device help were asked for. */
  info?: 'version' | 'help' | 'machine-help' | 'device-help' | 'cpu-help';
}

export class ArgvError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** The state one parse builds up; option rows act on it. */
interface ParseState {
  out: LaunchOptions;
  machine: MachineConfig;
  chardevs: Map<string, { address: ChardevAddress; spec: string }>;
  monitorRefs: Array<{ id: string; spec: string }>;
  qtestChardevId?: string;
  qtestLegacy?: string;
  warn: (m: string) => void;
}

/** One occurrence of an option: its name as spelled (without dashes), its value, and `where` for messages. */
interface Occurrence {
  name: string;
  /** The argument (for options without one: only what `--opt=value` gave, usually undefined). */
  value: string;
  /** `-opt value` as written, for error and warning texts. */
  where: string;
}

interface OptionRow {
  names: readonly string[];
  takesArg: boolean;
  /** A machine ConfigError from this option is prefixed with `where` (QEMU locates only these). */
  locatesConfigErrors?: boolean;
  apply(st: ParseState, o: Occurrence): void;
}

const withArg = (names: string[], apply: OptionRow['apply'], locatesConfigErrors = false): OptionRow => ({
  names,
  takesArg: true,
  apply,
  locatesConfigErrors,
});
const flag = (names: string[], apply: OptionRow['apply']): OptionRow => ({ names, takesArg: false, apply });
const notModelled: OptionRow['apply'] = (st, o) => st.warn(`${o.where}: accepted but not modelled`);

/** Options that take an argument and that we accept without modelling them (one warning each). */
const IGNORED_WITH_ARG = [
  'vga',
  'monitor',
  'parallel',
  'boot',
  'k',
  'd',
  'D',
  'L',
  'bios',
  'uuid',
  'rtc',
  'icount',
  'overcommit',
  'msg',
  'sandbox',
  'pidfile',
  'drive',
  'blockdev',
  'netdev',
  'kernel',
  'initrd',
  'append',
  'dtb',
  'fw_cfg',
  'incoming',
  'action',
  'compat',
  'semihosting-config',
  'add-fd',
  'usbdevice',
  'watchdog-action',
  'mem-path',
  'plugin',
  'seed',
];
const IGNORED_FLAGS = [
  'nographic',
  'no-reboot',
  'no-shutdown',
  'enable-kvm',
  'no-user-config',
  'snapshot',
  'full-screen',
  'mem-prealloc',
  'daemonize',
  'only-migratable',
  'preconfig',
  'semihosting',
  'no-hpet',
];

/** Every option we accept, one row each; parseArgv below is the generic loop that drives them. */
const OPTIONS: readonly OptionRow[] = [
  withArg(['qtest'], (st, o) => {
    st.qtestLegacy = o.value;
  }),
  withArg(['qtest-log'], (st, o) => {
    st.out.qtestLog = o.value;
  }),
  withArg(['machine', 'M'], (st, o) => applyMachineOption(st.machine, o.value, st.warn)),
  withArg(['accel'], (st, o) => {
    const accel = parseKeyVal(o.value, 'accel').implied ?? '';
    if (accel !== 'qtest') st.warn(`${o.where}: qtestd always acts as -accel qtest`);
  }),
  withArg(['m'], (st, o) => applyMemoryOption(st.machine, o.value), true),
  withArg(['smp'], (st, o) => applySmpOption(st.machine, o.value)),
  withArg(['cpu'], (st, o) => applyCpuOption(st.machine, o.value)),
  withArg(
    ['device'],
    (st, o) => {
      if (o.value === 'help' || o.value === '?') st.out.info = 'device-help';
      else addDeviceOption(st.machine, o.value);
    },
    true,
  ),
  withArg(['chardev'], (st, o) => {
    const kv = parseKeyVal(o.value, 'backend');
    const id = lookup(kv, 'id');
    if (!id) throw new ArgvError(`${o.where}: chardev: no id specified`);
    const backend = kv.implied ?? '';
    let address: ChardevAddress;
    if (backend === 'socket') address = parseSocketChardev(kv);
    else if (backend === 'stdio') address = { kind: 'stdio' };
    else if (backend === 'null') address = { kind: 'null' };
    else throw new ArgvError(`${o.where}: '${backend}' is not a valid char driver name`);
    if (st.chardevs.has(id))
      throw new ArgvError(`${o.where}: attempt to add duplicate property '${id}' to object (type 'container')`);
    st.chardevs.set(id, { address, spec: `-chardev ${o.value}` });
  }),
  withArg(['mon'], (st, o) => {
    const kv = parseKeyVal(o.value, 'chardev');
    const id = kv.implied ?? lookup(kv, 'chardev');
    if (!id) throw new ArgvError(`${o.where}: Parameter 'chardev' is missing`);
    const mode = lookup(kv, 'mode') ?? 'readline';
    if (mode === 'control') st.monitorRefs.push({ id, spec: o.where });
    else st.warn(`${o.where}: HMP monitors are not provided; use QMP human-monitor-command`);
  }),
  withArg(['qmp', 'qmp-pretty'], (st, o) => {
    st.out.qmp.push({ address: parseLegacyChardev(o.value), spec: `-${o.name} ${o.value}` });
  }),
  withArg(['object'], (st, o) => {
    const kv = parseKeyVal(o.value, 'qom-type');
    const type = kv.implied ?? lookup(kv, 'qom-type');
    if (type === 'monitor-qmp') {
      const id = lookup(kv, 'chardev');
      if (!id) throw new ArgvError(`${o.where}: Parameter 'chardev' is missing`);
      st.monitorRefs.push({ id, spec: o.where });
    } else if (type === 'qtest') {
      if (st.qtestChardevId !== undefined) throw new ArgvError(`${o.where}: Only one instance of qtest can be created`);
      st.qtestChardevId = lookup(kv, 'chardev');
      const log = lookup(kv, 'log');
      if (log !== undefined) st.out.qtestLog = log;
    } else if (!addObjectOption(st.machine, type ?? '', kv.pairs))
      st.warn(`${o.where}: object type '${type}' is not modelled; ignored`);
  }),
  withArg(['display'], (_st, o) => {
    const t = parseKeyVal(o.value, 'type').implied ?? '';
    if (t !== 'none') throw new ArgvError(`${o.where}: Parameter 'type' does not accept value '${t}'`);
  }),
  withArg(['audio'], (st, o) => {
    const kv = parseKeyVal(o.value, 'driver');
    const d = kv.implied ?? lookup(kv, 'driver') ?? '';
    if (d !== 'none') st.warn(`${o.where}: no audio is modelled`);
  }),
  withArg(['net', 'nic'], (st, o) => {
    if (o.value === 'none') st.machine.defaultNic = false;
    else st.warn(`${o.where}: networking is not modelled; ignored`);
  }),
  flag(['nodefaults'], (st) => {
    st.machine.defaultNic = false;
  }),
  flag(['S'], (st) => {
    st.out.startStopped = true;
  }),
  withArg(['run-with'], (st, o) => {
    const kv = parseKeyVal(o.value);
    const ewp = lookup(kv, 'exit-with-parent');
    if (ewp !== undefined) {
      const b = parseBool(ewp);
      if (b === undefined) throw new ArgvError(`${o.where}: Parameter 'exit-with-parent' expects 'on' or 'off'`);
      st.out.exitWithParent = b;
    }
    for (const [k] of kv.pairs) if (k !== 'exit-with-parent') st.warn(`${o.where}: run-with ${k} is not modelled`);
  }),
  withArg(['serial'], (st, o) => {
    const value = o.value;
    if (value.startsWith('chardev:')) st.monitorRefs.push({ id: value.slice(8), spec: `serial:${o.where}` });
    else if (value !== 'none' && value !== 'null') {
      const addr = parseLegacyChardev(value);
      if (addr.kind === 'unix' || addr.kind === 'tcp')
        st.out.otherSockets.push({ address: addr, spec: `-serial ${value}` });
    }
  }),
  flag(['version'], (st) => {
    st.out.info = 'version';
  }),
  flag(['help', 'h'], (st) => {
    st.out.info = 'help';
  }),
  withArg(['name'], (st, o) => {
    st.out.name = parseKeyVal(o.value, 'guest').implied;
  }),
  withArg(['global'], (st, o) => {
    const m = /^([^.=,]+)\.([^=,]+)=(.*)$/.exec(o.value);
    if (m) st.machine.globals.push({ driver: m[1], prop: m[2], value: m[3] });
    if (!m || !isSecureSmmuGlobal(m[1], m[2])) notModelled(st, o);
  }),
  withArg(['numa'], (st, o) => applyNumaOption(st.machine, o.value), true),
  withArg(['readconfig'], (st, o) => {
    let text: string;
    try {
      text = readFileSync(o.value, 'utf8');
    } catch (e) {
      throw new ArgvError(`${o.where}: Could not open '${o.value}': ${describeFsError(e)}`);
    }
    let sections;
    try {
      sections = parseReadconfig(text, o.value);
    } catch (e) {
      if (e instanceof ReadconfigError) throw new ArgvError(e.message);
      throw e;
    }
    for (const sec of sections) {
      const row = BY_NAME.get(sec.option);
      if (!row) st.warn(`${o.where}: [${sec.option}] sections are not modelled; ignored`);
      else row.apply(st, { name: sec.option, value: sec.value, where: `-${sec.option} ${sec.value}` });
    }
  }),
  withArg(['trace'], () => {}), // accepted without a warning: libqtest generations pass it
  withArg(IGNORED_WITH_ARG, notModelled),
  flag(IGNORED_FLAGS, notModelled),
];

function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'No such file or directory';
  if (code === 'EACCES') return 'Permission denied';
  return (e as Error).message;
}

const BY_NAME = new Map<string, OptionRow>(OPTIONS.flatMap((row) => row.names.map((n) => [n, row] as const)));

export function parseArgv(argv: string[]): LaunchOptions {
  const machine = defaultMachineConfig();
  const out: LaunchOptions = {
    machine,
    qmp: [],
    otherSockets: [],
    exitWithParent: false,
    startStopped: false,
    warnings: [],
  };
  const st: ParseState = {
    out,
    machine,
    chardevs: new Map(),
    monitorRefs: [],
    warn: (m: string) => out.warnings.push(m),
  };

  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i];
    if (!raw.startsWith('-') || raw === '-') throw new ArgvError(`${raw}: invalid option`);
    let name = raw.replace(/^--?/, '');
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq > 0 && raw.startsWith('--')) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const row = BY_NAME.get(name);
    if (!row) throw new ArgvError(`${raw}: invalid option`);
    if (row.takesArg && value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new ArgvError(`${raw}: requires an argument`);
    }
    const where = `${raw} ${value ?? ''}`.trimEnd();
    try {
      // options without an argument never read `value`
      row.apply(st, { name, value: value!, where });
    } catch (e) {
      if (e instanceof ConfigError) {
        if (e.hint === 'machine-help') {
          out.info = 'machine-help';
          continue;
        }
        // QEMU prints location-free messages for machine-level errors.
        throw new ArgvError(row.locatesConfigErrors ? `${where}: ${e.message}` : e.message, e.hint);
      }
      if (e instanceof ChardevError) throw new ArgvError(`${where}: ${e.message}`);
      throw e;
    }
  }

  const { chardevs, qtestLegacy, qtestChardevId } = st;
  if (qtestLegacy !== undefined) {
    try {
      out.qtest = { address: parseLegacyChardev(qtestLegacy), spec: qtestLegacy };
    } catch {
      // QEMU reports any bad -qtest address with this one line, whatever the parser's reason
      throw new ArgvError(`Failed to initialize device for qtest: "${qtestLegacy}"`);
    }
  } else if (qtestChardevId !== undefined) {
    const c = chardevs.get(qtestChardevId);
    if (!c) throw new ArgvError(`chardev "${qtestChardevId}" not found`);
    out.qtest = c;
  }
  for (const ref of st.monitorRefs) {
    const c = chardevs.get(ref.id);
    if (!c) throw new ArgvError(`${ref.spec.replace(/^serial:/, '')}: chardev "${ref.id}" not found`);
    if (ref.spec.startsWith('serial:')) out.otherSockets.push(c);
    else out.qmp.push(c);
  }
  return out;
}
