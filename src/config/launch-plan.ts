/**
 * What a drop-in launch does at start-up, in QEMU 10.2.2's order, as data: the sockets it opens
 * (each in the start-up phase where QEMU opens it, with the role it serves) and the first error a
 * later phase would report. QEMU creates its `-chardev` backends (dialling libqtest's sockets)
 * before it applies machine properties, creates the qtest server, monitors and serial ports after
 * that, and checks the CPU model and devices last; an error exits 1 at its phase, so the sockets
 * opened before it see a connection and then EOF (cli/launch-session.ts runs the plan). Pure.
 */
import type { ChardevAddress } from './chardev-address.js';

/**
 * QEMU's start-up phases, in order. `options`: the option loop (nothing opened yet);
 * `machine-type`: the board is chosen; `chardevs`: the -chardev / -qmp backends are created;
 * `machine-props`: machine properties and -smp are applied; `late-backends`: the qtest server,
 * `-object qtest`, monitors and serial ports are set up; `board`: CPU model, board and -device.
 */
export const PHASES = ['options', 'machine-type', 'chardevs', 'machine-props', 'late-backends', 'board'] as const;
export type StartPhase = (typeof PHASES)[number];

export function phaseIndex(p: StartPhase): number {
  return PHASES.indexOf(p);
}

/** What a socket serves once connected. */
export type SocketRole = 'qtest' | 'qmp' | 'other';

/** One backend QEMU opens at start-up. */
export interface PlannedSocket {
  /** Its chardev id (QEMU's label: `qtest` for -qtest, `compat_monitorN`, `serialN`). */
  id?: string;
  /** The option text that names it, for messages: `-chardev socket,id=mon,fd=5`, `-qmp unix:…`. */
  spec: string;
  phase: 'chardevs' | 'late-backends';
  /** The address, or the error QEMU reports when creating it (e.g. `Unable to parse FD number x`). */
  address?: ChardevAddress;
  error?: string;
  /** Roles given by the options that use it (none: connected, input discarded). */
  roles: SocketRole[];
  /** How a failed dial is reported: the option's own location, or qtest's two-line form. */
  failure: 'located' | 'qtest' | 'serial';
}

/** An error QEMU reports later than the option loop. */
export interface DeferredError {
  phase: StartPhase;
  message: string;
  hint?: string;
}

/** The earlier of two deferred errors (the first one recorded wins a tie). */
export function earlier(a: DeferredError | undefined, b: DeferredError): DeferredError {
  return a && phaseIndex(a.phase) <= phaseIndex(b.phase) ? a : b;
}
