// Remove compiled files whose TypeScript source is gone (a renamed or deleted file): tsc never
// deletes its old output, and a stale dist/ file would still run under tap or ship in `npm pack`.
// Looks only at tsc's own outputs (.js, .d.ts and their .map files) under dist/{src,tests,bench}.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const OUTPUT = /\.(d\.ts|js)(\.map)?$/;
let removed = 0;

function walk(dir) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (OUTPUT.test(entry.name)) {
      const source = join(root, relative(dist, path)).replace(OUTPUT, '.ts');
      if (!existsSync(source)) {
        rmSync(path);
        removed++;
      }
    }
  }
}

for (const top of ['src', 'tests', 'bench']) walk(join(dist, top));
if (removed) console.error(`prune-dist: removed ${removed} compiled file(s) whose source is gone`);
