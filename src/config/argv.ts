/**
 * Command-line parsing for the drop-in `qemu-system-aarch64`: every argv the libqtest generations
 * produce plus the options people use by hand, with QEMU 10.2.2's error texts (checked against the
 * oracle). Options we accept but do not model produce one warning each. Pure: returns a
 * LaunchOptions or throws ArgvError; the caller prints and exits.
 */
import {
  addDeviceOption,
  applyCpuOption,
  applyMachineOption,
  applyMemoryOption,
  applySmpOption,
  ConfigError,
  defaultMachineConfig,
} from '../machine/config.js';
import type { MachineConfig } from '../machine/config.js';
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

/** Options that take an argument and that we accept without modelling them. */
const IGNORED_WITH_ARG = new Set([
  'trace', 'name', 'vga', 'monitor', 'parallel', 'boot', 'k', 'd', 'D', 'L', 'bios', 'uuid', 'rtc',
  'global', 'icount', 'overcommit', 'msg', 'sandbox', 'pidfile', 'drive', 'blockdev', 'netdev',
  'kernel', 'initrd', 'append', 'dtb', 'fw_cfg', 'numa', 'incoming', 'action', 'compat', 'semihosting-config',
  'add-fd', 'readconfig', 'usbdevice', 'watchdog-action', 'mem-path', 'plugin', 'seed',
]);
const IGNORED_FLAGS = new Set([
  'nographic', 'no-reboot', 'no-shutdown', 'enable-kvm', 'no-user-config', 'snapshot', 'full-screen',
  'mem-prealloc', 'daemonize', 'only-migratable', 'preconfig', 'semihosting', 'no-hpet',
]);
const NO_ARG = new Set(['S', 'nodefaults', 'version', 'help', 'h', ...IGNORED_FLAGS]);
const WITH_ARG = new Set([
  'qtest', 'qtest-log', 'machine', 'M', 'accel', 'm', 'smp', 'cpu', 'device', 'chardev', 'mon', 'qmp', 'qmp-pretty',
  'object', 'display', 'audio', 'net', 'nic', 'run-with', 'serial', ...IGNORED_WITH_ARG,
]);

export function parseArgv(argv: string[]): LaunchOptions {
  const machine = defaultMachineConfig();
  const out: LaunchOptions = { machine, qmp: [], otherSockets: [], exitWithParent: false, startStopped: false, warnings: [] };
  const chardevs = new Map<string, { address: ChardevAddress; spec: string }>();
  const monitorRefs: Array<{ id: string; spec: string }> = [];
  let qtestChardevId: string | undefined;
  let qtestLegacy: string | undefined;
  const warn = (m: string) => out.warnings.push(m);

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
    if (!NO_ARG.has(name) && !WITH_ARG.has(name)) throw new ArgvError(`${raw}: invalid option`);
    const takesArg = !NO_ARG.has(name);
    if (takesArg && value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new ArgvError(`${raw}: requires an argument`);
    }
    const where = `${raw} ${value ?? ''}`.trimEnd();
    try {
      switch (name) {
        case 'qtest':
          qtestLegacy = value!;
          break;
        case 'qtest-log':
          out.qtestLog = value;
          break;
        case 'machine':
        case 'M':
          applyMachineOption(machine, value!, warn);
          break;
        case 'accel': {
          const accel = parseKeyVal(value!, 'accel').implied ?? '';
          if (accel !== 'qtest') warn(`${where}: qtestd always acts as -accel qtest`);
          break;
        }
        case 'm':
          applyMemoryOption(machine, value!);
          break;
        case 'smp':
          applySmpOption(machine, value!);
          break;
        case 'cpu':
          applyCpuOption(machine, value!);
          break;
        case 'device':
          if (value === 'help' || value === '?') out.info = 'device-help';
          else addDeviceOption(machine, value!);
          break;
        case 'chardev': {
          const kv = parseKeyVal(value!, 'backend');
          const id = lookup(kv, 'id');
          if (!id) throw new ArgvError(`${where}: chardev: no id specified`);
          const backend = kv.implied ?? '';
          let address: ChardevAddress;
          if (backend === 'socket') address = parseSocketChardev(kv);
          else if (backend === 'stdio') address = { kind: 'stdio' };
          else if (backend === 'null') address = { kind: 'null' };
          else throw new ArgvError(`${where}: '${backend}' is not a valid char driver name`);
          if (chardevs.has(id)) throw new ArgvError(`${where}: attempt to add duplicate property '${id}' to object (type 'container')`);
          chardevs.set(id, { address, spec: `-chardev ${value!}` });
          break;
        }
        case 'mon': {
          const kv = parseKeyVal(value!, 'chardev');
          const id = kv.implied ?? lookup(kv, 'chardev');
          if (!id) throw new ArgvError(`${where}: Parameter 'chardev' is missing`);
          const mode = lookup(kv, 'mode') ?? 'readline';
          if (mode === 'control') monitorRefs.push({ id, spec: where });
          else warn(`${where}: HMP monitors are not provided; use QMP human-monitor-command`);
          break;
        }
        case 'qmp':
        case 'qmp-pretty':
          out.qmp.push({ address: parseLegacyChardev(value!), spec: `-${name} ${value!}` });
          break;
        case 'object': {
          const kv = parseKeyVal(value!, 'qom-type');
          const type = kv.implied ?? lookup(kv, 'qom-type');
          if (type === 'monitor-qmp') {
            const id = lookup(kv, 'chardev');
            if (!id) throw new ArgvError(`${where}: Parameter 'chardev' is missing`);
            monitorRefs.push({ id, spec: where });
          } else if (type === 'qtest') {
            if (qtestChardevId !== undefined) throw new ArgvError(`${where}: Only one instance of qtest can be created`);
            qtestChardevId = lookup(kv, 'chardev');
            const log = lookup(kv, 'log');
            if (log !== undefined) out.qtestLog = log;
          } else warn(`${where}: object type '${type}' is not modelled; ignored`);
          break;
        }
        case 'display': {
          const t = parseKeyVal(value!, 'type').implied ?? '';
          if (t !== 'none') throw new ArgvError(`${where}: Parameter 'type' does not accept value '${t}'`);
          break;
        }
        case 'audio': {
          const kv = parseKeyVal(value!, 'driver');
          const d = kv.implied ?? lookup(kv, 'driver') ?? '';
          if (d !== 'none') warn(`${where}: no audio is modelled`);
          break;
        }
        case 'net':
        case 'nic':
          if (value === 'none') machine.defaultNic = false;
          else warn(`${where}: networking is not modelled; ignored`);
          break;
        case 'nodefaults':
          machine.defaultNic = false;
          break;
        case 'S':
          out.startStopped = true;
          break;
        case 'run-with': {
          const kv = parseKeyVal(value!);
          const ewp = lookup(kv, 'exit-with-parent');
          if (ewp !== undefined) {
            const b = parseBool(ewp);
            if (b === undefined) throw new ArgvError(`${where}: Parameter 'exit-with-parent' expects 'on' or 'off'`);
            out.exitWithParent = b;
          }
          for (const [k] of kv.pairs) if (k !== 'exit-with-parent') warn(`${where}: run-with ${k} is not modelled`);
          break;
        }
        case 'serial': {
          if (value!.startsWith('chardev:')) monitorRefs.push({ id: value!.slice(8), spec: `serial:${where}` });
          else if (value !== 'none' && value !== 'null') {
            const addr = parseLegacyChardev(value!);
            if (addr.kind === 'unix' || addr.kind === 'tcp') out.otherSockets.push({ address: addr, spec: `-serial ${value!}` });
          }
          break;
        }
        case 'version':
          out.info = 'version';
          break;
        case 'help':
        case 'h':
          out.info = 'help';
          break;
        default:
          if (IGNORED_WITH_ARG.has(name) || IGNORED_FLAGS.has(name)) {
            if (name === 'name') out.name = parseKeyVal(value!, 'guest').implied;
            else if (name !== 'trace') warn(`${where}: accepted but not modelled`);
          } else throw new ArgvError(`${raw}: invalid option`);
      }
    } catch (e) {
      if (e instanceof ConfigError) {
        if (e.hint === 'machine-help') {
          out.info = 'machine-help';
          continue;
        }
        // QEMU prints location-free messages for machine-level errors.
        const located = name === 'm' || name === 'device';
        throw new ArgvError(located ? `${where}: ${e.message}` : e.message, e.hint);
      }
      if (e instanceof ChardevError) throw new ArgvError(`${where}: ${e.message}`);
      throw e;
    }
  }

  if (qtestLegacy !== undefined) {
    try {
      out.qtest = { address: parseLegacyChardev(qtestLegacy), spec: qtestLegacy };
    } catch {
      throw new ArgvError(`Failed to initialize device for qtest: "${qtestLegacy}"`);
    }
  } else if (qtestChardevId !== undefined) {
    const c = chardevs.get(qtestChardevId);
    if (!c) throw new ArgvError(`chardev "${qtestChardevId}" not found`);
    out.qtest = c;
  }
  for (const ref of monitorRefs) {
    const c = chardevs.get(ref.id);
    if (!c) throw new ArgvError(`${ref.spec.replace(/^serial:/, '')}: chardev "${ref.id}" not found`);
    if (ref.spec.startsWith('serial:')) out.otherSockets.push(c);
    else out.qmp.push(c);
  }
  return out;
}
