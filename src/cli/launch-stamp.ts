/** The warm-launch daemon's build stamp: what tells a running daemon that qtestd was rebuilt. */
import { statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A value that changes when the install at `root` is rebuilt: the mtimes of tsc's build info
 * (written by every build that emits), of the daemon's entry point and of its bundle
 * (scripts/bundle.mjs), looked up under the
 * install root the shim found, so the stamp follows that install even through symlinks.
 */
export function buildStamp(root: string): string {
  const parts: string[] = [];
  for (const f of [
    join(root, 'dist', '.tsbuildinfo'),
    join(root, 'dist', 'src', 'cli', 'launch-daemon.js'),
    join(root, 'dist', 'bundle', 'launch-daemon.code.cjs'),
  ]) {
    try {
      parts.push(String(statSync(f).mtimeMs));
    } catch {
      parts.push('-'); // not built that way (no incremental build info): that part never changes
    }
  }
  return parts.join(':');
}
