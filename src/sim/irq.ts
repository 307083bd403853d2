/**
 * Interrupt wiring: an IrqLine is one GPIO wire with a level and listeners (QEMU qemu_irq plus
 * the qtest intercept hook). Devices own output lines and connect them to inputs (GIC SPIs).
 * `pulse()` is QEMU's qemu_irq_pulse (raise then lower), which the SMMU uses.
 */

export type IrqListener = (level: number) => void;

export class IrqLine {
  private levelValue = 0;
  private readonly listeners: IrqListener[] = [];

  constructor(readonly name: string) {}

  get level(): number {
    return this.levelValue;
  }

  /** Drive the line; listeners run on every call (as qemu_set_irq), even when the level is unchanged. */
  set(level: number): void {
    this.levelValue = level;
    for (const l of this.listeners) l(level);
  }

  raise(): void {
    this.set(1);
  }

  lower(): void {
    this.set(0);
  }

  pulse(): void {
    this.set(1);
    this.set(0);
  }

  /** Call `fn` on every set(); returns a function that removes it. */
  listen(fn: IrqListener): () => void {
    this.listeners.push(fn);
    return () => {
      const i = this.listeners.indexOf(fn);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Forward this line's level to `target` (a wire from an output to an input). */
  connectTo(target: IrqLine): void {
    this.listen((level) => target.set(level));
  }
}

/**
 * Several sources OR-ed onto one input (QEMU's PCI bus irq_count): every change of a source's
 * level drives the output with the current OR, even when the OR does not change, as
 * pci_bus_change_irq_level() does; `redrive()` drives it without a change (INTx-disable toggles).
 */
export class IrqOrGate {
  private readonly levels = new Map<object, number>();

  constructor(private readonly output: IrqLine) {}

  /** Set the level contributed by `source` and drive the output with the OR of all sources. */
  set(source: object, level: number): void {
    if (level) this.levels.set(source, 1);
    else this.levels.delete(source);
    this.redrive();
  }

  redrive(): void {
    this.output.set(this.levels.size > 0 ? 1 : 0);
  }
}
