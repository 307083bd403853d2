/** When in QEMU's start-up a check fails, where that differs from its option's (cli/launch-session.ts). */
export type ConfigPhase = 'machine-type' | 'machine-props';

/** A configuration error with QEMU's text (the machine layer's one error type). */
export class ConfigError extends Error {
  /** Extra lines QEMU prints after the main message. */
  constructor(
    message: string,
    readonly hint?: string,
    readonly phase?: ConfigPhase,
  ) {
    super(message);
  }
}
