/**
 * QEMU's memory re-entrancy guard for a device's register blocks (QEMU 10.2.2,
 * access_with_adjusted_size): while one of a device's MMIO regions is being accessed, another
 * access to any of them — the device's own DMA or MSI aimed at its BAR, from inside that access —
 * is refused with an access error: a read gives 0, a write is dropped, and the DMA that made it
 * sees the error. Accesses a device makes outside an MMIO access (edu's DMA and MSI from its timer)
 * are not guarded, as on QEMU. Without it such a loop would recurse until the stack overflows.
 *
 * QEMU prints one warning per process the first time; qtestd counts refusals (`refused`) and logs
 * them at debug level only.
 */
import type { Logger } from '../base/log.js';
import type { AccessSize, IoRegion, MemTxAttrs } from '../memory/types.js';

export class MmioGuard {
  private engaged = false;
  private justRefused = false;
  /** Accesses refused so far. */
  refused = 0;

  constructor(private readonly logger: () => Logger | undefined) {}

  /** The region with every access going through this device's guard. */
  wrap<R extends IoRegion>(region: R): R {
    const guarded = Object.create(region) as R & { takeRefusal(): boolean };
    guarded.read = (offset: bigint, size: AccessSize, attrs: MemTxAttrs): bigint => {
      if (this.engaged) return this.refuse(region, offset);
      this.engaged = true;
      try {
        return region.read(offset, size, attrs);
      } finally {
        this.engaged = false;
      }
    };
    guarded.write = (offset: bigint, size: AccessSize, value: bigint, attrs: MemTxAttrs): void => {
      if (this.engaged) {
        this.refuse(region, offset);
        return;
      }
      this.engaged = true;
      try {
        region.write(offset, size, value, attrs);
      } finally {
        this.engaged = false;
      }
    };
    guarded.takeRefusal = () => {
      const r = this.justRefused;
      this.justRefused = false;
      return r;
    };
    return guarded;
  }

  private refuse(region: IoRegion, offset: bigint): bigint {
    this.refused++;
    this.justRefused = true;
    this.logger()?.debug(
      { guestError: true },
      `Blocked re-entrant IO on MemoryRegion: ${region.name} at addr: 0x${offset.toString(16).toUpperCase()}`,
    );
    return 0n;
  }
}
