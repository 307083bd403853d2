/** A configuration error with QEMU's text (the machine layer's one error type). */
export class ConfigError extends Error {
  /** Extra lines QEMU prints after the main message. */
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}
