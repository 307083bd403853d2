/**
 * TEMPORARY glue until the QMP layer lands: greeting + {"return": {}} per message.
 */
import type { Session } from '../session.js';
import type { Endpoint, Link } from '../transport/link.js';

export interface QmpMonitor extends Endpoint {
  /** Emit SHUTDOWN with `reason` and flush (process is about to exit). */
  shutdown(reason: string): Promise<void>;
}

export function attachQmp(_session: Session, link: Link, _quit: () => void): QmpMonitor {
  link.write('{"QMP": {"version": {"qemu": {"micro": 2, "minor": 2, "major": 10}, "package": ""}, "capabilities": ["oob"]}}\r\n');
  let depth = 0;
  return {
    input(b: Buffer) {
      for (const c of b.toString('utf8')) {
        if (c === '{') depth++;
        else if (c === '}' && --depth === 0) link.write('{"return": {}}\r\n');
      }
    },
    drained() {},
    end() {},
    shutdown: async () => {},
  };
}
