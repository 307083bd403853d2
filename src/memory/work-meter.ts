/**
 * WorkMeter: one general count of the work a request makes a machine do, and its budget. Every
 * address space of the machine charges it where an access ends (a RAM copy, one dispatch to a
 * register block, an unassigned piece), and a DMA view for each translation that failed; the CPU's
 * accesses (qtest), devices' DMA and the SMMU's stream-table, page-table and queue fetches all end
 * up there. A charge is the bytes moved plus a fixed cost per access, so a request's units track
 * what it really costs (a million 4-byte register reads weigh more than one 4 MiB RAM copy). The session starts a fresh count per request; past the budget
 * (units, or wall time since the request's first access) the access throws WorkBudgetExceeded, a
 * LimitError, which the protocol endpoints answer as `FAIL …` / GenericError.
 *
 * No budget (the default) means no limit and no clock reads: only the running totals are kept.
 *
 * Long device work (a DMA, consuming a command queue) runs as a WorkJob: a generator that yields
 * between pieces. Without slicing (the default, the launcher) it runs to its end at once, as on
 * QEMU. With slicing (the service) it runs for about SLICE_UNITS (at most SLICE_MS) inside the
 * request, then stays
 * `pending`: the session holds that request's reply and the connection's later input, and calls
 * runSlice() from the event loop until the job ends, so other sessions of the process progress
 * meanwhile. Nothing of the machine is observable before the job ends.
 */
import { LimitError } from '../base/limits.js';

/** Work units charged per access on top of its bytes. */
export const ACCESS_UNITS = 64;
/** With a wall-time budget, the clock is read once per this many units. */
const CLOCK_EVERY_UNITS = 1 << 20;
/** Units a sliced job runs before it lets the event loop run (a few ms of work). */
export const SLICE_UNITS = 1 << 20;
/**
 * Wall time (ms) a slice runs at most, whatever its units: work whose units understate its cost
 * (a faulting DMA: a table walk and an event per 4-byte access) ends its slice on time too, so a
 * session sharing the process waits about one slice per busy session.
 */
export const SLICE_MS = 2;

/** Long device work in pieces (see above). */
export interface WorkJob<T> {
  /** Yields between pieces (`true`: end the slice here, for work the meter does not count); returns the result. */
  steps: Iterator<void | boolean, T>;
  /**
   * The job writes its request's reply itself, after all its side effects (a bulk read): what it
   * writes while running goes out as it comes instead of being held.
   */
  streams?: boolean;
  /** The job ended: apply its result (set the device's result register, raise its IRQ, …). */
  done(result: T): void;
  /** The job was cut short (work budget, or an internal error): leave the device in a defined state. */
  settle(): void;
}

export interface WorkBudget {
  /** Units one request may use (bytes moved + ACCESS_UNITS per access); Infinity: unbounded. */
  units: number;
  /** Wall time one request may run, in ms, from its first access; Infinity: unbounded. */
  wallMs: number;
}

export const UNBOUNDED_WORK: Readonly<WorkBudget> = Object.freeze({ units: Infinity, wallMs: Infinity });

export class WorkBudgetExceeded extends LimitError {
  constructor(message: string) {
    super(message);
    this.name = 'WorkBudgetExceeded';
  }
}

export class WorkMeter {
  /** Units charged in the current request. */
  private used = 0;
  /** Units charged before the current request (lifetime total = this + used). */
  private earlier = 0;
  /** When `used` passes this, check() runs (Infinity: never). */
  private nextCheck = Infinity;
  private deadline = Infinity;
  /** Requests that ran out of budget. */
  exceeded = 0;
  private budget: WorkBudget = UNBOUNDED_WORK;
  /** Long jobs run in slices (set by a session that drives them: runSlice). */
  slicing = false;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one job of any result type
  private job?: WorkJob<any>;
  private inSlice = false;
  /** What cut short a job in a later slice (the session answers the request with it). */
  private failure?: Error;

  /** Set (or clear, with UNBOUNDED_WORK) the per-request budget; applies from the next request. */
  setBudget(budget: WorkBudget): void {
    this.budget = budget;
    this.begin();
  }

  get limits(): Readonly<WorkBudget> {
    return this.budget;
  }

  /** A new request starts: fresh count; the wall clock starts at its first access. */
  begin(): void {
    if (this.job) return; // the request is still running (its job is pending)
    this.earlier += this.used;
    this.used = 0;
    this.deadline = Infinity;
    const { units, wallMs } = this.budget;
    this.nextCheck = wallMs !== Infinity ? 0 : units;
  }

  /** Units used by the current request, and in the meter's whole life. */
  get requestUnits(): number {
    return this.used;
  }

  get totalUnits(): number {
    return this.earlier + this.used;
  }

  /** One access of `bytes` bytes. Throws WorkBudgetExceeded past the budget. */
  charge(bytes: number): void {
    if ((this.used += bytes + ACCESS_UNITS) > this.nextCheck) this.check();
  }

  private check(): void {
    const { units, wallMs } = this.budget;
    if (this.used > units) this.fail(`more than ${units} units of work (bytes moved + ${ACCESS_UNITS} per access)`);
    if (wallMs !== Infinity) {
      const now = performance.now();
      if (this.deadline === Infinity) this.deadline = now + wallMs;
      else if (now > this.deadline) this.fail(`ran longer than ${wallMs} ms`);
      this.nextCheck = Math.min(units, this.used + CLOCK_EVERY_UNITS);
    } else this.nextCheck = units;
  }

  /** Run a job: all of it now, or (slicing) a first slice now and the rest through runSlice(). */
  run<T>(job: WorkJob<T>): void {
    // One pending job at a time: an earlier one (started by this job's caller) ends first.
    if (this.job && !this.inSlice) this.finishPending();
    if (!this.slicing || this.inSlice) {
      runAll(job);
      return;
    }
    this.job = job;
    this.slice(true);
  }

  /** A job is waiting for runSlice(). */
  get pending(): boolean {
    return this.job !== undefined;
  }

  /** The pending job writes its own reply as it goes (WorkJob.streams). */
  get pendingStreams(): boolean {
    return this.job?.streams === true;
  }

  /**
   * Run the pending job for about one slice (from the event loop). `stop`, asked after each step,
   * ends the slice early (its output is not being taken: SlicedQtest).
   */
  runSlice(stop?: () => boolean): void {
    this.slice(false, stop);
  }

  /** The error that cut the last job short in a later slice, once. */
  takeFailure(): Error | undefined {
    const f = this.failure;
    this.failure = undefined;
    return f;
  }

  /** Drop the pending job (its peer left): the device ends as when a job is cut short (settle). */
  abandon(): void {
    const job = this.job;
    this.job = undefined;
    job?.settle();
  }

  /** Run the pending job to its end now (its errors propagate). */
  finishPending(): void {
    const job = this.job;
    if (!job) return;
    this.job = undefined;
    runAll(job);
  }

  private slice(first: boolean, stop?: () => boolean): void {
    const job = this.job;
    if (!job) return;
    const until = this.used + SLICE_UNITS;
    const endAt = performance.now() + SLICE_MS;
    this.inSlice = true;
    try {
      for (;;) {
        const r = job.steps.next();
        if (r.done) {
          this.job = undefined;
          job.done(r.value);
          return;
        }
        if (this.used >= until || r.value === true || performance.now() >= endAt || stop?.()) return;
      }
    } catch (e) {
      this.job = undefined;
      job.settle();
      // Inside the request that started it, the error is the request's, as without slicing.
      if (first) throw e;
      this.failure = e instanceof Error ? e : new Error(String(e));
    } finally {
      this.inSlice = false;
    }
  }

  private fail(what: string): never {
    this.exceeded++;
    // Every further access of this request fails at once too (its device is being unwound).
    this.nextCheck = -1;
    throw new WorkBudgetExceeded(`work budget exceeded: the request ${what}`);
  }
}

/** Run a job through a machine's meter (sliced where its session allows), or at once without one. */
export function runWorkJob<T>(meter: WorkMeter | undefined, job: WorkJob<T>): void {
  if (meter) meter.run(job);
  else runAll(job);
}

function runAll<T>(job: WorkJob<T>): void {
  let r: IteratorResult<void | boolean, T>;
  try {
    while (!(r = job.steps.next()).done);
  } catch (e) {
    job.settle();
    throw e;
  }
  job.done(r.value);
}
