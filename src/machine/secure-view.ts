/**
 * `-machine virt,secure=on` (docs/secure-smmu.md "Machine"): the Secure view is the Non-secure
 * view (system memory, at a lower priority) plus the Secure-only regions of QEMU 10.2.2's virt:
 * 16 MiB of Secure RAM at 0x0E000000, flash bank 0 (which then leaves the Non-secure view), the
 * Secure UART (pl011 at 0x09040000) and the Secure GPIO (pl061 at 0x090B0000) as stand-ins.
 * And which view a set of memory attributes selects (QEMU cpu_asidx_from_attrs).
 */
import { AddressSpace } from '../memory/address-space.js';
import type { MemoryAccount } from '../memory/memory-budget.js';
import { SparseRam } from '../memory/sparse-ram.js';
import type { BusAccess, MemTxAttrs } from '../memory/types.js';
import { BOARD_STUBS } from './board-devices.js';
import { QomNode } from './qom-tree.js';
import { VIRT_MAP } from './virt-map.js';

export const SECURE_MAP = {
  SECURE_RAM: { base: 0x0e00_0000n, size: 0x0100_0000n },
  SECURE_UART: { base: 0x0904_0000n, size: 0x1000n },
  SECURE_GPIO: { base: 0x090b_0000n, size: 0x1000n },
} as const;

/**
 * The /machine/unattached entries `secure=on` adds, at the two points of QEMU's creation order
 * where they appear (docs/secure-smmu.md "QOM with secure=on"): after UART0 the Secure UART (and
 * the Secure RAM region, which has no owner); after gpio-key the Secure GPIO and its gpio-pwr.
 */
export const SECURE_QOM = {
  afterUart(unattached: QomNode): void {
    unattached.addIndexed({ typeName: 'pl011' });
    unattached.add(new QomNode('virt.secure-ram[0]', 'memory-region'));
  },
  afterGpio(unattached: QomNode): void {
    unattached.addIndexed({ typeName: 'pl061' });
    unattached.addIndexed({ typeName: 'gpio-pwr' });
  },
};

/** Build the Secure view over `system` (the Non-secure view). */
export function buildSecureView(
  system: AddressSpace,
  maxTouchedRamBytes?: number,
  memory?: MemoryAccount,
): AddressSpace {
  const v = new AddressSpace('secure-memory');
  v.map(0n, { kind: 'alias', name: 'secure-memory-system', size: 1n << 64n, target: system, targetBase: 0n }, -1);
  v.map(
    SECURE_MAP.SECURE_RAM.base,
    new SparseRam('virt.secure-ram', SECURE_MAP.SECURE_RAM.size, maxTouchedRamBytes, memory),
  );
  v.map(VIRT_MAP.FLASH0.base, BOARD_STUBS.flash('virt.flash0', VIRT_MAP.FLASH0.size));
  v.map(SECURE_MAP.SECURE_UART.base, BOARD_STUBS.pl011());
  v.map(SECURE_MAP.SECURE_GPIO.base, BOARD_STUBS.pl061());
  return v;
}

/** Memory attributes as a qtest command gives them: `secure`, or a security space 0..3. */
export interface AccessAttrs {
  secure?: boolean;
  /** 0 Secure, 1 Non-secure, 2 Root, 3 Realm. */
  space?: number;
}

/**
 * The view and transaction attributes for `attrs`: Secure and Root (or `secure`) use the Secure
 * view, which must exist (undefined otherwise: "address space unavailable"); the others and no
 * attributes at all the Non-secure view.
 */
export function viewForAttrs(
  system: BusAccess,
  secureView: BusAccess | undefined,
  attrs: AccessAttrs | undefined,
): { view: BusAccess; attrs: MemTxAttrs } | undefined {
  if (!attrs || (attrs.secure === undefined && attrs.space === undefined)) return { view: system, attrs: {} };
  const space = attrs.space;
  const secure = attrs.secure ?? (space === 0 || space === 2);
  const tx: MemTxAttrs = space === undefined ? { secure } : { secure, space };
  if (!secure) return { view: system, attrs: tx };
  return secureView ? { view: secureView, attrs: tx } : undefined;
}
