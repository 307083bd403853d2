'use strict';
/*
 * Start-up loader of a bundled entry point (written by scripts/bundle.mjs as dist/bundle/NAME.cjs
 * next to NAME.code.cjs): compiles the bundle with V8's code cache (NAME.v8cache) so a launch
 * does not parse and compile ~300 KB of JavaScript again; the launcher's second part
 * (NAME.lazy.code.cjs, NAME.lazy.v8cache) likewise, when its first part asks for it. Node 20 has no compile cache of its own
 * (module.enableCompileCache is Node 22+); a vm.Script with cachedData is what it offers.
 *
 * The cache is made at build time (scripts/bundle.mjs runs each entry once) and again by any run
 * that finds it missing or rejected (another node or V8 version): at exit, written beside the
 * bundle through a temporary file and a rename, so concurrent launches never read half a cache.
 * QTESTD_CODE_CACHE=off compiles without it (for comparisons).
 *
 * The launch scripts move NODE_EXTRA_CA_CERTS aside (node parses that certificate bundle at
 * start-up, tens of ms, and qtestd makes no TLS connection); it is put back here so anything this
 * process spawns sees the environment it was given.
 */
const fs = require('fs');
const vm = require('vm');

if (process.env.QTESTD_SAVED_NODE_EXTRA_CA_CERTS !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = process.env.QTESTD_SAVED_NODE_EXTRA_CA_CERTS;
  delete process.env.QTESTD_SAVED_NODE_EXTRA_CA_CERTS;
}

const base = __filename.replace(/\.cjs$/, '');
const useCache = process.env.QTESTD_CODE_CACHE !== 'off';

// A tsc build newer than the bundle (tsc run without scripts/bundle.mjs): the bundle is stale, so
// the unbundled entry point it was made from runs instead.
// No tsc build info (an install without tsc's state, e.g. the npm package): the bundle is all there
// is. (No exception for the missing file: making one costs ~0.35 ms of a launch.)
const built = fs.statSync(__dirname + '/../.tsbuildinfo', { throwIfNoEntry: false });
if (built !== undefined && built.mtimeMs > fs.statSync(base + '.code.cjs').mtimeMs) runUnbundled();
else runBundle();

function runUnbundled() {
  const entry = __dirname + '/../src/cli/@@SRC@@.js';
  process.argv[1] = entry; // the entry point's own "am I main" check
  import(require('url').pathToFileURL(entry).href);
}

function runBundle() {
  // The first part gets a loader of the second (the modules behind lazy boundaries,
  // NAME.lazy.code.cjs, scripts/bundle.mjs), which it calls on its first call through one of them.
  const loadPart = (partRequire) => {
    const part = { exports: {} };
    compile(base + '.lazy').call(part.exports, part.exports, partRequire, part, __filename, __dirname);
    return part.exports;
  };
  // The bundle sees this loader as its file: import.meta.url and "am I the main module" checks
  // name the entry point node was started with.
  compile(base).call(module.exports, module.exports, require, module, __filename, __dirname, loadPart);
}

/** The function BASE.code.cjs is, compiled with its code cache BASE.v8cache. */
function compile(base) {
  const codePath = base + '.code.cjs';
  const cachePath = base + '.v8cache';
  let cachedData;
  if (useCache) {
    try {
      cachedData = fs.readFileSync(cachePath);
    } catch (e) {
      cachedData = undefined; // no cache yet: this run makes one at exit
    }
  }
  // esbuild writes ASCII only (charset: ascii), so UTF-8 decoding is exact; node reads 'utf8'
  // files straight into a string (no file-sized Buffer on the way: CPU 0.96x, VmRSS -0.1 MiB). The
  // file is one function expression (the module wrapper is in the bundle: scripts/bundle.mjs).
  const source = fs.readFileSync(codePath, 'utf8');
  const script = new vm.Script(source, {
    filename: codePath,
    cachedData,
  });
  if (useCache && (cachedData === undefined || script.cachedDataRejected)) {
    process.once('exit', () => writeCache(script, cachePath));
  }
  return script.runInThisContext();
}

function writeCache(script, cachePath) {
  const tmp = cachePath + '.' + process.pid;
  try {
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, cachePath);
  } catch (e) {
    // a read-only install: runs keep compiling without a cache, which is only slower
    fs.rmSync(tmp, { force: true });
  }
}
