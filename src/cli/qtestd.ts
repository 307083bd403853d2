/**
 * Entry point of `qtestd` (what `npm start` runs): the multi-session service on loopback. Parses
 * its own flags, prints a banner for people on stderr, logs with pino (pretty on a terminal),
 * and on SIGTERM/SIGINT stops accepting, lets open sessions finish the request in flight, and
 * exits 0.
 */
import { pino } from 'pino';
import type { Logger } from '../base/log.js';
import { DEFAULT_PLUGINS } from '../machine/default-plugins.js';
import { defaultServiceOptions, QtestdService } from '../service/service.js';
import type { ServiceOptions } from '../service/service.js';
import { splitWords } from '../config/session-options.js';
import { installProcessGuards, onTerminationSignals } from './process-guard.js';

const USAGE = `usage: qtestd [options]
  --tcp HOST:PORT        qtest over TCP (default 127.0.0.1:3737; "off" disables)
  --unix PATH            qtest over a UNIX socket (default $XDG_RUNTIME_DIR/qtestd-UID/qtest.sock or /tmp/…; "off")
  --http HOST:PORT       WebSocket (/qtest, /qmp?session=ID), /healthz, /readyz, /metrics, /sessions (default 127.0.0.1:3738; "off")
  --run-dir DIR          where per-session QMP sockets live (<DIR>/<session>.qmp)
  --machine-args "ARGS"  default machine for new sessions (QEMU syntax)
  --max-sessions N       (default 1000)
  --session-ram BYTES    guest RAM a session may touch (default 1 GiB)
  --max-line BYTES       longest qtest line (default 64 MiB)
  --idle-timeout SECONDS close idle connections (default 600; 0 = never)
  --greeting-timeout S   close a connection whose session has not started S seconds after connecting (default 30; 0 = never)
  --line-timeout S       close a connection whose line is unfinished S seconds after its first byte (default 60; 0 = never)
  --workers N            worker processes sessions run in (default: one per core; 0 = in this process)
  --log-level LEVEL      pino level (default info; debug traces every request)
`;

function hostPort(text: string): { host: string; port: number } | null {
  if (text === 'off') return null;
  const i = text.lastIndexOf(':');
  const port = Number(text.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`expected HOST:PORT, got '${text}'`);
  return { host: text.slice(0, i), port };
}

export function parseServiceArgs(argv: string[], base: ServiceOptions): { opts: ServiceOptions; logLevel: string } {
  const opts = { ...base, limits: { ...base.limits } };
  let logLevel = process.env.QTESTD_LOG_LEVEL ?? 'info';
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} requires a value`);
      return v;
    };
    const count = (): number => {
      const n = Number(value());
      if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} expects a non-negative number`);
      return n;
    };
    switch (flag) {
      case '--tcp':
        opts.tcp = hostPort(value());
        break;
      case '--unix': {
        const v = value();
        opts.unixPath = v === 'off' ? null : v;
        break;
      }
      case '--http':
        opts.http = hostPort(value());
        break;
      case '--run-dir':
        opts.runDir = value();
        break;
      case '--machine-args':
        opts.defaults = splitWords(value());
        break;
      case '--max-sessions':
        opts.maxSessions = count();
        break;
      case '--session-ram':
        opts.limits.maxTouchedRamBytes = count();
        break;
      case '--max-line':
        opts.limits.maxLineBytes = count();
        break;
      case '--idle-timeout':
        opts.idleTimeoutMs = count() * 1000;
        break;
      case '--greeting-timeout':
        opts.greetingTimeoutMs = count() * 1000;
        break;
      case '--line-timeout':
        opts.lineTimeoutMs = count() * 1000;
        break;
      case '--workers':
        opts.workers = count();
        break;
      case '--log-level':
        logLevel = value();
        break;
      case '--help':
      case '-h':
        process.stderr.write(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option '${flag}'\n${USAGE}`);
    }
  }
  return { opts, logLevel };
}

async function makeLogger(level: string): Promise<Logger> {
  if (process.stderr.isTTY) {
    try {
      const { default: pretty } = await import('pino-pretty');
      return pino(
        { level },
        pretty({ destination: 2, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }),
      );
    } catch {
      /* pino-pretty not installed: fall back to JSON lines */
    }
  }
  return pino({ level }, pino.destination({ fd: 2, sync: false }));
}

async function main(): Promise<void> {
  let log: Logger | undefined;
  installProcessGuards(() => log);
  let parsed;
  try {
    parsed = parseServiceArgs(process.argv.slice(2), defaultServiceOptions(DEFAULT_PLUGINS, pino({ level: 'silent' })));
  } catch (e) {
    process.stderr.write(`qtestd: ${(e as Error).message}\n`);
    process.exit(2);
  }
  log = await makeLogger(parsed.logLevel);
  const service = new QtestdService({ ...parsed.opts, log });
  onTerminationSignals(async (signal) => {
    log?.info({ event: 'shutdown', signal, sessions: service.sessionCount }, 'stopping');
    await service.stop();
  }, 900);
  try {
    await service.start();
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`qtestd: ${err.name === 'StartupError' ? '' : 'cannot listen: '}${err.message}\n`);
    process.exit(1);
  }
  const a = service.addresses;
  const o = parsed.opts;
  const lines = [
    'qtestd: a fresh emulated machine per connection',
    `  default machine: ${o.defaults.join(' ')}`,
    o.tcp ? `  qtest TCP:   nc ${o.tcp.host} ${a.tcpPort}` : undefined,
    a.unixPath ? `  qtest UNIX:  nc -U ${a.unixPath}` : undefined,
    o.http
      ? `  WebSocket:   ws://${o.http.host}:${a.httpPort}/qtest   QMP: ws://${o.http.host}:${a.httpPort}/qmp?session=ID`
      : undefined,
    o.http ? `  HTTP:        http://${o.http.host}:${a.httpPort}/metrics  /healthz  /readyz  /sessions` : undefined,
    `  session QMP: ${o.runDir}/<session>.qmp   (name a session: first line "#!qtestd id=NAME [-device …]")`,
    '  try: endianness / readl 0x4010000000 / clock_step 1000',
  ].filter(Boolean);
  process.stderr.write(lines.join('\n') + '\n');
  log.info({ event: 'listening', ...a }, 'qtestd ready');
}

void main();
