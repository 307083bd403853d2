/**
 * Logger type used across the machine (pino), and a silent logger for tests and embedding.
 * Machine code logs guest errors under `{ guestError: true }` and unimplemented features under
 * `{ unimp: true }`, like QEMU's LOG_GUEST_ERROR / LOG_UNIMP. Logging never writes to stdout.
 */
import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
