/**
 * Where the oracle captures the QMP layer serves from live: `protocol/captures/qemu-10.2.2/qmp/`
 * of the repository (the container image ships `protocol/` next to `dist/`). Found by walking up
 * from this module, so the same code works from `src/` (tsx) and from `dist/src/`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RELATIVE = join('protocol', 'captures', 'qemu-10.2.2', 'qmp');

let found: string | undefined;

export function qmpCapturesDir(): string {
  if (found !== undefined) return found;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; ) {
    const candidate = join(dir, RELATIVE);
    if (existsSync(join(candidate, 'query-qmp-schema.reply'))) return (found = candidate);
    const up = dirname(dir);
    if (up === dir) throw new Error(`${RELATIVE}/query-qmp-schema.reply not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export function readQmpCapture(name: string): string {
  return readFileSync(join(qmpCapturesDir(), name), 'latin1');
}
