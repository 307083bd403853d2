/**
 * Where the repository is, whether a test runs compiled (dist/tests/...) or straight from its
 * TypeScript source (tests/... under a TS loader, see `npm run test:one`): walk up from this file
 * to the directory holding the package.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'qtestd') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no qtestd package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The repository root. */
export const REPO_ROOT: string = findRepoRoot();
/** The drop-in launcher (sh → warm shim or node). */
export const QTESTD_BINARY: string = join(REPO_ROOT, 'bin', 'qemu-system-aarch64');
/** The service launcher. */
export const QTESTD_SERVICE_BINARY: string = join(REPO_ROOT, 'bin', 'qtestd');
/** The compiled tree the launchers run (tests that start processes need a build). */
export const DIST: string = join(REPO_ROOT, 'dist');
