/**
 * Session: one Machine and the protocol endpoints attached to it (qtest, QMP), with its limits,
 * logger and run state. Adapts the Machine to the narrow interfaces the protocols use, so that
 * protocol code never touches a device. No sockets and no process-level state: the launcher and
 * the service create sessions and hand them links.
 */
import type { MemoryAccount } from '../memory/memory-budget.js';
import type { Tracer } from '../base/trace.js';
import type { Logger } from '../base/log.js';
import { DEFAULT_LIMITS } from '../base/limits.js';
import type { Limits } from '../base/limits.js';
import { Machine } from '../machine/machine.js';
import type { MachinePlugins } from '../machine/machine.js';
import type { MachineConfig } from '../machine/config.js';
import type { QomNode } from '../machine/qom-tree.js';
import type { RunState } from '../protocol/qmp/host.js';
import type { QtestSessionState } from '../protocol/qtest/commands.js';
import { QtestEndpoint } from '../protocol/qtest/endpoint.js';
import type { QtestEndpointOptions } from '../protocol/qtest/endpoint.js';
import { TrafficTap } from './traffic-tap.js';
import type { QtestLog } from '../protocol/qtest/qtest-log.js';
import type { QtestDevice, QtestTarget } from '../protocol/qtest/target.js';
import type { Endpoint, Link } from '../protocol/link.js';
import { SessionQmpHost } from './session-qmp-host.js';
import { SlicedQtest } from './sliced-link.js';

/** Transfers up to this size are not checked: a full budget still lets sessions read and write registers and small buffers. */
const UNCHECKED_TRANSFER_BYTES = 64 * 1024;

/**
 * The memory budget's check of a sized qtest command before it runs: the bytes it will hold at
 * once besides guest RAM (its reply: `read` 2 per byte, `b64read` 4 per 3; or its decoded data:
 * `write`, `b64write`) must fit. `memset` holds none (the pages it fills are charged as RAM).
 * Small transfers are exempt; what they queue is bounded per connection by backpressure.
 */
function transferCheck(memory: MemoryAccount): (command: string, size: number) => void {
  return (command, size) => {
    if (size <= UNCHECKED_TRANSFER_BYTES || command === 'memset') return;
    const bytes = command === 'read' ? 2 * size : command === 'b64read' ? Math.ceil(size / 3) * 4 : size;
    memory.check(bytes, `${command} of ${size} bytes`);
  };
}

export interface SessionDeps {
  log: Logger;
  limits?: Limits;
  plugins: MachinePlugins;
  /** Trace events (-trace); default: all off. */
  trace?: Tracer;
  /**
   * When the peer goes away, drop the requests it sent that were not run yet (the service). By
   * default they still run, as QEMU does, and an unfinished line carries over to the next
   * connection.
   */
  dropOnDisconnect?: boolean;
  /**
   * Run long device work in slices that let the event loop run (the service, where sessions share
   * a process): the request's reply waits for its work, other sessions progress meanwhile. Implies
   * dropOnDisconnect. Default: off, work runs at once as on QEMU.
   */
  slices?: boolean;
  /** Where guest RAM pages are charged (the service's memory budget); default: nowhere, as QEMU. */
  memory?: MemoryAccount;
}

/** What a session counted (metrics, x-qtestd-smmu-state has the SMMU's own detail). */
export interface SessionStats {
  /** Work units (memory/work-meter.ts) all requests used. */
  workUnits: number;
  /** Requests that ran out of work budget. */
  workBudgetExceeded: number;
  smmuTranslations: number;
  /** Guest-caused SMMU faults and the event records they produced (logged at debug level only). */
  smmuFaults: number;
  smmuEvents: number;
}

export class Session {
  readonly machine: Machine;
  readonly limits: Limits;
  readonly log: Logger;
  private state: RunState = 'running';
  private qtestShared?: QtestSessionState;
  private readonly target: QtestTarget;
  private quitHandler: () => void = () => {};
  private readonly dropOnDisconnect: boolean;
  private readonly slices: boolean;
  private readonly memory?: MemoryAccount;
  /** Waiting for the pending job of a request to end (QMP input held meanwhile). */
  private idleWaiters: Array<() => void> = [];
  /** The QMP host shared by every monitor of this session (events reach all of them). */
  readonly qmpHost = new SessionQmpHost(this, () => this.quitHandler());
  /** Recent qtest lines for the inspector (x-qtestd-traffic); recording starts on its first read. */
  readonly traffic = new TrafficTap();

  constructor(config: MachineConfig, deps: SessionDeps) {
    this.limits = deps.limits ?? DEFAULT_LIMITS;
    this.memory = deps.memory;
    this.log = deps.log;
    this.machine = new Machine(config, {
      log: deps.log,
      limits: this.limits,
      plugins: deps.plugins,
      trace: deps.trace,
      memory: deps.memory,
    });
    // Per-request work budget (memory/work-meter.ts): unlimited by default, as on QEMU.
    // The tighter of the limits and the machine's x-qtestd-work-budget / x-qtestd-request-time.
    const bound = (a = 0, b = 0): number => Math.min(a || Infinity, b || Infinity);
    this.machine.work.setBudget({
      units: bound(this.limits.requestWorkUnits, config.requestWorkUnits),
      wallMs: bound(this.limits.requestWallMs, config.requestWallMs),
    });
    this.slices = deps.slices ?? false;
    this.dropOnDisconnect = this.slices || (deps.dropOnDisconnect ?? false);
    this.machine.work.slicing = this.slices;
    this.target = this.makeQtestTarget();
  }

  private makeQtestTarget(): QtestTarget {
    const m = this.machine;
    const deviceOf = (node: QomNode): QtestDevice => ({
      key: node,
      gpioListNames: () => [...new Set([...node.gpioIn.keys(), ...node.gpioOut.keys()])],
      gpioIn: (name) => node.gpioIn.get(name) ?? [],
      gpioOut: (name) => node.gpioOut.get(name) ?? [],
    });
    // The Secure view exists only with `-machine secure=on` (undefined otherwise). A Secure
    // attribute (secure, or space Secure/Root) picks it, anything else the Non-secure view — the
    // rule of Machine.viewFor, here as whole QtestMemory views (fill, isRam).
    const secureView = m.secureView;
    return {
      memory: m.system,
      memoryFor: (attrs) => (attrs.secure ? secureView : m.system),
      reportMemTxErrors: m.config.qtestMemTxErrors ?? false,
      // Service mode: long bulk transfers run as work jobs in slices, like device work.
      jobs: this.slices ? { run: (job) => m.work.run(job) } : undefined,
      ioPorts: m.ioPorts,
      clock: m.clock,
      bigEndian: false,
      resolveDevice: (path) => {
        const node = m.qom.resolve(path);
        if (!node || node.typeName === 'container' || !node.parent) return undefined;
        if (node === m.qom.resolve('/machine')) return undefined;
        return deviceOf(node);
      },
    };
  }

  /** Attach a qtest connection. IRQ interception state carries over between connections. */
  attachQtest(
    link: Link,
    opts: { log?: QtestLog } & Pick<QtestEndpointOptions, 'onRequest' | 'onInternalError'> = {},
  ): Endpoint {
    const work = this.machine.work;
    work.begin();
    const onRequest = opts.onRequest;
    const sliced = this.slices
      ? new SlicedQtest(link, work, this.log, () => {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const w of waiters) w();
        })
      : undefined;
    const endpoint = new QtestEndpoint({
      target: this.target,
      link: sliced?.link ?? link,
      log: opts.log,
      logger: this.log,
      maxLineBytes: this.limits.maxLineBytes,
      maxTransferBytes: this.limits.maxTransferBytes,
      beforeTransfer: this.memory && transferCheck(this.memory),
      shared: this.qtestShared,
      // Each request starts with a fresh work count (the reply of the last one was just made).
      onRequest: (kind, seconds) => {
        work.begin();
        onRequest?.(kind, seconds);
      },
      onInternalError: opts.onInternalError,
    });
    // The endpoint created the shared state if there was none; keep it for reconnections.
    this.qtestShared ??= endpoint.sharedState;
    if (sliced) {
      sliced.attach(endpoint);
      return sliced;
    }
    if (!this.dropOnDisconnect) return endpoint;
    let gone = false;
    return {
      input: (chunk) => {
        if (!gone) endpoint.input(chunk);
      },
      drained: () => {
        if (!gone) endpoint.drained();
      },
      // The peer left: what it sent but was not run yet (held back while it did not read its
      // replies) is dropped with the endpoint, not run for nobody.
      end: () => {
        gone = true;
      },
    };
  }

  /**
   * Run `fn` once no request's work is pending (at once if none is): QMP commands wait for a
   * qtest request whose device work runs in slices, so they never see it half-done.
   */
  whenIdle(fn: () => void): void {
    if (this.machine.work.pending) this.idleWaiters.push(fn);
    else fn();
  }

  /** Counters for metrics. */
  stats(): SessionStats {
    const smmu = this.machine.smmu?.counters;
    return {
      workUnits: this.machine.work.totalUnits,
      workBudgetExceeded: this.machine.work.exceeded,
      smmuTranslations: smmu?.translations ?? 0,
      smmuFaults: smmu?.faults ?? 0,
      smmuEvents: smmu?.eventsRecorded ?? 0,
    };
  }

  /** What QMP `quit` does: exit the process (launcher) or end the session (service). */
  onQuit(fn: () => void): void {
    this.quitHandler = fn;
  }

  /** `running` or `paused`; QMP's STOP/RESUME events are the QMP host's business. */
  get runState(): RunState {
    return this.state;
  }

  /** Pause the guest. Returns whether the state changed (the QMP host emits STOP only then). */
  pause(): boolean {
    if (this.state === 'paused') return false;
    this.state = 'paused';
    return true;
  }

  /** Resume the guest. Returns whether the state changed (the QMP host emits RESUME only then). */
  resume(): boolean {
    if (this.state === 'running') return false;
    this.state = 'running';
    return true;
  }

  /** system_reset. */
  reset(): void {
    this.machine.reset();
  }

  /**
   * The session ends. The machine holds no timers, sockets or files of its own (its clock is
   * virtual), so there is nothing to release but the quit hook, which may close over a transport.
   */
  dispose(): void {
    this.quitHandler = () => {};
  }
}
