#!/usr/bin/env node
// Over 400 lines: one build step (the two-part launcher bundle, the daemon bundle, the training launches that make their code caches).
/**
 * Build step after tsc (`npm run build`, `prepare`): the drop-in launcher and the warm-launch
 * daemon bundled, so a cold start reads a few files instead of resolving and loading ~150 ESM
 * modules:
 *
 *   dist/bundle/qemu-system-aarch64.cjs            loader (scripts/code-cache-loader.cjs)
 *   dist/bundle/qemu-system-aarch64.code.cjs       src/cli/main.ts and what it imports without a
 *                                                  lazy boundary: what the first reply needs (esbuild)
 *   dist/bundle/qemu-system-aarch64.lazy.code.cjs  the modules behind lazy boundaries, loaded on
 *                                                  the first call through one (bundleTwoParts)
 *   dist/bundle/qemu-system-aarch64{,.lazy}.v8cache  V8 code caches, made by one training launch here
 *   dist/bundle/qemu-system-aarch64.parts.json     each part's modules and their bytes (not loaded)
 *   dist/bundle/launch-daemon.{cjs,code.cjs,v8cache}   src/cli/launch-daemon.ts, one file
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
import { dirname, join, relative, resolve, sep } from 'node:path';
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
 * any names): a plain import for tsc and the tests. Anything else in such a file fails the build.
 * `rewrite(name, spec, path)` gives the JavaScript the file becomes.
 */
const LAZY_MODULE = /^import \* as (\w+) from '([^']+)';\s*export const (\w+) = \(\): typeof \1 => \1;\s*$/;
function lazyModules(rewrite) {
  return {
    name: 'lazy-modules',
    setup(build) {
      build.onLoad({ filter: /\.lazy\.ts$/ }, async ({ path }) => {
        const code = readFileSync(path, 'utf8')
          .replace(/\/\*[\s\S]*?\*\//g, '')
          .trim();
        const m = LAZY_MODULE.exec(code);
        if (!m)
          return {
            errors: [
              {
                text: `${path}: not a lazy module (import * as ns from '…'; export const load = (): typeof ns => ns;)`,
              },
            ],
          };
        return { contents: await rewrite(m[3], m[2], path, build), loader: 'js' };
      });
    },
  };
}

/** In one file: `require(SPEC)`, which esbuild turns into a call of SPEC's lazy initialiser. */
const lazyInOneFile = lazyModules((name, spec) => `export const ${name} = () => require(${JSON.stringify(spec)});`);

/** A module's key in the registry the two parts share: its path from the repository root. */
const keyOf = (path) => relative(root, path).split(sep).join('/');

const COMMON = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  charset: 'ascii', // so the loader's UTF-8 read is exact
  // Whitespace and syntax only (names stay, for stack traces): a smaller source string kept in
  // the heap for lazy compilation (545 → 387 KB), idle VmRSS -0.3 MiB.
  minifyWhitespace: true,
  minifySyntax: true,
  external: ['pino', 'pino-pretty'],
  // ESM's import.meta.url in a CommonJS bundle: the URL of the file node runs (the loader).
  // import.meta.filename: the loader's path as it is (no URL made; node 20.11+ has it natively).
  define: { 'import.meta.url': '__qtestd_meta.url', 'import.meta.filename': '__filename' },
  logLevel: 'warning',
};

/**
 * The file is the function the loader compiles, so it compiles the source string as read: no
 * concatenated copy (a second source-sized string in the heap; idle VmRSS -0.8 MiB).
 * import.meta.url is made on first use (a URL of the loader's path costs ~0.5 ms at start-up).
 * `extra`: parameters after the module wrapper's (the first part gets the loader's part loader).
 */
const wrapper = (extra = '') => ({
  banner: {
    js: `(function (exports, require, module, __filename, __dirname${extra}) {var __qtestd_meta = { get url() { return (this.u ??= require("url").pathToFileURL(__filename).href); } };`,
  },
  footer: { js: '\n})' },
});

/** The daemon (it starts once): one file, its lazy modules initialised on first use. */
async function bundleOneFile(esbuild, name, src) {
  await esbuild.build({
    ...COMMON,
    ...wrapper(),
    entryPoints: { [`${name}.code`]: src },
    outdir: out,
    outExtension: { '.js': '.cjs' },
    plugins: [wrapperRequire, lazyInOneFile],
  });
}

/**
 * The launcher in two parts, so a cold launch reads, deserialises and initialises only what its
 * first reply needs:
 *   NAME.code.cjs       what runs without crossing a lazy boundary (all of it initialised at start)
 *   NAME.lazy.code.cjs  the modules behind lazy boundaries, read and compiled (with its own code
 *                       cache, NAME.lazy.v8cache) on the first call through one of them
 * One module registry: no module is in both parts. The second part's imports of first-part
 * modules are external (`qtestd-shared:KEY`); the `require` it is run with hands it the first
 * part's own namespace objects for those (live bindings: esbuild's namespace getters), so a class
 * or a singleton of the first part is the same object in both. Inside the second part a lazy
 * boundary is esbuild's lazy initialiser, as in one file. Writes NAME.parts.json (the modules of
 * each part; the build fails if a module would be in both).
 */
async function bundleTwoParts(esbuild, name, src) {
  const entry = join(root, src);
  // 1. What the first part holds: everything reachable from the entry without a lazy boundary.
  const targets = new Map(); // key of a lazy boundary's module → its absolute path
  const resolveLazy = async (spec, path, build) => {
    const r = await build.resolve(spec, { kind: 'require-call', resolveDir: dirname(path) });
    if (r.errors.length) throw new Error(`${path}: ${r.errors[0].text}`);
    targets.set(keyOf(r.path), r.path);
    return keyOf(r.path);
  };
  const eager = await esbuild.build({
    ...COMMON,
    entryPoints: [entry],
    write: false,
    metafile: true,
    plugins: [
      wrapperRequire,
      lazyModules(
        async (n, spec, path, build) =>
          `export const ${n} = () => ${JSON.stringify(await resolveLazy(spec, path, build))};`,
      ),
    ],
  });
  const first = new Set(Object.keys(eager.metafile.inputs).filter((k) => !k.includes(':')));

  // 2. The second part: a map from each boundary's key to its lazy initialiser; first-part modules external.
  const lazyEntry = [...targets].map(([k, p]) => `${JSON.stringify(k)}: () => require(${JSON.stringify(p)})`);
  const shareFirstPart = {
    name: 'share-first-part',
    setup(build) {
      build.onResolve({ filter: /^qtestd:lazy-entry$/ }, () => ({ path: 'lazy-entry', namespace: 'qtestd' }));
      build.onLoad({ filter: /^lazy-entry$/, namespace: 'qtestd' }, () => ({
        contents: `export const modules = {${lazyEntry.join(',')}};`,
        resolveDir: root,
        loader: 'js',
      }));
      build.onResolve({ filter: /^[./]/ }, async (args) => {
        if (args.pluginData === 'inner') return undefined;
        const { pluginData, path, ...how } = args;
        const r = await build.resolve(path, { ...how, pluginData: 'inner' });
        if (r.errors.length) return { errors: r.errors };
        return first.has(keyOf(r.path)) ? { path: `qtestd-shared:${keyOf(r.path)}`, external: true } : r;
      });
    },
  };
  const second = await esbuild.build({
    ...COMMON,
    ...wrapper(),
    entryPoints: { [`${name}.lazy.code`]: 'qtestd:lazy-entry' },
    outdir: out,
    outExtension: { '.js': '.cjs' },
    metafile: true,
    plugins: [wrapperRequire, shareFirstPart, lazyInOneFile],
  });
  const secondInputs = Object.keys(second.metafile.inputs).filter((k) => !k.includes(':'));
  const both = secondInputs.filter((k) => first.has(k));
  if (both.length) throw new Error(`bundle: modules in both parts of ${name}: ${both.join(', ')}`);
  const shared = new Set();
  for (const o of Object.values(second.metafile.outputs))
    for (const i of o.imports)
      if (i.path.startsWith('qtestd-shared:')) shared.add(i.path.slice('qtestd-shared:'.length));

  // 3. The first part: the entry, then a registry of the first-part modules the second imports.
  //    The registry is a function declaration (hoisted), so it answers even while the entry's
  //    top-level code runs; a boundary loads the second part through the loader's part loader.
  const sharedList = [...shared].sort();
  const registry = [
    `import ${JSON.stringify(entry)};`,
    ...sharedList.map((k, i) => `import * as m${i} from ${JSON.stringify(join(root, k))};`),
    'let byKey;',
    'export function sharedModule(key) {',
    `  byKey ??= {${sharedList.map((k, i) => `${JSON.stringify(k)}: m${i}`).join(', ')}};`,
    '  const ns = byKey[key];',
    "  if (ns === undefined) throw new Error('qtestd bundle: ' + key + ' is not in the first part');",
    "  if (!ns.__esModule) Object.defineProperty(ns, '__esModule', { value: true });",
    '  return ns;',
    '}',
  ].join('\n');
  const runtime = [
    "import { sharedModule } from 'qtestd:first-entry';",
    'let part;',
    'export function loadLazy(key) {',
    "  part ??= __qtestd_loadPart((id) => (id.startsWith('qtestd-shared:') ? sharedModule(id.slice(14)) : require(id))).modules;",
    '  return part[key]();',
    '}',
  ].join('\n');
  const virtual = {
    name: 'first-part',
    setup(build) {
      build.onResolve({ filter: /^qtestd:(first-entry|lazy-runtime)$/ }, ({ path }) => ({
        path: path.slice(7),
        namespace: 'qtestd',
      }));
      build.onLoad({ filter: /^(first-entry|lazy-runtime)$/, namespace: 'qtestd' }, ({ path }) => ({
        contents: path === 'first-entry' ? registry : runtime,
        resolveDir: root,
        loader: 'js',
      }));
    },
  };
  const firstBuild = await esbuild.build({
    ...COMMON,
    ...wrapper(', __qtestd_loadPart'),
    entryPoints: { [`${name}.code`]: 'qtestd:first-entry' },
    outdir: out,
    outExtension: { '.js': '.cjs' },
    metafile: true,
    plugins: [
      wrapperRequire,
      virtual,
      lazyModules(async (n, spec, path, build) => {
        const key = await resolveLazy(spec, path, build);
        return `import { loadLazy } from 'qtestd:lazy-runtime';\nexport const ${n} = () => loadLazy(${JSON.stringify(key)});`;
      }),
    ],
  });
  const firstInputs = Object.keys(firstBuild.metafile.inputs).filter((k) => !k.includes(':'));
  const moved = firstInputs.filter((k) => !first.has(k));
  if (moved.length) throw new Error(`bundle: the first part of ${name} changed between passes: ${moved.join(', ')}`);
  // Each part's modules with the bytes each puts in its file.
  const sizes = (build) => {
    const o = Object.values(build.metafile.outputs).find((x) => x.entryPoint !== undefined);
    const rows = Object.entries(o.inputs).filter(([k]) => !k.includes(':'));
    return Object.fromEntries(rows.sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, v.bytesInOutput]));
  };
  writeFileSync(
    join(out, `${name}.parts.json`),
    JSON.stringify({ first: sizes(firstBuild), second: sizes(second), shared: sharedList }, null, 1) + '\n',
  );
}

async function bundle() {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch (e) {
    process.stderr.write(`qtestd: esbuild not installed (${e.message}): no bundle; the launchers use dist/src\n`);
    return false;
  }
  mkdirSync(out, { recursive: true });
  for (const name of Object.keys(ENTRIES))
    for (const f of ['v8cache', 'lazy.v8cache']) rmSync(join(out, `${name}.${f}`), { force: true });
  await bundleTwoParts(esbuild, 'qemu-system-aarch64', ENTRIES['qemu-system-aarch64']);
  await bundleOneFile(esbuild, 'launch-daemon', ENTRIES['launch-daemon']);
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

/** Lines arriving on `c` (latin1), one callback each. */
function onLines(c, each) {
  let buf = '';
  c.setEncoding('latin1');
  c.on('data', (d) => {
    buf += d;
    for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) each(buf.slice(0, i));
  });
}

/**
 * One launch as libqtest does it (the launcher dials our qtest socket and QMP chardev; the first
 * reply, the QMP handshake, a few requests, a QMP query), SIGTERM. What runs here is what the code
 * caches of both parts hold compiled.
 */
async function trainLauncher(dir) {
  const sock = join(dir, 'q.sock');
  const qmpSock = join(dir, 'q.qmp');
  const requests = [
    'endianness',
    'readl 0x40001000',
    'writel 0x40001000 0x1',
    'read 0x40001000 0x10',
    'b64read 0x40001000 0x10',
    'clock_step 10',
  ];
  let replies = 0;
  let child;
  let qtest;
  let qmp;
  // libqtest's order: `endianness` answered, then the greeting, qmp_capabilities; then the test.
  const qmpStep = () => {
    if (!qtest || !qmp || replies !== 1) return;
    const answers = [];
    onLines(qmp, (line) => {
      if (!line.startsWith('{"return"')) return; // the greeting, events
      answers.push(line);
      if (answers.length === 1) qmp.write('{"execute": "query-status"}\n');
      else qtest.write(requests[replies] + '\n');
    });
    qmp.write('{"execute": "qmp_capabilities"}\n');
  };
  const qtestServer = createServer((c) => {
    qtest = c;
    onLines(c, () => {
      if (++replies === 1) qmpStep();
      else if (replies < requests.length) c.write(requests[replies] + '\n');
      else child.kill('SIGTERM');
    });
    c.write(requests[0] + '\n');
  });
  const qmpServer = createServer((c) => {
    qmp = c;
    qmpStep();
  });
  await Promise.all([qtestServer, qmpServer].map((s, i) => new Promise((r) => s.listen([sock, qmpSock][i], r))));
  child = spawn(
    process.execPath,
    [
      join(out, 'qemu-system-aarch64.cjs'),
      '-qtest',
      `unix:${sock}`,
      '-qtest-log',
      '/dev/null',
      '-chardev',
      `socket,path=${qmpSock},id=char0`,
      '-mon',
      'chardev=char0,mode=control',
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
  qtestServer.close();
  qmpServer.close();
  return ok && replies === requests.length;
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
      const caches = name === 'launch-daemon' ? ['v8cache'] : ['v8cache', 'lazy.v8cache'];
      const ok = (await train(dir)) && caches.every((c) => existsSync(join(out, `${name}.${c}`)));
      if (!ok) process.stderr.write(`qtestd: no code cache for ${name} yet (its first run makes one)\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
