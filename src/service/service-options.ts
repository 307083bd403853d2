/** What a QtestdService is started with, and the defaults of `qtestd` without flags. */
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../base/log.js';
import { DEFAULT_LIMITS, SERVICE_REQUEST_BUDGET } from '../base/limits.js';
import type { Limits } from '../base/limits.js';
import type { MachinePlugins } from '../machine/machine.js';
import { DEFAULT_SERVICE_ARGV } from '../machine/config.js';

export interface ServiceOptions {
  /** qtest over TCP; null disables it. Port 0 picks a free port. */
  tcp: { host: string; port: number } | null;
  /** qtest over a UNIX socket (created 0600); null disables it. */
  unixPath: string | null;
  /** HTTP: WebSocket endpoints, /healthz, /readyz, /metrics, /sessions; null disables it. */
  http: { host: string; port: number } | null;
  /** Directory for per-session QMP sockets. */
  runDir: string;
  /** Machine options every session starts from. */
  defaults: string[];
  limits: Limits;
  maxSessions: number;
  /** Close a connection that sent no request (complete line) for this long (0 = never). */
  idleTimeoutMs: number;
  /** Close a raw connection whose session has not started this long after connecting (0 = never); bytes do not reset it. */
  greetingTimeoutMs: number;
  /** Close a connection whose line stays unfinished this long after its first byte (0 = never). */
  lineTimeoutMs: number;
  /**
   * On SIGTERM: how long connections get to take their last replies (and `FAIL shutting down`)
   * and close before they are dropped, and the service exits.
   */
  shutdownGraceMs: number;
  /** Worker processes sessions run in (0: in this process). The worker uses the default plugins. */
  workers: number;
  plugins: MachinePlugins;
  log: Logger;
  /**
   * Memory all sessions together may hold (guest RAM touched, unfinished lines, queued replies),
   * in bytes, split evenly over the workers; past it, new sessions, requests that need more and unfinished lines that grow are refused (0 = no budget).
   */
  memoryBudgetBytes: number;
  /** Listening on a non-loopback address is refused unless this says so (`--listen-all`). */
  listenAll: boolean;
  /** Host names HTTP requests may name besides loopback ones (`--allow-host`; web-guard.ts). */
  allowedHosts: string[];
  /** Origins browsers may send besides loopback ones (`--allow-origin`; web-guard.ts). */
  allowedOrigins: string[];
}

export function defaultServiceOptions(plugins: MachinePlugins, log: Logger): ServiceOptions {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const runDir = join(process.env.XDG_RUNTIME_DIR ?? '/tmp', `qtestd-${uid}`);
  return {
    tcp: { host: '127.0.0.1', port: 3737 },
    unixPath: join(runDir, 'qtest.sock'),
    http: { host: '127.0.0.1', port: 3738 },
    runDir,
    defaults: DEFAULT_SERVICE_ARGV,
    limits: { ...DEFAULT_LIMITS, maxTouchedRamBytes: 1024 * 1024 * 1024, ...SERVICE_REQUEST_BUDGET },
    maxSessions: 1000,
    idleTimeoutMs: 10 * 60 * 1000,
    greetingTimeoutMs: 30 * 1000,
    lineTimeoutMs: 60 * 1000,
    shutdownGraceMs: 1000,
    workers: availableParallelism(),
    plugins,
    log,
    memoryBudgetBytes: Math.floor(totalmem() / 2),
    listenAll: false,
    allowedHosts: [],
    allowedOrigins: [],
  };
}

/**
 * The part of the service-wide memory budget `budget` (bytes; 0 = none) one of `workers` session
 * processes may hold: an equal share. The accepting process hands each new connection to the
 * worker with the fewest sessions, so sessions (and, on average, their memory) spread evenly; a
 * worker at its share refuses new sessions and new guest RAM while the others still have room.
 * Equal shares need no traffic on the worker channel per page and no trust in a worker's
 * report; the cost is that one worker cannot borrow another's unused room (documented with the
 * flag). `--workers 0` (sessions in the accepting process): the whole budget.
 */
export function memoryShare(budget: number, workers: number): number {
  return budget > 0 ? Math.floor(budget / Math.max(1, workers)) : Infinity;
}
