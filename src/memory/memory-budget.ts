/**
 * A process's memory budget: what the sessions of one process hold — guest RAM pages (charged
 * exactly by the sparse RAM that materialises them, released when the session closes) plus bytes
 * buffered on their connections (unfinished input lines and queued replies, asked of each
 * connection when a charge is decided) — against the process's share of the service's budget.
 *
 * A charge that would pass the share throws MemoryBudgetExceeded (a LimitError: the protocol
 * endpoints answer it `FAIL …` / GenericError and the session carries on). No budget (Infinity)
 * never throws, so a machine without one behaves as QEMU.
 */
import { LimitError } from '../base/limits.js';

const MiB = 1024 * 1024;

/** Bytes as a reader wants them in a refusal: whole MiB, KiB below 1 MiB, bytes below 1 KiB. */
export function formatMiB(n: number): string {
  if (n < 1024) return `${n} bytes`;
  return n < MiB ? `${Math.ceil(n / 1024)} KiB` : `${Math.round(n / MiB)} MiB`;
}

export class MemoryBudgetExceeded extends LimitError {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryBudgetExceeded';
  }
}

/** What a MemoryBudget tells about itself (metrics, x-qtestd-* answers). */
export interface MemoryBudgetState {
  /** This process's share (bytes); Infinity = no budget. */
  share: number;
  ramBytes: number;
  bufferedBytes: number;
  /** Charges refused since the process started. */
  refusals: number;
}

export class MemoryBudget {
  private ram = 0;
  private readonly sources = new Set<() => number>();
  private refused = 0;

  /** `share`: the bytes this process may hold (Infinity: no budget); `origin`: named in refusals (`--memory-budget N`). */
  constructor(
    readonly share: number = Infinity,
    private readonly origin = '',
  ) {}

  /** Count what `bytes` reports (a connection's buffered bytes) until the returned function is called. */
  addSource(bytes: () => number): () => void {
    this.sources.add(bytes);
    return () => void this.sources.delete(bytes);
  }

  get ramBytes(): number {
    return this.ram;
  }

  bufferedBytes(): number {
    let n = 0;
    for (const s of this.sources) n += s();
    return n;
  }

  inUse(): number {
    return this.ram + this.bufferedBytes();
  }

  state(): MemoryBudgetState {
    return { share: this.share, ramBytes: this.ram, bufferedBytes: this.bufferedBytes(), refusals: this.refused };
  }

  /**
   * Why nothing more may start here, or undefined: less than `room` bytes are left of the share
   * (counted as a refusal).
   */
  refusal(room = 0): string | undefined {
    if (this.share === Infinity) return undefined;
    const used = this.inUse();
    if (used + room < this.share || (room === 0 && used < this.share)) return undefined;
    this.refused++;
    return this.describe(used);
  }

  private describe(used: number): string {
    return `${formatMiB(used)} of ${formatMiB(this.share)} in use by the sessions of this worker${this.origin ? `; ${this.origin}` : ''}`;
  }

  /** Throw MemoryBudgetExceeded if `bytes` more for `what` would pass the share. */
  check(bytes: number, what: string): void {
    if (bytes <= 0 || this.share === Infinity) return;
    const used = this.inUse();
    if (used + bytes <= this.share) return;
    this.refused++;
    throw new MemoryBudgetExceeded(
      `memory budget exceeded: ${what} (${formatMiB(bytes)}) would pass this worker's share (${this.describe(used)})`,
    );
  }

  /** Take `bytes` of guest RAM for `what`, or throw MemoryBudgetExceeded having taken nothing. */
  chargeRam(bytes: number, what: string): void {
    this.check(bytes, what);
    this.ram += Math.max(0, bytes);
  }

  releaseRam(bytes: number): void {
    this.ram = Math.max(0, this.ram - bytes);
  }

  /** An account for one session: what it charges is released at once by close(). */
  account(): MemoryAccount {
    return new MemoryAccount(this);
  }
}

/** One session's part of a MemoryBudget; after close() it charges nothing and has released all. */
export class MemoryAccount {
  private held = 0;
  private closed = false;

  constructor(private readonly budget: MemoryBudget) {}

  get ramBytes(): number {
    return this.held;
  }

  /** MemoryBudget.check: would `bytes` more (not charged: held only while a request runs) fit? */
  check(bytes: number, what: string): void {
    if (!this.closed) this.budget.check(bytes, what);
  }

  chargeRam(bytes: number, what: string): void {
    if (this.closed) return;
    this.budget.chargeRam(bytes, what);
    this.held += bytes;
  }

  releaseRam(bytes: number): void {
    if (this.closed) return;
    const n = Math.min(bytes, this.held);
    this.held -= n;
    this.budget.releaseRam(n);
  }

  close(): void {
    if (this.closed) return;
    this.budget.releaseRam(this.held);
    this.held = 0;
    this.closed = true;
  }
}
