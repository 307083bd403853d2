/** Test helpers: an in-process Session and a qtest endpoint driven without sockets. */
import { pino } from 'pino';
import { parseArgv } from '../../src/config/argv.js';
import { DEFAULT_PLUGINS } from '../../src/machine/default-plugins.js';
import { Session } from '../../src/session/session.js';
import { DEFAULT_LIMITS } from '../../src/base/limits.js';
import type { Limits } from '../../src/base/limits.js';
import type { Link } from '../../src/protocol/link.js';

export const PLAIN_VIRT = [
  '-machine',
  'virt,acpi=off,gic-version=3',
  '-cpu',
  'max',
  '-smp',
  '1',
  '-m',
  '512',
  '-net',
  'none',
];

export function makeSession(argv: string[] = PLAIN_VIRT, limits: Partial<Limits> = {}): Session {
  return new Session(parseArgv(argv).machine, {
    log: pino({ level: 'silent' }),
    plugins: DEFAULT_PLUGINS,
    limits: { ...DEFAULT_LIMITS, ...limits },
  });
}

/** A Link that records output; `accept` decides what write() returns. */
export class RecordingLink implements Link {
  out = '';
  paused = false;
  closed = false;
  accept: () => boolean = () => true;
  write(text: string): boolean {
    this.out += text;
    return this.accept();
  }
  writeBytes(data: Buffer): boolean {
    this.out += data.toString('latin1');
    return this.accept();
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  close(): void {
    this.closed = true;
  }
}

/** Run `input` through a fresh session's qtest endpoint, fed in the given chunks. */
export function runQtest(input: string | string[], argv?: string[]): string {
  const session = makeSession(argv);
  const link = new RecordingLink();
  const ep = session.attachQtest(link);
  for (const chunk of Array.isArray(input) ? input : [input]) ep.input(Buffer.from(chunk, 'latin1'));
  return link.out;
}
