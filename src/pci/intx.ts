/**
 * INTx of the functions behind the host bridge: the level each function drives, its STATUS.INTERRUPT
 * bit, the INTX_DISABLE mask, and the route to the four host lines (swizzled at every bridge, then
 * virt's swizzle), several functions sharing a line through an OR gate.
 */
import { IrqOrGate } from '../sim/irq.js';
import type { IrqLine } from '../sim/irq.js';
import { PCI_CFG, PCI_COMMAND, PCI_STATUS } from './config-space.js';
import type { PciDevice } from './pci-device.js';
import type { Plugged, PciTopology } from './pci-topology.js';
import { slotOf } from './requester-id.js';

export class IntxRouter {
  private readonly gates: IrqOrGate[];

  constructor(
    lines: IrqLine[],
    private readonly topology: PciTopology,
  ) {
    this.gates = lines.map((l) => new IrqOrGate(l));
  }

  private pin(device: PciDevice): number {
    return device.config.get(PCI_CFG.INTERRUPT_PIN, 1);
  }

  /** The host line a pin (1..4) of a function reaches: swizzled at every bridge, then virt's swizzle. */
  private hostLineFor(entry: Plugged, pin: number): number {
    let irq = pin - 1;
    let e: Plugged | undefined = entry;
    while (e) {
      irq = (slotOf(e.device.devfn) + irq) % 4;
      e = this.topology.upstreamOf(e.bus);
    }
    return irq;
  }

  disabled(device: PciDevice): boolean {
    return (device.command & PCI_COMMAND.INTX_DISABLE) !== 0;
  }

  /** A function drives its pin (pci_set_irq): STATUS.INTERRUPT follows, the host line unless masked. */
  set(entry: Plugged, level: number): void {
    const lvl = level ? 1 : 0;
    if (entry.intxLevel === lvl) return;
    entry.intxLevel = lvl;
    const cfg = entry.device.config;
    const status = cfg.get(PCI_CFG.STATUS, 2);
    cfg.set(PCI_CFG.STATUS, 2, lvl ? status | PCI_STATUS.INTERRUPT : status & ~PCI_STATUS.INTERRUPT);
    if (this.disabled(entry.device) || this.pin(entry.device) === 0) return;
    this.gates[this.hostLineFor(entry, this.pin(entry.device))].set(entry, lvl);
  }

  /**
   * After a config write: a change of COMMAND.INTX_DISABLE re-drives the host lines of all four
   * pins of the function (pci_update_irq_disabled), which qtest sees even when no level changes
   * (observed on 10.2.2).
   */
  afterConfigWrite(entry: Plugged, wasDisabled: boolean): void {
    const disabled = this.disabled(entry.device);
    if (disabled === wasDisabled) return;
    for (let pin = 1; pin <= 4; pin++) {
      const gate = this.gates[this.hostLineFor(entry, pin)];
      if (pin === this.pin(entry.device)) gate.set(entry, disabled ? 0 : entry.intxLevel);
      else gate.redrive();
    }
  }
}
