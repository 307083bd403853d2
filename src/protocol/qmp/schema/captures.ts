/**
 * Where the oracle captures the QMP layer serves from live: `protocol/captures/qemu-10.2.2/qmp/`
 * of the repository (the container image and the npm package ship `protocol/` next to `dist/`).
 * Found by walking up from this module, so the same code works from `src/` (tsx), `dist/src/` and
 * the bundle in `dist/bundle/`.
 *
 * The files are read on first use, long after start-up; an install without them (a copy of `dist`
 * and `bin` only) would fail in the middle of a QMP session. So the launchers and the service ask
 * `qmpCapturesProblem()` before they start and refuse to run with its text.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const RELATIVE = join('protocol', 'captures', 'qemu-10.2.2', 'qmp');

/** Every capture the QMP layer reads at run time (and only these: keep in step with readQmpCapture calls). */
export const QMP_RUNTIME_CAPTURES = [
  'query-qmp-schema.reply',
  'fixed-replies.json',
  'type-properties.json',
  'query-machines.reply',
  'query-cpu-definitions.reply',
] as const;

export type QmpCaptureName = (typeof QMP_RUNTIME_CAPTURES)[number];

let found: string | undefined;
let checked = false;

function here(): string {
  return import.meta.filename; // a path without a URL round trip (start-up cost in the launcher)
}

/** The captures directory, or an Error saying where it was looked for. */
function locate(): string | Error {
  if (found !== undefined) return found;
  for (let dir = dirname(here()); ; ) {
    const candidate = join(dir, RELATIVE);
    if (existsSync(join(candidate, QMP_RUNTIME_CAPTURES[0]))) return (found = candidate);
    const up = dirname(dir);
    if (up === dir) return new Error(`${join(RELATIVE, QMP_RUNTIME_CAPTURES[0])} not found above ${here()}`);
    dir = up;
  }
}

export function qmpCapturesDir(): string {
  const dir = locate();
  if (dir instanceof Error) throw dir;
  return dir;
}

/**
 * Why the QMP layer could not serve from this install (a capture file missing), or undefined.
 * One walk and a few `stat`s the first time; nothing after a successful check.
 */
export function qmpCapturesProblem(): string | undefined {
  if (checked) return undefined;
  const dir = locate();
  if (dir instanceof Error)
    return `incomplete installation: ${dir.message} (the QMP monitor serves from these captures: install protocol/ next to dist/)`;
  const missing = QMP_RUNTIME_CAPTURES.filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0)
    return `incomplete installation: ${missing.join(', ')} missing in ${dir} (the QMP monitor serves from these captures)`;
  checked = true;
  return undefined;
}

export function readQmpCapture(name: QmpCaptureName): string {
  return readFileSync(join(qmpCapturesDir(), name), 'latin1');
}
