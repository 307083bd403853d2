/**
 * A pool of pre-forked worker processes for the accepting process (the service, the warm-launch
 * daemon): each accepted connection's handle is passed to one worker (`child.send(msg, socket)`,
 * so the worker owns the descriptor and the accepting process never relays a byte). The accepting
 * process never waits on a worker: it sends, and answers its own requests (health, limits,
 * signals) from its own state; questions to workers (`ask`) have a deadline and fall back to the
 * last answer. A worker that dies is replaced; its connections were its own and close with it.
 *
 * The other side of the channel is worker-channel.ts.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Logger } from '../base/log.js';

/** A message on the channel: always an object with a type tag `t`. */
export interface WorkerMessage {
  t: string;
  [key: string]: unknown;
}

export interface WorkerPoolOptions {
  /** The worker's entry module (an absolute path). */
  module: string;
  size: number;
  /** Environment for every worker (on top of this process's). */
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** A message from worker `index` that is not an answer to `ask`. */
  onMessage(index: number, msg: WorkerMessage): void;
  /** Worker `index` exited (it is replaced unless the pool is stopping). */
  onExit?(index: number, code: number | null, signal: NodeJS.Signals | null): void;
  /** Worker `index` (a new one, or the replacement of a dead one) said it is ready. */
  onReady?(index: number): void;
}

interface Slot {
  child: ChildProcess;
  /** Connections handed to it and not reported closed yet. */
  load: number;
  ready: Promise<void>;
  isReady: boolean;
  alive: boolean;
  /** The worker's last answer to each question, for when it does not answer in time. */
  last: Map<string, unknown>;
  /** Replaced by recycle(): its exit is expected and starts nothing. */
  retired: boolean;
  /** What the worker last said of its memory budget (`{t: 'memory'}`), if it has one. */
  memory?: { inUse: number; share: number };
}

/** A worker with less than this part of its share free is short of memory: room decides first. */
const TIGHT_ROOM = 0.25;

/** What pickWorker weighs of a worker. */
export interface WorkerLoad {
  /** Connections handed to it and not closed yet. */
  load: number;
  /** Its memory share and what its sessions hold of it, as it last said (none: no budget). */
  memory?: { inUse: number; share: number };
}

/** Bytes a worker may still take (Infinity: it has no budget, or did not say). */
function room(s: WorkerLoad): number {
  return s.memory ? s.memory.share - s.memory.inUse : Infinity;
}

function tight(s: WorkerLoad): boolean {
  return s.memory !== undefined && room(s) < TIGHT_ROOM * s.memory.share;
}

/**
 * Is `a` a better place than `b` for a new session? Fewer connections first, then the more room
 * in its memory share; when either is short of memory, the more room first.
 */
function better(a: WorkerLoad, b: WorkerLoad): boolean {
  if ((tight(a) || tight(b)) && room(a) !== room(b)) return room(a) > room(b);
  if (a.load !== b.load) return a.load < b.load;
  return room(a) > room(b);
}

/** The index of the best worker for a new connection (`better`); the first of equals. */
export function pickWorker(workers: readonly WorkerLoad[]): number {
  let best = 0;
  for (let i = 1; i < workers.length; i++) if (better(workers[i]!, workers[best]!)) best = i;
  return best;
}

/**
 * Stop reading from a socket that is about to be handed over. An HTTP upgrade's socket is still
 * reading in this process (the HTTP parser had it flowing), and this process keeps its descriptor
 * until the hand-over message is written: a WebSocket frame the client sends as soon as the worker
 * answered 101 could be read here in that window, and would be lost when this copy is closed.
 * `pause()` alone keeps the handle reading into the stream's buffer, so the handle is stopped too
 * (net.Socket offers no public call for that; `reading` is what its own _read() consults).
 */
function stopReading(socket: Socket): void {
  socket.pause();
  const handle = (socket as Socket & { _handle?: { reading?: boolean; readStop?: () => number } })._handle;
  if (handle?.readStop && handle.reading !== false) {
    handle.reading = false;
    handle.readStop();
  }
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private stopping = false;
  private nextAsk = 1;
  private readonly asks = new Map<number, (value: unknown) => void>();

  constructor(private readonly opts: WorkerPoolOptions) {
    for (let i = 0; i < opts.size; i++) this.slots.push(this.spawn(i));
  }

  get size(): number {
    return this.slots.length;
  }

  /** Resolves once every worker said it is ready. */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.ready));
  }

  /** The pids of the workers (for tests and logs). */
  pids(): number[] {
    return this.slots.map((s) => s.child.pid ?? 0);
  }

  private spawn(index: number): Slot {
    const child = fork(this.opts.module, [], {
      env: { ...process.env, ...this.opts.env, QTESTD_WORKER_INDEX: String(index) },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      // tsx and other loaders the accepting process runs under apply to the workers too
      execArgv: process.execArgv,
    });
    let readyNow: () => void = () => {};
    const slot: Slot = {
      child,
      load: 0,
      ready: new Promise<void>((r) => (readyNow = r)),
      isReady: false,
      alive: true,
      last: new Map(),
      retired: false,
    };
    child.on('message', (msg: WorkerMessage) => {
      if (!msg || typeof msg !== 'object') return;
      if (msg.t === 'ready') {
        slot.isReady = true;
        readyNow();
        return this.opts.onReady?.(index);
      }
      if (msg.t === 'answer') {
        const done = this.asks.get(msg.ask as number);
        if (done) done(msg.value);
        return;
      }
      if (msg.t === 'memory') {
        slot.memory = { inUse: Number(msg.inUse), share: Number(msg.share) };
        return;
      }
      if (msg.t === 'closed') slot.load = Math.max(0, slot.load - 1);
      this.opts.onMessage(index, msg);
    });
    // EPIPE on the channel of a worker that just died: 'exit' follows and replaces it
    child.on('error', (err) => this.opts.log.warn({ err, worker: index }, 'worker channel error'));
    child.on('exit', (code, signal) => {
      slot.alive = false;
      readyNow();
      if (slot.retired) return; // recycled: its successor already took its place
      this.opts.onExit?.(index, code, signal); // before the replacement: lastAnswer() still sees it
      if (this.stopping) return;
      this.opts.log.error({ event: 'worker-exit', worker: index, code, signal }, 'worker died; starting another');
      this.slots[index] = this.spawn(index);
    });
    return slot;
  }

  /** Worker `index`'s last answer to `question` (kept across its death, until it is replaced). */
  lastAnswer<T>(index: number, question: string): T | undefined {
    return this.slots[index]?.last.get(question) as T | undefined;
  }

  /**
   * Replace worker `index` by a fresh process (to give its memory back to the system: a process
   * that exits returns everything). Only for a worker with no connections; connections handed
   * to `index` from now on wait for the successor to be ready. `msg` tells the old one to stop.
   */
  recycle(index: number, msg: WorkerMessage): void {
    const old = this.slots[index];
    if (!old || this.stopping || old.load > 0) return;
    old.retired = true;
    this.slots[index] = this.spawn(index);
    if (old.alive && old.child.connected) old.child.send(msg, (err) => err && old.child.kill('SIGKILL'));
  }

  /** The index of the least loaded worker (fewest connections, then most memory room: `better`). */
  pick(): number {
    return pickWorker(this.slots);
  }

  /**
   * Hand `socket` to worker `index` (the least loaded one by default) with `msg`; the worker
   * reports `{t: 'closed'}` when the connection is over. Returns the worker's index, or -1 when it
   * could not take the connection (the socket is then still ours).
   */
  hand(msg: WorkerMessage, socket: Socket, index = this.pick()): number {
    const slot = this.slots[index];
    if (!slot?.alive || !slot.child.connected) return -1;
    stopReading(socket);
    slot.load++;
    if (!slot.isReady) {
      // a handle sent before the worker listens would be lost: hold the connection until then
      void slot.ready.then(() => {
        if (slot.alive && slot.child.connected) this.send(slot, index, msg, socket);
        else socket.destroy();
      });
      return index;
    }
    this.send(slot, index, msg, socket);
    return index;
  }

  private send(slot: Slot, index: number, msg: WorkerMessage, socket: Socket): void {
    try {
      slot.child.send(msg, socket, (err) => {
        if (err) {
          slot.load = Math.max(0, slot.load - 1);
          this.opts.log.warn({ err, worker: index }, 'could not hand a connection to a worker');
          socket.destroy();
        }
      });
    } catch (err) {
      slot.load = Math.max(0, slot.load - 1);
      this.opts.log.warn({ err, worker: index }, 'could not hand a connection to a worker');
      socket.destroy();
    }
  }

  /**
   * Send `msg` with a listening handle (bound by this process) to worker `index`; this process
   * keeps its own copy open. Returns false when that worker cannot take it (it is not ready, or
   * gone: its replacement says ready again).
   */
  share(index: number, msg: WorkerMessage, handle: object): boolean {
    const slot = this.slots[index];
    if (!slot?.alive || !slot.isReady || !slot.child.connected) return false;
    // child_process passes a bare TCP/Pipe handle as such ('net.Native'); its types only name sockets and servers
    slot.child.send(msg, handle as Socket, (err) => err && this.opts.log.warn({ err, worker: index }, 'share failed'));
    return true;
  }

  /** Send a message without a handle to one worker (or to all). */
  post(msg: WorkerMessage, index?: number): void {
    const targets = index === undefined ? this.slots : [this.slots[index]!];
    for (const s of targets) {
      if (s.alive && s.child.connected) s.child.send(msg, (err) => err && this.opts.log.debug({ err }, 'post failed'));
    }
  }

  /**
   * Ask every live worker `question`; each answer (or, past `deadlineMs`, that worker's previous
   * answer, or nothing) is returned in worker order. Never waits longer than the deadline.
   */
  async ask<T>(question: string, deadlineMs: number, args: Record<string, unknown> = {}): Promise<T[]> {
    const answers = await Promise.all(
      this.slots.map(
        (slot) =>
          new Promise<T | undefined>((resolve) => {
            if (!slot.alive || !slot.child.connected) return resolve(slot.last.get(question) as T | undefined);
            const id = this.nextAsk++;
            const timer = setTimeout(() => {
              this.asks.delete(id);
              resolve(slot.last.get(question) as T | undefined);
            }, deadlineMs);
            this.asks.set(id, (value) => {
              clearTimeout(timer);
              this.asks.delete(id);
              slot.last.set(question, value);
              resolve(value as T);
            });
            slot.child.send({ t: 'ask', ask: id, question, ...args }, (err) => {
              if (err) this.opts.log.debug({ err }, 'ask failed');
            });
          }),
      ),
    );
    return answers.filter((a): a is Awaited<T> => a !== undefined) as T[];
  }

  /**
   * Tell every worker to stop (`msg`) and wait at most `graceMs` for them to exit. One that is
   * still there after `killAfterMs` is killed (the timer does not keep this process alive: if it
   * exits first, a worker notices the closed channel and stops on its own).
   */
  async stop(msg: WorkerMessage, graceMs: number, killAfterMs = graceMs): Promise<void> {
    this.stopping = true;
    const exits = this.slots.map((s) =>
      s.alive ? new Promise<void>((r) => s.child.once('exit', () => r())) : Promise.resolve(),
    );
    this.post(msg);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(exits), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    if (this.slots.every((s) => !s.alive)) return;
    setTimeout(
      () => {
        for (const s of this.slots) if (s.alive) s.child.kill('SIGKILL');
      },
      Math.max(0, killAfterMs - graceMs),
    ).unref();
  }
}
