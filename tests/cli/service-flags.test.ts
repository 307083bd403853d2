/**
 * `qtestd`'s own flags, on the real process (bin/qtestd): --help and --version on stdout, every bad
 * flag, value, log level or default machine refused before anything listens (exit 2, one line on
 * stderr, with a "did you mean" for near misses), and `--flag=VALUE` accepted.
 */
import { spawn } from 'node:child_process';
import t from 'tap';
import { QTESTD_SERVICE_BINARY } from '../helpers/paths.js';

t.setTimeout(300000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run bin/qtestd; once it logs that it listens, SIGTERM it (a start that should have failed). */
function qtestd(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run & { listened: boolean }> {
  return new Promise((resolve) => {
    const p = spawn(QTESTD_SERVICE_BINARY, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, QTESTD_LOG_LEVEL: undefined, QTESTD_LOG_FORMAT: undefined, ...env },
    });
    let stdout = '';
    let stderr = '';
    let listened = false;
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!listened && stderr.includes('qtestd ready')) {
        listened = true;
        p.kill('SIGTERM');
      }
    });
    p.on('close', (code) => resolve({ code, stdout, stderr, listened }));
  });
}

const LOOPBACK = ['--tcp=127.0.0.1:0', '--http', '127.0.0.1:0', '--unix', 'off'];

t.test('--help: every flag and environment variable, on stdout, exit 0', async (t) => {
  const r = await qtestd(['--help']);
  t.equal(r.code, 0);
  t.equal(r.stderr, '');
  for (const flag of [
    '--tcp',
    '--unix',
    '--http',
    '--run-dir',
    '--machine-args',
    '--max-sessions',
    '--session-ram',
    '--max-line',
    '--idle-timeout',
    '--greeting-timeout',
    '--line-timeout',
    '--workers',
    '--log-level',
    '--log-format',
    '--help',
    '--version',
  ])
    t.match(r.stdout, flag, flag);
  for (const env of ['QTESTD_LOG_LEVEL', 'QTESTD_LOG_FORMAT', 'XDG_RUNTIME_DIR']) t.match(r.stdout, env, env);
  t.equal((await qtestd(['-h'])).stdout, r.stdout, '-h is --help');
});

t.test('--version on stdout', async (t) => {
  const r = await qtestd(['--version']);
  t.equal(r.code, 0);
  t.match(r.stdout, /^qtestd \d+\.\d+\.\d+ /);
});

const REFUSED: Array<[string, string[], NodeJS.ProcessEnv, RegExp]> = [
  ['a misspelt flag', ['--tpc', '127.0.0.1:0'], {}, /unknown option '--tpc'; did you mean '--tcp'\?/],
  ['an unknown flag', ['--frobnicate'], {}, /unknown option '--frobnicate' \(see qtestd --help\)/],
  ['a stray argument', ['virt'], {}, /unexpected argument 'virt'/],
  ['a flag without its value', ['--tcp'], {}, /--tcp needs a value/],
  ['a bad HOST:PORT', ['--tcp', '3737'], {}, /--tcp: expected HOST:PORT/],
  ['a bad number', ['--idle-timeout', 'soon'], {}, /--idle-timeout: expected a non-negative number/],
  ['an unknown --log-level', ['--log-level', 'verbose'], {}, /--log-level: unknown value 'verbose'/],
  ['a near-miss level', ['--log-level=debg'], {}, /did you mean 'debug'\?/],
  ['an unknown QTESTD_LOG_LEVEL', [], { QTESTD_LOG_LEVEL: 'verbose' }, /QTESTD_LOG_LEVEL: unknown value 'verbose'/],
  ['an unknown --log-format', ['--log-format', 'xml'], {}, /--log-format: unknown value 'xml'/],
  ['an unknown device', ['--machine-args', '-device edux'], {}, /--machine-args: .*'edux' is not a valid device model/],
  ['an unknown device property', ['--machine-args', '-device edu,colour=red'], {}, /Property 'edu.colour' not found/],
  ['an unknown machine option', ['--machine-args=-machine virt,turbo=on'], {}, /--machine-args: .*turbo/],
  ['an option sessions may not use', ['--machine-args', '-qmp stdio'], {}, /--machine-args: option '-qmp'/],
];

t.test('refused at start, before listening: exit 2, one line on stderr', async (t) => {
  // all at once: each is a process start, and they do not share anything
  const runs = await Promise.all(REFUSED.map(([, args, env]) => qtestd([...LOOPBACK, ...args], env)));
  REFUSED.forEach(([what, , , message], k) => {
    const r = runs[k];
    t.equal(r.listened, false, `${what}: never listened`);
    t.equal(r.code, 2, `${what}: exit status 2`);
    t.match(r.stderr, message, `${what}: says why`);
    t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line`);
    t.equal(r.stdout, '', `${what}: nothing on stdout`);
  });
});

t.test('--flag=VALUE forms, a good --machine-args and --log-format json start the service', async (t) => {
  const r = await qtestd([
    ...LOOPBACK,
    '--machine-args=-machine virt -device edu',
    '--log-format=json',
    '--log-level=info',
  ]);
  t.ok(r.listened, 'listening');
  t.equal(r.code, 0, 'exit 0 on SIGTERM');
  const first = r.stderr.split('\n').find((l) => l.startsWith('{'));
  t.ok(first && JSON.parse(first), 'JSON log lines');
});

t.test('--log-format pretty: no JSON on stderr', async (t) => {
  const r = await qtestd([...LOOPBACK, '--log-format', 'pretty']);
  t.ok(r.stderr.includes('qtestd ready'), 'the ready line, for people');
  t.notOk(
    r.stderr.split('\n').some((l) => l.startsWith('{"level"')),
    'no JSON records',
  );
});
