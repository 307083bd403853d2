/**
 * Entry point of a service worker process (forked by QtestdService through a WorkerPool): a
 * SessionHost that takes the connections the accepting process hands over, claims session ids
 * from it, answers its questions (metrics, sessions), and on `stop` closes its sessions and exits 0.
 * Options arrive in QTESTD_SERVICE_OPTIONS (JSON of the serialisable part of ServiceOptions).
 */
import { pino } from 'pino';
import type { Socket } from 'node:net';
import { DEFAULT_PLUGINS } from '../machine/default-plugins.js';
import { SessionHost } from './session-host.js';
import type { UpgradeRequest } from './session-host.js';
import type { IdClaims } from './session-registry.js';
import type { ServiceOptions } from './service-options.js';
import { WorkerChannel } from './worker-channel.js';
import { RECYCLE_ABOVE_BYTES } from './budgets.js';

/** Automatic ids a worker keeps in reserve: asks for a batch when fewer than the low mark are left. */
const AUTO_IDS_BATCH = 16;
const AUTO_IDS_LOW = 4;

/** The part of ServiceOptions a worker needs, as JSON. */
export type WorkerServiceOptions = Omit<ServiceOptions, 'log' | 'plugins'> & { logLevel: string };

/** Memory figures are sent to the accepting process when they moved by this much (worker-pool.ts picks by them). */
const MEMORY_REPORT_STEP = 1024 * 1024;
const MEMORY_REPORT_MS = 250;

/** Tell the accepting process how much of this worker's memory share is in use, as it changes. */
function reportMemory(channel: WorkerChannel, host: SessionHost): void {
  let last = -Infinity;
  setInterval(() => {
    const { share, inUse } = host.memoryState();
    if (share === Infinity || Math.abs(inUse - last) < MEMORY_REPORT_STEP) return;
    last = inUse;
    channel.send({ t: 'memory', inUse, share });
  }, MEMORY_REPORT_MS).unref();
}

function main(): void {
  const raw = JSON.parse(process.env.QTESTD_SERVICE_OPTIONS ?? '{}') as WorkerServiceOptions;
  let stopping: Promise<void> | undefined;
  const stop = (graceMs: number): Promise<void> =>
    (stopping ??= host.stop(graceMs).finally(() => {
      log.flush();
      process.exit(0);
    }));
  // The accepting process went away (it exits once its workers were told to stop, or it died):
  // finish the stop, so that what was answered reaches the peers whole.
  const channel = new WorkerChannel(() => void stop(raw.shutdownGraceMs));
  const log = pino(
    { level: raw.logLevel, base: { pid: process.pid, worker: channel.index } },
    pino.destination({ fd: 2, sync: false }),
  );
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception (ignored)'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection (ignored)'));
  // the accepting process handles signals (a terminal's Ctrl-C reaches the whole group): it sends 'stop'
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => {});

  // Ids: chosen ones are claimed from the accepting process (one round trip); automatic ones come
  // from a few it reserved for this worker ahead of time, so that most sessions start without
  // waiting for it.
  let nextClaim = 1;
  const claims = new Map<number, (r: { ok: true; id: string } | { ok: false; reason: string }) => void>();
  const spare: string[] = [];
  let refilling = false;
  const refill = (): void => {
    if (refilling || spare.length >= AUTO_IDS_LOW) return;
    refilling = true;
    channel.send({ t: 'reserve', count: AUTO_IDS_BATCH });
  };
  const ids: IdClaims = {
    claim: (requested) => {
      if (requested === undefined && spare.length) {
        const id = spare.shift()!;
        refill();
        return Promise.resolve({ ok: true, id });
      }
      return new Promise((resolve) => {
        const rid = nextClaim++;
        claims.set(rid, resolve);
        channel.send({ t: 'claim', rid, id: requested ?? null });
      });
    },
    release: (id) => channel.send({ t: 'release', id }),
  };
  const opts: ServiceOptions = { ...raw, log, plugins: DEFAULT_PLUGINS };
  const host = new SessionHost(opts, ids, true);
  /** A handed connection is over (`qtest`: it counted against --max-sessions). */
  const closed = (qtest: boolean) => (): void => {
    channel.send({ t: 'closed', qtest });
    // memory freed by closed sessions mostly stays with this process (budgets.ts): once it has
    // no session left, ask to be replaced by a fresh worker
    const rss = process.memoryUsage.rss();
    if (host.sessionCount === 0 && rss - baselineRss > RECYCLE_ABOVE_BYTES) channel.send({ t: 'recycle', rss });
  };

  channel
    .on('reserved', (msg) => {
      refilling = false;
      spare.push(...(msg.ids as string[]));
    })
    .on('claimed', (msg) => {
      const done = claims.get(msg.rid as number);
      claims.delete(msg.rid as number);
      done?.(msg.result as { ok: true; id: string } | { ok: false; reason: string });
    })
    .on('conn', (msg, socket) => {
      if (!socket) return closed(true)();
      const head = typeof msg.head === 'string' ? Buffer.from(msg.head, 'base64') : undefined;
      host.acceptRaw(socket as Socket, msg.transport as 'tcp' | 'unix', closed(true), head);
    })
    .on('upgrade', (msg, socket) => {
      const done = closed(msg.kind === 'qtest');
      if (!socket) return done();
      host.acceptUpgrade(msg.req as UpgradeRequest, socket as Socket, Buffer.from(msg.head as string, 'base64'), done);
    })
    .on('stop', (msg) => void stop(msg.graceMs as number))
    .answer('metrics', () => host.metrics())
    .answer('sessions', () => host.sessions());
  refill();
  const baselineRss = process.memoryUsage.rss();
  reportMemory(channel, host);
  channel.ready();
}

main();
