/**
 * Glue between a transport Link and the QMP layer for one monitor connection of a session: the
 * QmpEndpoint talks to the session's shared QmpHost; `shutdown` emits SHUTDOWN (e.g. `host-signal`
 * on SIGTERM) to every monitor of the session before the process or session goes away.
 */
import type { QmpEndpoint } from '../protocol/qmp/endpoint.js';
import { frame, greetingMessage } from '../protocol/qmp/messages.js';
import { QEMU_VERSION, QMP_CAPABILITIES } from '../protocol/qmp/data/version.js';
import { qmpEndpointModule } from './qmp-endpoint.lazy.js';
import type { Session } from './session.js';
import type { Endpoint, Link } from '../protocol/link.js';

export type QmpMonitor = Endpoint;

/** Emit SHUTDOWN `{guest: false, reason}` to every monitor of the session, then let it flush. */
export async function announceShutdown(session: Session, reason: string): Promise<void> {
  // No host yet: no monitor ran a command, so none is out of negotiation to get the event.
  session.qmpHostIfMade?.emit({ event: 'SHUTDOWN', data: { guest: false, reason } });
  await new Promise((r) => setImmediate(r));
}

/** Host wall-clock time with microsecond resolution (QEMU's event timestamps). */
function wallTime(): { seconds: number; microseconds: number } {
  const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  return { seconds: Math.floor(us / 1e6), microseconds: us % 1e6 };
}

export function attachQmp(
  session: Session,
  link: Link,
  quit: () => void,
  /** Only these commands run on this monitor (a read-only one); default: all. */
  allow?: (command: string) => boolean,
): QmpMonitor {
  session.onQuit(quit);
  // The greeting goes out now, the same bytes the endpoint would send; the QMP layer (endpoint,
  // host, commands) is made on the first input, so a launch's first qtest reply never waits for it.
  link.write(frame(greetingMessage(QEMU_VERSION, QMP_CAPABILITIES)));
  let made: QmpEndpoint | undefined;
  const endpointOf = (): QmpEndpoint =>
    (made ??= new (qmpEndpointModule().QmpEndpoint)({
      allow,
      host: session.qmpHost,
      extensions: session.qmpHost.extensions,
      sink: (text) => link.write(text),
      sinkBytes: (piece) => link.writeBytes(piece),
      // commands waiting for the client to read its replies: read no more input meanwhile
      holdInput: (held) => (held ? link.pause() : link.resume()),
      now: wallTime,
      limits: session.limits,
      logger: session.log,
      greeted: true,
    }));
  // Input waits while a qtest request's device work runs in slices (Session.whenIdle), in order.
  const waiting: Buffer[] = [];
  let gone = false;
  /** The peer ended its input: called once all of it is answered. */
  let ended: (() => void) | undefined;
  const run = (): void => {
    while (!gone && waiting.length > 0 && !session.workPending) {
      endpointOf().input(waiting.shift()!);
      try {
        // A command that started long work (none does today) finishes it before the next one.
        if (session.workPending) session.machine.work.finishPending();
      } catch (e) {
        session.log.warn({ err: e }, 'work started by a QMP command was cut short');
      }
    }
    if (!gone && waiting.length > 0) session.whenIdle(run);
    else if (!gone && ended) {
      // no endpoint yet: no command came, nothing waits
      if (made) made.whenAnswered(ended);
      else ended();
      ended = undefined;
    }
  };
  // Output drained: the commands the endpoint held go on (after any qtest work in progress, as input).
  const drained = (): void => {
    if (gone) return;
    if (session.workPending) session.whenIdle(drained);
    else made?.drained();
  };
  return {
    input: (chunk) => {
      waiting.push(chunk);
      if (waiting.length === 1) run();
    },
    drained,
    // A half-close: answer what was sent (the output permitting), then the transport closes.
    inputEnded: (done) => {
      ended = done;
      if (waiting.length === 0) run();
    },
    end: () => {
      const flush = (): void => {
        run();
        gone = true;
        made?.end();
      };
      if (waiting.length > 0) session.whenIdle(flush);
      else flush();
    },
  };
}
