/** PCI bus/device/function packing, as QEMU's PCI_DEVFN/PCI_SLOT/PCI_FUNC and requester IDs. */

export const devfnOf = (slot: number, fn: number): number => ((slot & 0x1f) << 3) | (fn & 7);
export const slotOf = (devfn: number): number => (devfn >> 3) & 0x1f;
export const funcOf = (devfn: number): number => devfn & 7;
/** Requester ID = StreamID on virt: bus << 8 | devfn. */
export const requesterIdOf = (bus: number, devfn: number): number => ((bus & 0xff) << 8) | (devfn & 0xff);
