/**
 * The worker's side of worker-pool.ts: messages (with or without a passed socket) from the
 * accepting process, answers to its questions, and what happens when it goes away (the worker
 * is part of it: its connections close and it exits, as the process they belonged to died).
 */
import type { Socket } from 'node:net';
import type { WorkerMessage } from './worker-pool.js';

export type { WorkerMessage } from './worker-pool.js';

type Handler = (msg: WorkerMessage, socket?: Socket) => void;

export class WorkerChannel {
  private readonly handlers = new Map<string, Handler>();
  private readonly questions = new Map<string, (msg: WorkerMessage) => unknown>();

  constructor(onParentGone: () => void = () => process.exit(1)) {
    if (!process.send) throw new Error('a worker must be started by a WorkerPool (no IPC channel)');
    process.on('message', (msg: WorkerMessage, socket?: Socket) => {
      if (!msg || typeof msg !== 'object') return;
      if (msg.t === 'ask') {
        const answer = this.questions.get(msg.question as string);
        // an answer may be a promise (metrics are gathered asynchronously)
        void Promise.resolve(answer?.(msg)).then(
          (value) => this.send({ t: 'answer', ask: msg.ask, value }),
          (err: Error) =>
            process.stderr.write(`qtestd worker: cannot answer ${String(msg.question)}: ${err.message}\n`),
        );
        return;
      }
      this.handlers.get(msg.t)?.(msg, socket);
    });
    process.on('disconnect', onParentGone);
    // The channel can close before this listener exists (the accepting process exited while this
    // worker was still loading: ESM loading lets the event loop run); 'disconnect' was emitted then.
    if (!process.connected) process.nextTick(onParentGone);
    this.index = Number(process.env.QTESTD_WORKER_INDEX ?? '0');
  }

  readonly index: number;

  on(type: string, handler: Handler): this {
    this.handlers.set(type, handler);
    return this;
  }

  answer(question: string, fn: (msg: WorkerMessage) => unknown): this {
    this.questions.set(question, fn);
    return this;
  }

  send(msg: WorkerMessage): void {
    // the channel is gone only when the accepting process is: 'disconnect' handles that
    if (process.connected) process.send!(msg, undefined, {}, () => {});
  }

  ready(): void {
    this.send({ t: 'ready' });
  }
}
