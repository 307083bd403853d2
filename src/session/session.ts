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
import type { Machine, MachinePlugins } from '../machine/machine.js';
import { buildCanFail, validateMachineConfig } from '../machine/config.js';
import { machineModule } from './machine.lazy.js';
import type { MachineConfig } from '../machine/config.js';
import type { QomNode } from '../machine/qom-tree.js';
import type { RunState } from '../protocol/qmp/host.js';
import type { QtestSessionState } from '../protocol/qtest/commands.js';
import { QtestEndpoint } from '../protocol/qtest/endpoint.js';
import type { QtestEndpointOptions } from '../protocol/qtest/endpoint.js';
import { TrafficTap } from './traffic-tap.js';
import type { QtestLog } from '../protocol/qtest/qtest-log.js';
import type { QtestDevice, QtestMemory, QtestTarget } from '../protocol/qtest/target.js';
import type { Endpoint, Link } from '../protocol/link.js';
import type { SessionQmpHost } from './session-qmp-host.js';
import { qmpHostModule } from './session-qmp-host.lazy.js';
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

/** The qtest protocol's view of a machine. */
function qtestTargetOf(m: Machine, slices: boolean): QtestTarget {
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
    jobs: slices ? { run: (job) => m.work.run(job) } : undefined,
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

/**
 * The qtest target of a session whose machine is built on first use: `endianness` answers
 * without it; anything else reaches the machine through `real()`, which builds it. Every
 * command's arguments name the plain memory view (grammar.ts), so until the machine exists that
 * is a stand-in that builds it on its first access.
 */
class LazyTarget implements QtestTarget {
  private target?: QtestTarget;
  readonly bigEndian = false;
  readonly reportMemTxErrors: boolean;
  private readonly firstMemory: QtestMemory;
  constructor(
    config: MachineConfig,
    private readonly make: () => QtestTarget,
  ) {
    this.reportMemTxErrors = config.qtestMemTxErrors ?? false;
    const mem = (): QtestMemory => this.real().memory;
    this.firstMemory = {
      readBytes: (addr, out, attrs) => mem().readBytes(addr, out, attrs),
      writeBytes: (addr, data, attrs) => mem().writeBytes(addr, data, attrs),
      fill: (addr, length, byte, attrs) => mem().fill(addr, length, byte, attrs),
      isRam: (addr, length) => mem().isRam?.(addr, length) ?? false,
      prepareRam: (addr, length) => mem().prepareRam?.(addr, length),
    };
  }
  private real(): QtestTarget {
    return (this.target ??= this.make());
  }
  get memory(): QtestMemory {
    return this.target ? this.target.memory : this.firstMemory;
  }
  memoryFor(attrs: Parameters<QtestTarget['memoryFor']>[0]): ReturnType<QtestTarget['memoryFor']> {
    return this.real().memoryFor(attrs);
  }
  get jobs(): QtestTarget['jobs'] {
    return this.real().jobs;
  }
  get ioPorts(): QtestTarget['ioPorts'] {
    return this.real().ioPorts;
  }
  get clock(): QtestTarget['clock'] {
    return this.real().clock;
  }
  resolveDevice(path: string): ReturnType<QtestTarget['resolveDevice']> {
    return this.real().resolveDevice(path);
  }
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
  /**
   * Build the Machine on first use instead of now, when building it cannot fail (no -device,
   * -object or -global: machine.ts buildCanFail) and no trace events are on: the drop-in launcher,
   * whose first reply (`endianness`) needs no machine. Default: built now.
   */
  lazyMachine?: boolean;
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
  readonly config: MachineConfig;
  readonly limits: Limits;
  readonly log: Logger;
  private state: RunState = 'running';
  private qtestShared?: QtestSessionState;
  private readonly target: QtestTarget;
  private quitHandler: () => void = () => {};
  private readonly dropOnDisconnect: boolean;
  private readonly slices: boolean;
  private readonly memory?: MemoryAccount;
  private readonly deps: SessionDeps;
  /** The machine once built (see `machine`). */
  private built?: Machine;
  /** Run once the machine is built (QMP hosts watching for device deletions). */
  private onBuilt: Array<(m: Machine) => void> = [];
  /** Waiting for the pending job of a request to end (QMP input held meanwhile). */
  private idleWaiters: Array<() => void> = [];
  /** The qtest connection's slicer (service mode), for quiesceQtest(). */
  private sliced?: SlicedQtest;
  private qmpHostMade?: SessionQmpHost;
  /** What configureQmpHost asked for before the host was made. */
  private qmpHostSetup: Array<(h: SessionQmpHost) => void> = [];
  /** Recent qtest lines for the inspector (x-qtestd-traffic); recording starts on its first read. */
  readonly traffic = new TrafficTap();

  constructor(config: MachineConfig, deps: SessionDeps) {
    this.config = config;
    this.limits = deps.limits ?? DEFAULT_LIMITS;
    this.memory = deps.memory;
    this.log = deps.log;
    this.deps = deps;
    this.slices = deps.slices ?? false;
    this.dropOnDisconnect = this.slices || (deps.dropOnDisconnect ?? false);
    // A lazy machine's config errors are the ones validation finds (reported now, as at start).
    if (deps.lazyMachine && !this.slices && !deps.trace && !buildCanFail(config)) validateMachineConfig(config);
    else this.build();
    this.target = this.built
      ? qtestTargetOf(this.built, this.slices)
      : new LazyTarget(config, () => qtestTargetOf(this.machine, this.slices));
  }

  /**
   * The QMP host shared by every monitor of this session (events reach all of them); made on
   * first use (a monitor's first command or an event), so a launch's first qtest reply does not
   * wait for the QMP layer.
   */
  get qmpHost(): SessionQmpHost {
    if (this.qmpHostMade) return this.qmpHostMade;
    const h = new (qmpHostModule().SessionQmpHost)(this, () => this.quitHandler());
    this.qmpHostMade = h;
    for (const fn of this.qmpHostSetup.splice(0)) fn(h);
    return h;
  }

  /** The QMP host if something made it (see `qmpHost`). */
  get qmpHostIfMade(): SessionQmpHost | undefined {
    return this.qmpHostMade;
  }

  /** Run `fn` with the QMP host once it is made (now, if it is); does not make it. */
  configureQmpHost(fn: (h: SessionQmpHost) => void): void {
    if (this.qmpHostMade) fn(this.qmpHostMade);
    else this.qmpHostSetup.push(fn);
  }

  /** The machine: built on first use when the session was made with `lazyMachine`. */
  get machine(): Machine {
    return this.built ?? this.build();
  }

  /** Run `fn` with the machine once it is built (now, if it is); does not build it. */
  whenBuilt(fn: (m: Machine) => void): void {
    if (this.built) fn(this.built);
    else this.onBuilt.push(fn);
  }

  private build(): Machine {
    const deps = this.deps;
    const m = new (machineModule().Machine)(this.config, {
      log: deps.log,
      limits: this.limits,
      plugins: deps.plugins,
      trace: deps.trace,
      memory: deps.memory,
    });
    // Per-request work budget (memory/work-meter.ts): unlimited by default, as on QEMU.
    // The tighter of the limits and the machine's x-qtestd-work-budget / x-qtestd-request-time.
    const bound = (a = 0, b = 0): number => Math.min(a || Infinity, b || Infinity);
    m.work.setBudget({
      units: bound(this.limits.requestWorkUnits, this.config.requestWorkUnits),
      wallMs: bound(this.limits.requestWallMs, this.config.requestWallMs),
    });
    m.work.slicing = this.slices;
    this.built = m;
    const hooks = this.onBuilt;
    this.onBuilt = [];
    for (const fn of hooks) fn(m);
    return m;
  }

  /** Whether a request's device work is still running in slices (never before the machine exists). */
  get workPending(): boolean {
    return this.built?.work.pending ?? false;
  }

  /** Attach a qtest connection. IRQ interception state carries over between connections. */
  attachQtest(
    link: Link,
    opts: { log?: QtestLog } & Pick<QtestEndpointOptions, 'onRequest' | 'onInternalError'> = {},
  ): Endpoint {
    // A machine built later starts with a fresh work count, as begin() gives.
    this.built?.work.begin();
    const sliced = this.slices
      ? new SlicedQtest(link, this.machine.work, this.log, () => {
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
      afterRequest: () => this.built?.work.begin(),
      // the endpoint reads the clock only for this (the service's metrics)
      onRequest: opts.onRequest,
      onInternalError: opts.onInternalError,
    });
    // The endpoint created the shared state if there was none; keep it for reconnections.
    this.qtestShared ??= endpoint.sharedState;
    if (sliced) {
      sliced.attach(endpoint);
      this.sliced = sliced;
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
  /**
   * The qtest connection is being shut down (service): run nothing more it sent, and call `done`
   * once the request in flight, if any, has its whole reply out (SlicedQtest.quiesce).
   */
  quiesceQtest(done: () => void): void {
    if (this.sliced) this.sliced.quiesce(done);
    else done();
  }

  whenIdle(fn: () => void): void {
    if (this.workPending) this.idleWaiters.push(fn);
    else fn();
  }

  /** Counters for metrics. */
  stats(): SessionStats {
    const m = this.built;
    const smmu = m?.smmu?.counters;
    return {
      workUnits: m?.work.totalUnits ?? 0,
      workBudgetExceeded: m?.work.exceeded ?? 0,
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
    // its qtest connection runs nothing more (a job in slices is dropped, a shutdown waiting for it goes on)
    this.sliced?.end();
  }
}
