/**
 * The package as a consumer gets it: `npm pack` of this tree, installed from the tarball into an
 * empty project without the registry: the consumer's lockfile names the tarball and, for the
 * dependencies, the versions and hashes of this repository's lockfile, so `npm ci --offline` takes
 * them from npm's cache (which our own `npm ci` filled). Then:
 *   - ESM: import('qtestd') and import('qtestd/client'), a service started from the package and a
 *     session driven with the package's client (the #!qtestd first line, a request timeout);
 *   - CommonJS: require('qtestd') and require('qtestd/client') (Node's require(esm), Node >= 20.19);
 *   - strict TypeScript (skipLibCheck off) with moduleResolution node16, bundler and node10;
 *   - the bins (qtestd, qemu-system-aarch64), LICENSE, no source map pointing at an unshipped file.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import t from 'tap';
import { REPO_ROOT } from '../helpers/paths.js';

t.setTimeout(600000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((res) => {
    execFile(
      cmd,
      args,
      { cwd, env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout: 300000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        res({ code: typeof code === 'number' ? code : 1, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

const work = mkdtempSync(join(tmpdir(), 'qtestd-package-'));
const app = join(work, 'app');
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
// npm reads these from the environment of `npm test`; the consumer project must not inherit them
const npmEnv = { npm_config_prefix: undefined, npm_config_global: undefined, npm_lifecycle_event: undefined };

/**
 * A lockfile for a project that depends on the tarball only: qtestd's production dependencies as
 * this repository's lockfile resolved them (npm fetches by integrity, i.e. from its cache).
 */
function consumerLock(spec: string, tarball: string): unknown {
  const ours = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, Record<string, unknown>>;
  };
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', dependencies: { qtestd: spec } },
    'node_modules/qtestd': {
      version: pkg.version,
      resolved: spec,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      hasInstallScript: true,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const [k, v] of Object.entries(ours.packages))
    if (k.startsWith('node_modules/') && !v.dev && !v.devOptional) packages[k] = v;
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages };
}

let installed = false;
t.test('npm pack, then an offline install of the tarball into an empty project', async (t) => {
  const packed = await run(
    'npm',
    ['pack', '--ignore-scripts', '--json', '--pack-destination', work],
    REPO_ROOT,
    npmEnv,
  );
  t.equal(packed.code, 0, `npm pack${packed.code ? `: ${packed.stderr}` : ''}`);
  const info = (JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>)[0];
  const files = info.files.map((f) => f.path);
  t.comment(`${info.filename}: ${files.length} files`);
  t.ok(files.includes('LICENSE'), 'LICENSE shipped');
  t.ok(files.includes('dist/src/index.js') && files.includes('dist/src/client/index.d.ts'), 'entry points built');
  t.notOk(
    files.some((f) => f.startsWith('dist/tests') || f.startsWith('tests/')),
    'no tests shipped',
  );
  const unshipped = files
    .filter((f) => f.endsWith('.js.map'))
    .flatMap((f) => {
      const map = JSON.parse(readFileSync(join(REPO_ROOT, f), 'utf8')) as { sources: string[] };
      return map.sources.map((s) => join(dirname(f), s)).filter((s) => !files.includes(s));
    });
  t.same(unshipped.slice(0, 5), [], 'every source map points at a shipped file');

  writeFileSync(join(work, 'package.json'), '{}\n'); // keep npm from walking up to another project
  mkdirSync(app);
  const spec = `file:../${info.filename}`;
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { qtestd: spec } }),
  );
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(consumerLock(spec, join(work, info.filename)), null, 2));
  const inst = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], app, npmEnv);
  t.equal(inst.code, 0, `npm ci --offline${inst.code ? `: ${inst.stderr}` : ''}`);
  installed = inst.code === 0;
  t.ok(existsSync(join(app, 'node_modules', '@types', 'ws')), '@types/ws comes along (a dependency)');
});

t.test('ESM: import both entry points, run a service, drive a session with the client', async (t) => {
  if (!installed) return t.fail('not installed');
  writeFileSync(
    join(app, 'esm.mjs'),
    `import * as qtestd from 'qtestd';
import { QtestClient } from 'qtestd/client';
const { QtestdService, defaultServiceOptions, DEFAULT_PLUGINS, silentLogger } = qtestd;
const service = new QtestdService({
  ...defaultServiceOptions(DEFAULT_PLUGINS, silentLogger()),
  tcp: { host: '127.0.0.1', port: 0 }, unixPath: null, http: null, runDir: process.cwd() + '/run',
});
await service.start();
const c = await QtestClient.connectTcp('127.0.0.1', service.addresses.tcpPort, { session: 'id=pkg -machine virt -device edu', requestTimeoutMs: 60000 });
const id = await c.readl(0x4010008000n);
c.close();
await service.stop();
console.log(JSON.stringify({ exports: Object.keys(qtestd).sort(), id: id.toString(16) }));
`,
  );
  const r = await run(process.execPath, ['esm.mjs'], app);
  t.equal(r.code, 0, `node esm.mjs${r.code ? `: ${r.stderr}` : ''}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { exports?: string[]; id?: string };
  t.ok(out.exports?.includes('QtestdService') && out.exports.includes('Session'), 'qtestd exports the service');
  t.equal(out.id, '11e81234', 'edu answers through the package client');
});

const [major, minor] = process.versions.node.split('.').map(Number);
const requireEsm = major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);
t.test('CommonJS: require() of both entry points', { skip: requireEsm ? false : 'needs Node >= 20.19' }, async (t) => {
  if (!installed) return t.fail('not installed');
  writeFileSync(
    join(app, 'cjs.cjs'),
    `const q = require('qtestd'); const c = require('qtestd/client');
console.log(typeof q.QtestdService, typeof c.QtestClient, typeof c.QmpClient);`,
  );
  const r = await run(process.execPath, ['--no-warnings', 'cjs.cjs'], app);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), 'function function function');
});

const CONSUMER_TS = `import { QtestdService, defaultServiceOptions, DEFAULT_PLUGINS, silentLogger } from 'qtestd';
import type { ServiceOptions } from 'qtestd';
import { QtestClient, QmpClient } from 'qtestd/client';
import type { QtestConnectOptions } from 'qtestd/client';

export async function use(): Promise<bigint> {
  const opts: ServiceOptions = { ...defaultServiceOptions(DEFAULT_PLUGINS, silentLogger()), http: null };
  const s = new QtestdService(opts);
  await s.start();
  const o: QtestConnectOptions = { session: ['id=x'], requestTimeoutMs: 1000 };
  const c: QtestClient = await QtestClient.connectTcp('127.0.0.1', s.addresses.tcpPort ?? 0, o);
  const q: Promise<QmpClient> = QmpClient.connectUnix('/nonexistent');
  q.catch(() => undefined);
  return c.readq(0x40000000n);
}
`;

const RESOLUTIONS = [
  ['node16', 'node16', 'node16', 'module'],
  ['bundler', 'esnext', 'bundler', 'module'],
  ['node10 (typesVersions)', 'commonjs', 'node10', 'commonjs'],
] as const;

// One consumer project per resolution, all checked by one `tsc --build` (measured: ~13 CPU-s where
// a tsc per project took ~18); tsc prefixes each error with its project folder.
t.test('strict TypeScript consumers (one tsc --build)', async (t) => {
  if (!installed) return t.fail('not installed');
  for (const [, module, resolution, type] of RESOLUTIONS) {
    const dir = join(app, `ts-${resolution}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type }));
    writeFileSync(join(dir, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          target: 'ES2022',
          lib: ['ES2022'],
          module,
          moduleResolution: resolution,
          types: ['node'],
          // CommonJS consumers need esModuleInterop (tsc --init turns it on): `ws` and pino's own
          // typings are CommonJS modules imported with a default import
          ...(resolution === 'node10' ? { ignoreDeprecations: '5.0', esModuleInterop: true } : {}),
        },
        files: ['consumer.ts'],
      }),
    );
  }
  const dirs = RESOLUTIONS.map(([, , resolution]) => `ts-${resolution}`);
  const r = await run(process.execPath, [tsc, '--build', '--force', ...dirs], app);
  const out = `${r.stdout}${r.stderr}`;
  for (const [name, , resolution] of RESOLUTIONS) {
    const errors = out.split('\n').filter((l) => l.startsWith(`ts-${resolution}/`) || l.includes(`/ts-${resolution}/`));
    t.same(errors, [], `moduleResolution ${name}: no errors`);
  }
  t.equal(r.code, 0, `tsc --build${r.code ? `:\n${out}` : ''}`);
});

t.test('the bins: qtestd --version, qemu-system-aarch64 -version', async (t) => {
  if (!installed) return t.fail('not installed');
  const bin = join(app, 'node_modules', '.bin');
  t.same(
    readdirSync(bin)
      .filter((f) => f === 'qtestd' || f === 'qemu-system-aarch64')
      .sort(),
    ['qemu-system-aarch64', 'qtestd'],
  );
  const v = await run(join(bin, 'qtestd'), ['--version'], app);
  t.match(v.stdout, /^qtestd \d+\.\d+\.\d+/, 'qtestd --version');
  const q = await run(join(bin, 'qemu-system-aarch64'), ['-version'], app, { QTESTD_NO_DAEMON: '1' });
  t.match(q.stdout, /^QEMU emulator version 10\.2\.2/, 'qemu-system-aarch64 -version');
  t.ok(existsSync(resolve(app, 'node_modules', 'qtestd', 'LICENSE')), 'LICENSE installed');
});
