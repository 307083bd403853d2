/**
 * Entry point of `qtestd` (what `npm start` runs): the multi-session service on loopback. Parses
 * its own flags (service-flags.ts: bad flags, levels or machine options end it before it listens),
 * prints a banner for people on stderr, logs with pino (pretty on a terminal, or --log-format),
 * and on SIGTERM/SIGINT stops accepting, gives every open qtest connection the replies to what it
 * sent and then `FAIL shutting down` (QMP: QEMU's SHUTDOWN event), waits up to --shutdown-grace
 * for the peers, and exits 0.
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import type { Logger } from '../base/log.js';
import { DEFAULT_PLUGINS } from '../machine/default-plugins.js';
import { defaultServiceOptions, QtestdService, WORKER_EXIT_MARGIN_MS } from '../service/service.js';
import type { ServiceOptions } from '../service/service.js';
import { parseSessionOptions } from '../config/session-options.js';
import { Session } from '../session/session.js';
import { qmpCapturesProblem } from '../protocol/qmp/schema/captures.js';
import { installProcessGuards, onTerminationSignals } from './process-guard.js';
import { FlagError, parseServiceArgs, usage } from './service-flags.js';
import type { LogFormat } from './service-flags.js';

export { parseServiceArgs } from './service-flags.js';

/** Past the grace period and the workers' exit margin, when we exit whatever is left. */
const SHUTDOWN_MARGIN_MS = WORKER_EXIT_MARGIN_MS + 1000;

/** The package version (package.json is three levels above dist/src/cli/). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Build (and drop) the default machine once, so bad --machine-args fail now, not per session. */
function checkDefaultMachine(opts: ServiceOptions): void {
  const { config } = parseSessionOptions([], opts.defaults);
  const s = new Session(config, { log: pino({ level: 'silent' }), limits: opts.limits, plugins: opts.plugins });
  s.dispose();
}

async function makeLogger(level: string, format: LogFormat): Promise<Logger> {
  if (format === 'pretty' || (format === 'auto' && process.stderr.isTTY)) {
    try {
      const { default: pretty } = await import('pino-pretty');
      return pino(
        { level },
        pretty({
          destination: 2,
          sync: true,
          colorize: process.stderr.isTTY,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname',
        }),
      );
    } catch (e) {
      if (format === 'pretty')
        process.stderr.write(`qtestd: pino-pretty unavailable (${(e as Error).message}); JSON logs\n`);
    }
  }
  return pino({ level }, pino.destination({ fd: 2, sync: false }));
}

async function main(): Promise<void> {
  let log: Logger | undefined;
  installProcessGuards(() => log);
  let parsed;
  try {
    const cmd = parseServiceArgs(
      process.argv.slice(2),
      defaultServiceOptions(DEFAULT_PLUGINS, pino({ level: 'silent' })),
    );
    if (cmd.kind === 'help') {
      process.stdout.write(usage());
      return;
    }
    if (cmd.kind === 'version') {
      process.stdout.write(`qtestd ${packageVersion()} (QEMU 10.2.2 qtest/QMP, aarch64 virt)\n`);
      return;
    }
    parsed = cmd;
    // Every session has a QMP monitor: an install without its captures must not start.
    const problem = qmpCapturesProblem();
    if (problem !== undefined) {
      process.stderr.write(`qtestd: ${problem}\n`);
      process.exit(1);
    }
    try {
      checkDefaultMachine(parsed.opts);
    } catch (e) {
      throw new FlagError(`--machine-args: ${(e as Error).message.split('\n')[0]}`);
    }
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    process.stderr.write(`qtestd: ${e.message}\n`);
    process.exit(2);
  }
  log = await makeLogger(parsed.logLevel, parsed.logFormat);
  const service = new QtestdService({ ...parsed.opts, log });
  onTerminationSignals(async (signal) => {
    log?.info({ event: 'shutdown', signal, sessions: service.sessionCount }, 'stopping');
    await service.stop();
  }, parsed.opts.shutdownGraceMs + SHUTDOWN_MARGIN_MS);
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
