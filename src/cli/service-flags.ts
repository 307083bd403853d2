/**
 * The `qtestd` service's own command line (not QEMU's syntax: that is src/config/argv.ts), parsed
 * with node:util parseArgs. Every flag is checked here, before anything listens: an unknown flag
 * (with a "did you mean"), a bad value, an unknown log level, or default machine options that
 * cannot build a machine all end the process with a one-line reason and exit status 2.
 */
import { parseArgs } from 'node:util';
import type { ServiceOptions } from '../service/service.js';
import { parseSessionOptions, splitWords } from '../config/session-options.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogFormat = 'json' | 'pretty' | 'auto';
const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty', 'auto'];

interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  arg?: string;
  help: string;
}

const FLAGS: Record<string, FlagSpec> = {
  tcp: { type: 'string', arg: 'HOST:PORT', help: 'qtest over TCP (default 127.0.0.1:3737; "off" disables it)' },
  unix: {
    type: 'string',
    arg: 'PATH',
    help: 'qtest over a UNIX socket (default $XDG_RUNTIME_DIR/qtestd-UID/qtest.sock, else /tmp/qtestd-UID/…; "off")',
  },
  http: {
    type: 'string',
    arg: 'HOST:PORT',
    help: 'WebSocket /qtest and /qmp?session=ID, /healthz, /readyz, /metrics, /sessions (default 127.0.0.1:3738; "off")',
  },
  'listen-all': {
    type: 'boolean',
    help: 'allow --tcp/--http on non-loopback addresses (0.0.0.0, ::, a LAN address): every session is then reachable from the network',
  },
  'allow-host': {
    type: 'string',
    arg: 'NAMES',
    help: 'host names HTTP/WebSocket requests may name besides loopback ones, comma-separated ("*": any)',
  },
  'allow-origin': {
    type: 'string',
    arg: 'ORIGINS',
    help: 'browser origins (scheme://host[:port]) allowed besides loopback ones, comma-separated ("*": any)',
  },
  'run-dir': { type: 'string', arg: 'DIR', help: 'where per-session QMP sockets live: DIR/<session>.qmp' },
  'machine-args': {
    type: 'string',
    arg: '"ARGS"',
    help: 'the machine of a session that names none, in QEMU syntax (checked at start)',
  },
  'max-sessions': { type: 'string', arg: 'N', help: 'sessions open at once (default 1000)' },
  'session-ram': { type: 'string', arg: 'BYTES', help: 'guest RAM one session may touch (default 1 GiB)' },
  'memory-budget': {
    type: 'string',
    arg: 'BYTES',
    help: 'memory all sessions together may hold (guest RAM, buffered lines, queued replies), in equal shares per worker; past it requests needing more get FAIL memory budget exceeded and new sessions are refused (default: half the RAM; 0 = none)',
  },
  'max-line': { type: 'string', arg: 'BYTES', help: 'longest qtest line (default 64 MiB)' },
  'idle-timeout': { type: 'string', arg: 'SECONDS', help: 'close connections idle that long (default 600; 0 = never)' },
  'greeting-timeout': {
    type: 'string',
    arg: 'SECONDS',
    help: 'close a connection whose session has not started that long after connecting (default 30; 0 = never)',
  },
  'line-timeout': {
    type: 'string',
    arg: 'SECONDS',
    help: 'close a connection whose line is unfinished that long after its first byte (default 60; 0 = never)',
  },
  'shutdown-grace': {
    type: 'string',
    arg: 'SECONDS',
    help: 'on SIGTERM/SIGINT: how long open connections get to take their last replies and "FAIL shutting down" (default 1)',
  },
  'work-budget': {
    type: 'string',
    arg: 'UNITS',
    help: 'work one request may do: bytes moved + 64 per access, DMA and SMMU included (default 4294967296; 0 = no limit)',
  },
  'request-time': {
    type: 'string',
    arg: 'SECONDS',
    help: 'wall time one request may run (default 120; 0 = no limit); past either: FAIL work budget exceeded',
  },
  workers: {
    type: 'string',
    arg: 'N',
    help: 'worker processes sessions run in (default: one per core; 0 = in this process)',
  },
  'log-level': { type: 'string', arg: 'LEVEL', help: `${LOG_LEVELS.join('|')} (default info)` },
  'log-format': {
    type: 'string',
    arg: 'FORMAT',
    help: 'json (one JSON object per line) | pretty (for people) | auto (default: pretty on a terminal)',
  },
  help: { type: 'boolean', short: 'h', help: 'print this help on stdout and exit' },
  version: { type: 'boolean', short: 'V', help: 'print the version on stdout and exit' },
};

const ENVIRONMENT: Array<[string, string]> = [
  ['QTESTD_LOG_LEVEL', 'log level when --log-level is not given'],
  ['QTESTD_LOG_FORMAT', 'log format when --log-format is not given'],
  ['XDG_RUNTIME_DIR', 'parent of the default run directory (qtestd-UID/)'],
];

export function usage(): string {
  const rows = Object.entries(FLAGS).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.arg ? ` ${f.arg}` : ''}`;
    return `  ${left.padEnd(28)} ${f.help}`;
  });
  const env = ENVIRONMENT.map(([k, v]) => `  ${k.padEnd(28)} ${v}`);
  return [
    'usage: qtestd [options]',
    '',
    'A fresh emulated QEMU 10.2.2 aarch64 virt machine per connection, over qtest and QMP.',
    'Flags take a value as "--flag VALUE" or "--flag=VALUE".',
    '',
    'options:',
    ...rows,
    '',
    'environment:',
    ...env,
    '',
    'A session may pick its machine with a first line "#!qtestd id=NAME -machine … -device …" (TCP, UNIX)',
    'or a URL query (/qtest?id=NAME&device=edu). See README.md.',
    '',
  ].join('\n');
}

export class FlagError extends Error {}

/** The closest known flag to a misspelt one, if it is close enough to be a likely typo. */
export function didYouMean(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(word, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

function hostPort(flag: string, text: string): { host: string; port: number } | null {
  if (text === 'off') return null;
  const i = text.lastIndexOf(':');
  const port = Number(text.slice(i + 1));
  if (i <= 0 || text.slice(i + 1) === '' || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new FlagError(`--${flag}: expected HOST:PORT (port 0-65535) or "off", got '${text}'`);
  const host = text.slice(0, i).replace(/^\[(.*)\]$/, '$1'); // [::1]:3737
  return { host, port };
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function count(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new FlagError(`--${flag}: expected a non-negative number, got '${text}'`);
  return n;
}

function oneOf<T extends string>(what: string, text: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(text)) return text as T;
  const near = didYouMean(text, allowed);
  throw new FlagError(
    `${what}: unknown value '${text}' (one of: ${allowed.join(', ')})${near ? `; did you mean '${near}'?` : ''}`,
  );
}

export type ServiceCommand =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; opts: ServiceOptions; logLevel: string; logFormat: LogFormat };

/** Parse `qtestd` arguments over `base` (the defaults); throws FlagError with a one-line reason. */
export function parseServiceArgs(argv: string[], base: ServiceOptions, env = process.env): ServiceCommand {
  const known = Object.keys(FLAGS);
  // "--flag VALUE" becomes "--flag=VALUE", so a value may start with '-' (--machine-args "-device edu")
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') && !argv[i].includes('=') ? argv[i].slice(2) : undefined;
    if (name !== undefined && FLAGS[name]?.type === 'string') {
      if (i + 1 >= argv.length) throw new FlagError(`--${name} needs a value: --${name} ${FLAGS[name].arg}`);
      args.push(`${argv[i]}=${argv[++i]}`);
    } else args.push(argv[i]);
  }
  const options = Object.fromEntries(
    Object.entries(FLAGS).map(([k, f]) => [k, { type: f.type, ...(f.short ? { short: f.short } : {}) }]),
  );
  // Unknown flags first, with a suggestion (parseArgs' own message has none).
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  for (const tok of tokens) {
    if (tok.kind === 'positional') throw new FlagError(`unexpected argument '${tok.value}' (see qtestd --help)`);
    if (tok.kind !== 'option' || known.includes(tok.name)) continue;
    const near = didYouMean(tok.name, known);
    throw new FlagError(
      `unknown option '${tok.rawName}'${near ? `; did you mean '--${near}'?` : ''} (see qtestd --help)`,
    );
  }
  let values;
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (e) {
    throw new FlagError(`${(e as Error).message.split('\n')[0]} (see qtestd --help)`);
  }
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const str = (k: string): string | undefined => values[k] as string | undefined;

  const opts: ServiceOptions = { ...base, limits: { ...base.limits } };
  if (str('tcp') !== undefined) opts.tcp = hostPort('tcp', str('tcp')!);
  if (str('http') !== undefined) opts.http = hostPort('http', str('http')!);
  if (str('unix') !== undefined) opts.unixPath = str('unix') === 'off' ? null : str('unix')!;
  if (values['listen-all']) opts.listenAll = true;
  if (str('allow-host') !== undefined) opts.allowedHosts = list(str('allow-host')!);
  if (str('allow-origin') !== undefined) opts.allowedOrigins = list(str('allow-origin')!);
  if (str('run-dir') !== undefined) opts.runDir = str('run-dir')!;
  if (str('max-sessions') !== undefined) opts.maxSessions = count('max-sessions', str('max-sessions')!);
  if (str('session-ram') !== undefined) opts.limits.maxTouchedRamBytes = count('session-ram', str('session-ram')!);
  if (str('memory-budget') !== undefined) opts.memoryBudgetBytes = count('memory-budget', str('memory-budget')!);
  if (str('max-line') !== undefined) opts.limits.maxLineBytes = count('max-line', str('max-line')!);
  if (str('idle-timeout') !== undefined) opts.idleTimeoutMs = count('idle-timeout', str('idle-timeout')!) * 1000;
  if (str('greeting-timeout') !== undefined)
    opts.greetingTimeoutMs = count('greeting-timeout', str('greeting-timeout')!) * 1000;
  if (str('line-timeout') !== undefined) opts.lineTimeoutMs = count('line-timeout', str('line-timeout')!) * 1000;
  if (str('shutdown-grace') !== undefined)
    opts.shutdownGraceMs = count('shutdown-grace', str('shutdown-grace')!) * 1000;
  if (str('workers') !== undefined) opts.workers = count('workers', str('workers')!);
  if (str('work-budget') !== undefined) opts.limits.requestWorkUnits = count('work-budget', str('work-budget')!);
  if (str('request-time') !== undefined) opts.limits.requestWallMs = count('request-time', str('request-time')!) * 1000;
  if (str('machine-args') !== undefined) {
    let id: string | undefined;
    try {
      opts.defaults = splitWords(str('machine-args')!);
      // as if a session's first line said it: only machine options; the machine is built by the caller
      id = parseSessionOptions(opts.defaults, []).id;
    } catch (e) {
      throw new FlagError(`--machine-args: ${(e as Error).message}`);
    }
    if (id !== undefined) throw new FlagError('--machine-args: id= names one session; it cannot be a default');
  }
  const logLevel = oneOf(
    str('log-level') !== undefined ? '--log-level' : 'QTESTD_LOG_LEVEL',
    str('log-level') ?? env.QTESTD_LOG_LEVEL ?? 'info',
    LOG_LEVELS,
  );
  const logFormat = oneOf(
    str('log-format') !== undefined ? '--log-format' : 'QTESTD_LOG_FORMAT',
    str('log-format') ?? env.QTESTD_LOG_FORMAT ?? 'auto',
    LOG_FORMATS,
  );
  return { kind: 'run', opts, logLevel, logFormat };
}
