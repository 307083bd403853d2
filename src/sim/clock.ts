/**
 * The virtual clock (QEMU_CLOCK_VIRTUAL under -accel qtest): bigint nanoseconds starting at 0,
 * moved only by clock_step/clock_set. Timers fire in deadline order during an advance, with
 * "now" set to each timer's deadline before its callback runs. No wall-clock time is read.
 */

export class VirtualTimer {
  deadlineNs: bigint | undefined;

  constructor(
    private readonly clock: VirtualClock,
    readonly callback: () => void,
  ) {}

  get armed(): boolean {
    return this.deadlineNs !== undefined;
  }

  /** Arm (or re-arm) to fire when the clock reaches `deadlineNs` (absolute). */
  armAt(deadlineNs: bigint): void {
    this.deadlineNs = deadlineNs;
    this.clock.timerChanged(this);
  }

  cancel(): void {
    this.deadlineNs = undefined;
    this.clock.timerChanged(this);
  }
}

export class VirtualClock {
  private now = 0n;
  private readonly timers = new Set<VirtualTimer>();

  get nowNs(): bigint {
    return this.now;
  }

  createTimer(callback: () => void): VirtualTimer {
    return new VirtualTimer(this, callback);
  }

  /** @internal bookkeeping from VirtualTimer. */
  timerChanged(t: VirtualTimer): void {
    if (t.armed) this.timers.add(t);
    else this.timers.delete(t);
  }

  private earliest(): VirtualTimer | undefined {
    let best: VirtualTimer | undefined;
    for (const t of this.timers) {
      if (!best || t.deadlineNs! < best.deadlineNs!) best = t;
    }
    return best;
  }

  /** Deadline of the next armed timer, or undefined when none is pending. */
  nextDeadlineNs(): bigint | undefined {
    return this.earliest()?.deadlineNs;
  }

  /** Advance to `targetNs` (must be ≥ now), firing due timers in order. */
  advanceTo(targetNs: bigint): void {
    for (;;) {
      const t = this.earliest();
      if (!t || t.deadlineNs! > targetNs) break;
      if (t.deadlineNs! > this.now) this.now = t.deadlineNs!;
      t.deadlineNs = undefined;
      this.timers.delete(t);
      t.callback();
    }
    if (targetNs > this.now) this.now = targetNs;
  }

  advanceBy(deltaNs: bigint): void {
    this.advanceTo(this.now + deltaNs);
  }
}
