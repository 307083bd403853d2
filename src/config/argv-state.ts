/**
 * The state one parse of a drop-in argv builds up (config/argv.ts drives the option rows), and the
 * chardev wiring QEMU does after its option loop: backends by id, their users resolved in QEMU's
 * late-backends order, with QEMU 10.2.2's error texts. Pure.
 */
import type { TraceOptions } from '../base/trace.js';
import type { MachineConfig } from '../machine/config.js';
import { ChardevError, parseLegacyChardev } from './chardev-address.js';
import type { DeferredError, PlannedSocket, SocketRole } from './launch-plan.js';

/** A request for text instead of a launch (-version, -help, -machine help, -device X,help …). */
export type InfoRequest =
  | { what: 'version' | 'help' | 'machine-help' | 'device-help' | 'cpu-help' }
  | { what: 'machine-props'; machine: 'virt' | 'none' }
  | { what: 'device-props'; driver: string; where: string };

export interface LaunchOptions {
  machine: MachineConfig;
  /** Every backend QEMU would open at start-up, in its order (launch-plan.ts). */
  sockets: PlannedSocket[];
  /** The first error of a phase after the option loop (the launch opens what precedes it, then fails). */
  deferred?: DeferredError;
  /** -qtest-log value; undefined = stderr (QEMU's default). */
  qtestLog?: string;
  exitWithParent: boolean;
  startStopped: boolean;
  /** --preconfig: QMP only (allow-preconfig commands) until x-exit-preconfig. */
  preconfig?: boolean;
  name?: string;
  /** -trace / -D / -msg timestamp (config/trace-options.ts); undefined = no tracing asked for. */
  trace?: TraceOptions;
  warnings: string[];
  info?: InfoRequest;
}

export class ArgvError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** A use of a chardev by id, resolved after the option loop (QEMU: in the late-backends phase). */
export interface ChardevRef {
  id: string;
  role: SocketRole;
  /** The error when the id names no chardev. */
  notFound: string;
  /** Our warning once it is set up (an HMP monitor we do not provide). */
  warning?: string;
}

/** The state one parse builds up; option rows act on it. */
export interface ParseState {
  out: LaunchOptions;
  machine: MachineConfig;
  chardevs: Map<string, PlannedSocket>;
  /** -qtest: a legacy spec (opens its own socket) or `chardev:ID`. */
  qtest?: { spec: string };
  /** -object qtest,id=…,chardev=… */
  qtestObject?: ChardevRef;
  /** -mon, -qmp/-monitor chardev:ID, -object monitor-qmp: in argv order. */
  monitors: ChardevRef[];
  serials: Array<{ spec: string; where: string }>;
  /** The last -machine type given (QEMU merges -machine options). */
  machineType?: string;
  cpuHelp: boolean;
  deviceHelp?: InfoRequest;
  warn: (m: string) => void;
  defer: (e: DeferredError) => void;
}

/** Thrown by a row to stop the option loop with text to print (QEMU exits there). */
export class InfoNow {
  constructor(readonly info: InfoRequest) {}
}

/** The parts of an option value between single commas (`,,` is a literal comma). */
function rawParts(text: string): string[] {
  const parts = [''];
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== ',') parts[parts.length - 1] += text[i];
    else if (text[i + 1] === ',') parts[parts.length - 1] += text[i++];
    else parts.push('');
  }
  return parts;
}
export const isHelp = (v: string): boolean => v === 'help' || v === '?';
/** `-device edu,help`: a bare `help` / `?` after the first part (`help=on` is a property). */
export const hasHelpPart = (text: string): boolean => rawParts(text).slice(1).some(isHelp);

/** One occurrence of an option: its name as spelled (without dashes), its value, and `where` for messages. */
export interface Occurrence {
  name: string;
  /** The argument (for options without one: only what `--opt=value` gave, usually undefined). */
  value: string;
  /** `-opt value` as written, for error and warning texts. */
  where: string;
}

/** `-chardev` / `-qmp unix:…`: a backend created in the chardevs phase, in argv order. */
export function addChardev(st: ParseState, id: string, sock: PlannedSocket, where: string): void {
  if (st.chardevs.has(id)) throw new ArgvError(`${where}: Duplicate ID '${id}' for chardev`);
  st.chardevs.set(id, sock);
  sock.id = id;
  st.out.sockets.push(sock);
}

/** -qmp / -qmp-pretty / -monitor: `chardev:ID` refers to a -chardev, anything else is a legacy spec. */
export function monitorOption(st: ParseState, o: Occurrence, role: SocketRole): void {
  const id = o.value.startsWith('chardev:') ? o.value.slice(8) : `compat_monitor${st.monitors.length}`;
  if (!o.value.startsWith('chardev:')) {
    const sock: PlannedSocket = { spec: o.where, phase: 'chardevs', roles: [], failure: 'located' };
    try {
      sock.address = parseLegacyChardev(o.value);
    } catch (e) {
      if (!(e instanceof ChardevError)) throw e;
      throw new ArgvError(`parse error: ${o.value}`);
    }
    addChardev(st, id, sock, o.where);
  }
  st.monitors.push({
    id,
    role,
    notFound: `${o.where}: chardev "${id}" not found`,
    warning: role === 'qmp' ? undefined : hmpWarning(o.where),
  });
}

export const hmpWarning = (where: string): string =>
  `${where}: HMP monitors are not provided; use QMP human-monitor-command`;

/** QEMU's late-backends phase: the qtest server, `-object qtest`, monitors, serial ports, in that order. */
export function resolveLateBackends(st: ParseState): void {
  const use = (ref: ChardevRef): void => {
    const sock = st.chardevs.get(ref.id);
    if (sock) {
      sock.roles.push(ref.role);
      if (ref.warning) st.warn(ref.warning);
    } else st.defer({ phase: 'late-backends', message: ref.notFound });
  };
  if (st.qtest) {
    const spec = st.qtest.spec;
    if (spec.startsWith('chardev:'))
      use({ id: spec.slice(8), role: 'qtest', notFound: `Failed to initialize device for qtest: "${spec}"` });
    else {
      try {
        const address = parseLegacyChardev(spec);
        st.out.sockets.push({ id: 'qtest', spec, phase: 'late-backends', address, roles: ['qtest'], failure: 'qtest' });
      } catch (e) {
        if (!(e instanceof ChardevError)) throw e;
        // QEMU reports any bad -qtest address with this one line, whatever the parser's reason
        st.defer({ phase: 'late-backends', message: `Failed to initialize device for qtest: "${spec}"` });
      }
    }
  }
  if (st.qtestObject) use(st.qtestObject);
  for (const m of st.monitors) use(m);
  for (const [n, s] of st.serials.entries()) {
    const unusable = `${s.where}: could not connect serial device to character backend '${s.spec}'`;
    if (s.spec.startsWith('chardev:')) use({ id: s.spec.slice(8), role: 'other', notFound: unusable });
    else {
      try {
        const address = parseLegacyChardev(s.spec);
        st.out.sockets.push({
          id: `serial${n}`,
          spec: s.where,
          phase: 'late-backends',
          address,
          roles: ['other'],
          failure: 'serial',
        });
      } catch (e) {
        if (!(e instanceof ChardevError)) throw e;
        st.defer({ phase: 'late-backends', message: unusable });
      }
    }
  }
}
