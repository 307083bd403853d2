/**
 * TEMPORARY glue until the QMP layer lands: greeting + {"return": {}} per message.
 */
import type { Socket } from 'node:net';
import type { Session } from '../session.js';

export function attachQmpMonitor(_session: Session, socket: Socket, _quit: () => void): { shutdown(reason: string): Promise<void> } {
  socket.on('error', () => {});
  socket.write('{"QMP": {"version": {"qemu": {"micro": 2, "minor": 2, "major": 10}, "package": ""}, "capabilities": ["oob"]}}\r\n');
  let depth = 0;
  socket.on('data', (b: Buffer) => {
    for (const c of b.toString('utf8')) {
      if (c === '{') depth++;
      else if (c === '}' && --depth === 0) socket.write('{"return": {}}\r\n');
    }
  });
  return { shutdown: async () => {} };
}
