#!/usr/bin/env node
/**
 * Build step after tsc (`npm run build`, `prepare`): the drop-in launcher and the warm-launch
 * daemon as one bundled file each, so a cold start reads two files instead of resolving and
 * loading ~85 ESM modules:
 *
 *   dist/bundle/qemu-system-aarch64.cjs       loader (scripts/code-cache-loader.cjs)
 *   dist/bundle/qemu-system-aarch64.code.cjs  src/cli/main.ts and everything it imports (esbuild)
 *   dist/bundle/qemu-system-aarch64.v8cache   V8 code cache, made by one training launch here
 *   dist/bundle/launch-daemon.{cjs,code.cjs,v8cache}   the same for src/cli/launch-daemon.ts
 *
 * pino stays a runtime dependency (required from node_modules): the launcher loads it only when
 * it logs. The unbundled dist/src stays what the tests import; bin/qemu-system-aarch64 and the
 * native shim prefer the bundle when it is there. A failed training run leaves no cache (the
 * first real run makes it); a failed bundle fails the build.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'bundle');
const ENTRIES = { 'qemu-system-aarch64': 'src/cli/main.ts', 'launch-daemon': 'src/cli/launch-daemon.ts' };

/**
 * `createRequire` (node:module) is how ESM code requires CommonJS (the entry points load pino on
 * first use); inside the bundle the module wrapper's own `require` does that, and loading
 * node:module would load node's ESM loader and source-map support at start-up (~0.5 ms).
 */
const wrapperRequire = {
  name: 'wrapper-require',
  setup(build) {
    build.onResolve({ filter: /^node:module$/ }, () => ({ path: 'create-require', namespace: 'qtestd' }));
    build.onLoad({ filter: /^create-require$/, namespace: 'qtestd' }, () => ({
      contents: 'export function createRequire() { return require; }',
      loader: 'js',
    }));
  },
};

/**
 * Lazy modules: a `NAME.lazy.ts` file is a module boundary the bundle initialises on first use.
 * Its whole code is `import * as ns from 'SPEC'; export const load = (): typeof ns => ns;` (with
 * any names): a plain import for tsc and the tests. Here it becomes `export const load = () =>
 * require('SPEC')`, which esbuild turns into a call of SPEC's lazy initialiser, so SPEC and what
 * only it imports run no top-level code until `load()` is first called (esbuild wraps them in
 * `__esm` initialisers). Anything else in such a file fails the build.
 */
const LAZY_MODULE = /^import \* as (\w+) from '([^']+)';\s*export const (\w+) = \(\): typeof \1 => \1;\s*$/;
const lazyModules = {
  name: 'lazy-modules',
  setup(build) {
    build.onLoad({ filter: /\.lazy\.ts$/ }, ({ path }) => {
      const code = readFileSync(path, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .trim();
      const m = LAZY_MODULE.exec(code);
      if (!m)
        return {
          errors: [
            { text: `${path}: not a lazy module (import * as ns from '…'; export const load = (): typeof ns => ns;)` },
          ],
        };
      return { contents: `export const ${m[3]} = () => require(${JSON.stringify(m[2])});`, loader: 'ts' };
    });
  },
};

async function bundle() {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch (e) {
    process.stderr.write(`qtestd: esbuild not installed (${e.message}): no bundle; the launchers use dist/src\n`);
    return false;
  }
  mkdirSync(out, { recursive: true });
  for (const name of Object.keys(ENTRIES)) rmSync(join(out, `${name}.v8cache`), { force: true });
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([n, src]) => [`${n}.code`, src])),
    outdir: out,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    charset: 'ascii', // so the loader's UTF-8 read is exact
    // Whitespace and syntax only (names stay, for stack traces): a smaller source string kept in
    // the heap for lazy compilation (545 → 387 KB), idle VmRSS -0.3 MiB.
    minifyWhitespace: true,
    minifySyntax: true,
    // The file is the function the loader compiles, so it compiles the source string as read: no
    // concatenated copy (a second source-sized string in the heap; idle VmRSS -0.8 MiB).
    // import.meta.url is made on first use (a URL of the loader's path costs ~0.5 ms at start-up).
    banner: {
      js: '(function (exports, require, module, __filename, __dirname) {var __qtestd_meta = { get url() { return (this.u ??= require("url").pathToFileURL(__filename).href); } };',
    },
    footer: { js: '\n})' },
    external: ['pino', 'pino-pretty'],
    // ESM's import.meta.url in a CommonJS bundle: the URL of the file node runs (the loader).
    // import.meta.filename: the loader's path as it is (no URL made; node 20.11+ has it natively).
    define: { 'import.meta.url': '__qtestd_meta.url', 'import.meta.filename': '__filename' },
    plugins: [wrapperRequire, lazyModules],
    logLevel: 'warning',
  });
  const loader = readFileSync(join(root, 'scripts', 'code-cache-loader.cjs'), 'utf8');
  for (const [name, src] of Object.entries(ENTRIES)) {
    const unbundled = src.replace(/^src\/cli\/(.*)\.ts$/, '$1');
    writeFileSync(join(out, `${name}.cjs`), loader.replaceAll('@@SRC@@', unbundled));
  }
  return true;
}

function waitExit(child, ms) {
  return new Promise((res) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      res(false);
    }, ms);
    child.once('exit', (code) => {
      clearTimeout(t);
      res(code === 0);
    });
  });
}

/** One launch as libqtest does it (the launcher dials our socket), a few requests, SIGTERM. */
async function trainLauncher(dir) {
  const sock = join(dir, 'q.sock');
  let replies = 0;
  const server = createServer((c) => {
    c.setEncoding('latin1');
    let buf = '';
    const requests = [
      'endianness',
      'readl 0x40001000',
      'writel 0x40001000 0x1',
      'read 0x40001000 0x10',
      'b64read 0x40001000 0x10',
      'clock_step 10',
    ];
    c.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        buf = buf.slice(i + 1);
        if (++replies < requests.length) c.write(requests[replies] + '\n');
        else child.kill('SIGTERM');
      }
    });
    c.write(requests[0] + '\n');
  });
  await new Promise((r) => server.listen(sock, r));
  const child = spawn(
    process.execPath,
    [
      join(out, 'qemu-system-aarch64.cjs'),
      '-qtest',
      `unix:${sock}`,
      '-qtest-log',
      '/dev/null',
      '-display',
      'none',
      '-machine',
      'virt,acpi=off,gic-version=3,iommu=smmuv3',
      '-cpu',
      'max',
      '-m',
      '512',
      '-net',
      'none',
      '-accel',
      'qtest',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, QTESTD_CODE_CACHE: 'on' } },
  );
  const ok = await waitExit(child, 60_000);
  server.close();
  return ok && replies > 0;
}

/** Start the daemon on a private socket, let it listen and warm up, SIGTERM. */
async function trainDaemon(dir) {
  const sock = join(dir, 'launch-train.sock');
  const child = spawn(process.execPath, [join(out, 'launch-daemon.cjs'), '--socket', sock, '--root', root], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, QTESTD_CODE_CACHE: 'on', QTESTD_DAEMON_IDLE_SECONDS: '60' },
  });
  for (let i = 0; i < 600 && !existsSync(sock) && child.exitCode === null; i++)
    await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500)); // its warm-up runs right after it listens
  child.kill('SIGTERM');
  return waitExit(child, 30_000);
}

if (await bundle()) {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-bundle-'));
  try {
    for (const [name, train] of [
      ['qemu-system-aarch64', trainLauncher],
      ['launch-daemon', trainDaemon],
    ]) {
      const ok = (await train(dir)) && existsSync(join(out, `${name}.v8cache`));
      if (!ok) process.stderr.write(`qtestd: no code cache for ${name} yet (its first run makes one)\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
