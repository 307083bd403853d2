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
import { isSecureSmmuGlobal } from '../machine/secure-smmu-options.js';
import { readFileSync } from 'node:fs';
import { parseReadconfig, ReadconfigError } from './readconfig.js';
import { lookup, parseBool, parseKeyVal } from '../base/keyval.js';
import { ChardevError, parseSocketChardev } from './chardev-address.js';
import {
  addChardev,
  ArgvError,
  hasHelpPart,
  hmpWarning,
  InfoNow,
  isHelp,
  monitorOption,
  resolveLateBackends,
} from './argv-state.js';
import type { LaunchOptions, Occurrence, ParseState } from './argv-state.js';
import { applyLogFileOption, applyMsgOption, applyTraceOption } from './trace-options.js';
import { ARM_CPU_MODELS } from './cpu-models.js';
import { earlier } from './launch-plan.js';
import type { PlannedSocket, SocketRole, StartPhase } from './launch-plan.js';

export { ArgvError } from './argv-state.js';
export type { InfoRequest, LaunchOptions } from './argv-state.js';

interface OptionRow {
  names: readonly string[];
  takesArg: boolean;
  /**
   * When QEMU reports a machine ConfigError from this option (unless the error names its own
   * phase): `options` = at once, located (`-m 9Z: …`); later phases unlocated, after the sockets
   * opened before them.
   */
  configPhase: StartPhase;
  apply(st: ParseState, o: Occurrence): void;
}

const withArg = (names: string[], apply: OptionRow['apply'], configPhase: StartPhase = 'machine-props'): OptionRow => ({
  names,
  takesArg: true,
  apply,
  configPhase,
});
const flag = (names: string[], apply: OptionRow['apply']): OptionRow => ({
  names,
  takesArg: false,
  apply,
  configPhase: 'machine-props',
});
const notModelled: OptionRow['apply'] = (st, o) => st.warn(`${o.where}: accepted but not modelled`);

/** Options that take an argument and that we accept without modelling them (one warning each). */
const IGNORED_WITH_ARG = [
  'parallel',
  'boot',
  'k',
  'd',
  'L',
  'bios',
  'uuid',
  'rtc',
  'icount',
  'overcommit',
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
  'semihosting',
  'no-hpet',
];

/** Every option we accept, one row each; parseArgv below is the generic loop that drives them. */
const OPTIONS: readonly OptionRow[] = [
  withArg(['qtest'], (st, o) => {
    st.qtest = { spec: o.value };
  }),
  withArg(['qtest-log'], (st, o) => {
    st.out.qtestLog = o.value;
  }),
  withArg(['machine', 'M'], (st, o) => {
    const kv = parseKeyVal(o.value, 'type');
    const type = kv.implied || lookup(kv, 'type');
    if (type) st.machineType = type;
    if ((type !== undefined && isHelp(type)) || hasHelpPart(o.value)) {
      // `-machine virt,help` lists the properties of the type chosen so far; otherwise the machines
      const t = st.machineType;
      const machine = t === 'virt' || t === 'virt-10.2' ? 'virt' : t === 'none' ? 'none' : undefined;
      throw new InfoNow(machine ? { what: 'machine-props', machine } : { what: 'machine-help' });
    }
    applyMachineOption(st.machine, o.value, st.warn);
  }),
  withArg(['accel'], (st, o) => {
    const accel = parseKeyVal(o.value, 'accel').implied ?? '';
    if (accel !== 'qtest') st.warn(`${o.where}: qtestd always acts as -accel qtest`);
  }),
  withArg(['m'], (st, o) => applyMemoryOption(st.machine, o.value), 'options'),
  withArg(['smp'], (st, o) => applySmpOption(st.machine, o.value)),
  withArg(['cpu'], (st, o) => {
    if (isHelp(o.value)) st.cpuHelp = true;
    else applyCpuOption(st.machine, o.value);
  }),
  withArg(['device'], (st, o) => {
    const kv = parseKeyVal(o.value, 'driver');
    const driver = kv.implied ?? lookup(kv, 'driver') ?? '';
    if (isHelp(driver)) st.deviceHelp ??= { what: 'device-help' };
    else if (hasHelpPart(o.value)) st.deviceHelp ??= { what: 'device-props', driver, where: o.where };
    else addDeviceOption(st.machine, o.value);
  }),
  withArg(['chardev'], (st, o) => {
    const kv = parseKeyVal(o.value, 'backend');
    const id = lookup(kv, 'id');
    if (!id) throw new ArgvError(`${o.where}: chardev: no id specified`);
    const backend = kv.implied ?? '';
    const sock: PlannedSocket = { spec: o.where, phase: 'chardevs', roles: [], failure: 'located' };
    if (backend === 'socket') {
      try {
        sock.address = parseSocketChardev(kv);
      } catch (e) {
        if (!(e instanceof ChardevError)) throw e;
        sock.error = `${o.where}: ${e.message}`; // reported when QEMU creates it, after the ones before
      }
    } else if (backend === 'stdio') sock.address = { kind: 'stdio' };
    else if (backend === 'null') sock.address = { kind: 'null' };
    else throw new ArgvError(`${o.where}: '${backend}' is not a valid char driver name`);
    addChardev(st, id, sock, o.where);
  }),
  withArg(['mon'], (st, o) => {
    const kv = parseKeyVal(o.value, 'chardev');
    const id = kv.implied ?? lookup(kv, 'chardev');
    if (!id) throw new ArgvError(`${o.where}: Parameter 'chardev' is missing`);
    const mode = lookup(kv, 'mode') ?? 'readline';
    if (mode !== 'control' && mode !== 'readline') {
      st.defer({ phase: 'late-backends', message: `${o.where}: Parameter 'mode' does not accept value '${mode}'` });
      return;
    }
    st.monitors.push({
      id,
      role: mode === 'control' ? 'qmp' : 'other',
      notFound: `${o.where}: chardev "${id}" not found`,
      warning: mode === 'control' ? undefined : hmpWarning(o.where),
    });
  }),
  withArg(['qmp', 'qmp-pretty'], (st, o) => monitorOption(st, o, 'qmp')),
  withArg(['monitor'], (st, o) => {
    if (o.value !== 'none' && o.value !== 'null') monitorOption(st, o, 'other');
  }),
  withArg(['object'], (st, o) => {
    const kv = parseKeyVal(o.value, 'qom-type');
    const type = kv.implied ?? lookup(kv, 'qom-type');
    if (type === 'monitor-qmp') {
      const id = lookup(kv, 'chardev');
      if (!id) throw new ArgvError(`${o.where}: Parameter 'chardev' is missing`);
      st.monitors.push({ id, role: 'qmp', notFound: `${o.where}: chardev "${id}" not found` });
    } else if (type === 'qtest') {
      if (lookup(kv, 'id') === undefined) throw new ArgvError(`${o.where}: Parameter 'id' is missing`);
      const id = lookup(kv, 'chardev');
      if (id === undefined) throw new ArgvError(`${o.where}: Parameter 'chardev' is missing`);
      if (st.qtestObject) throw new ArgvError(`${o.where}: Only one instance of qtest can be created`);
      st.qtestObject = { id, role: 'qtest', notFound: `Cannot find character device '${id}'` };
      const log = lookup(kv, 'log');
      if (log !== undefined) st.out.qtestLog = log;
    } else if (!addObjectOption(st.machine, type ?? '', kv.pairs))
      st.warn(`${o.where}: object type '${type}' is not modelled; ignored`);
  }),
  withArg(['display'], (_st, o) => {
    const t = parseKeyVal(o.value, 'type').implied ?? '';
    if (t !== 'none') throw new ArgvError(`${o.where}: Parameter 'type' does not accept value '${t}'`);
  }),
  withArg(['vga'], (st, o) => {
    // virt and none have no VGA: QEMU warns once the machine exists, except for `none`
    if (o.value !== 'none')
      st.warn(
        'A -vga option was passed but this machine type does not use that option; No VGA device has been created',
      );
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
  flag(['preconfig'], (st) => {
    st.out.preconfig = true;
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
    if (o.value !== 'none' && o.value !== 'null') st.serials.push({ spec: o.value, where: o.where });
  }),
  flag(['version'], () => {
    throw new InfoNow({ what: 'version' });
  }),
  flag(['help', 'h'], () => {
    throw new InfoNow({ what: 'help' });
  }),
  withArg(['name'], (st, o) => {
    st.out.name = parseKeyVal(o.value, 'guest').implied;
  }),
  withArg(['global'], (st, o) => {
    const m = /^([^.=,]+)\.([^=,]+)=(.*)$/.exec(o.value);
    if (m) st.machine.globals.push({ driver: m[1], prop: m[2], value: m[3] });
    if (!m || !isSecureSmmuGlobal(m[1], m[2])) notModelled(st, o);
  }),
  withArg(['numa'], (st, o) => applyNumaOption(st.machine, o.value)),
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
  withArg(['trace'], applyTraceOption),
  withArg(['D'], applyLogFileOption),
  withArg(['msg'], applyMsgOption),
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

/**
 * Parse a launch's argv. Errors of the option loop throw ArgvError; errors QEMU reports later
 * (after it opened some sockets) are returned in `deferred`, with the sockets in `sockets`.
 * `defaultMachine`: no -machine means `virt` (the service's sessions) instead of QEMU's error.
 */
export function parseLaunchArgv(argv: string[], { defaultMachine = false } = {}): LaunchOptions {
  const machine = defaultMachineConfig();
  const out: LaunchOptions = {
    machine,
    sockets: [],
    exitWithParent: false,
    startStopped: false,
    warnings: [],
  };
  const st: ParseState = {
    out,
    machine,
    chardevs: new Map(),
    monitors: [],
    serials: [],
    cpuHelp: false,
    warn: (m: string) => out.warnings.push(m),
    defer: (e) => (out.deferred = earlier(out.deferred, e)),
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
      if (e instanceof InfoNow) {
        out.info = e.info;
        return out;
      }
      if (e instanceof ConfigError) {
        const phase = e.phase ?? row.configPhase;
        if (phase === 'options') throw new ArgvError(`${where}: ${e.message}`, e.hint);
        st.defer({ phase, message: e.message, hint: e.hint });
        continue;
      }
      if (e instanceof ChardevError) throw new ArgvError(`${where}: ${e.message}`);
      throw e;
    }
  }
  // QEMU answers -cpu help and -device …,help before it chooses the board
  if (st.cpuHelp) out.info = { what: 'cpu-help' };
  else if (st.deviceHelp) out.info = st.deviceHelp;
  if (out.info) return out;

  if (st.machineType === undefined && !defaultMachine)
    st.defer({
      phase: 'machine-type',
      message: 'No machine specified, and there is no default',
      hint: 'Use -machine help to list supported machines',
    });
  resolveLateBackends(st);
  const cpu = machine.cpu.split(',')[0];
  if (!(ARM_CPU_MODELS as readonly string[]).includes(cpu))
    st.defer({ phase: 'board', message: `unable to find CPU model '${cpu}'` });
  return out;
}

/** parseLaunchArgv, with any deferred error thrown as ArgvError (for callers that open no sockets). */
export function parseArgv(argv: string[], options: { defaultMachine?: boolean } = {}): LaunchOptions {
  const out = parseLaunchArgv(argv, options);
  if (out.deferred && !out.info) throw new ArgvError(out.deferred.message, out.deferred.hint);
  const bad = out.sockets.find((s) => s.error !== undefined);
  if (bad && !out.info) throw new ArgvError(bad.error!);
  return out;
}

/** The socket serving `role`, if any (the first one, as QEMU has one qtest server). */
export function socketFor(opts: LaunchOptions, role: SocketRole): PlannedSocket | undefined {
  return opts.sockets.find((s) => s.roles.includes(role));
}

/** Whether the drop-in accepts option `-name` (used to list only those in --help). */
export function acceptsOption(name: string): boolean {
  return BY_NAME.has(name);
}
