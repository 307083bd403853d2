/**
 * Small wrappers the service puts around endpoints and servers: input gating after shutdown,
 * line deadlines and idle-timer activity, and awaiting `listen`.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server } from 'node:net';
import { endInput } from '../protocol/link.js';
import type { Endpoint } from '../protocol/link.js';

/** Input reaches `endpoint` only while `open()`; after a shutdown it is discarded. */
export function gated(open: () => boolean, endpoint: Endpoint): Endpoint {
  return {
    input: (c) => {
      if (open()) endpoint.input(c);
    },
    drained: () => {
      if (open()) endpoint.drained();
    },
    end: () => endpoint.end(),
    inputEnded: (done) => (open() ? endInput(endpoint, done) : done()),
  };
}

/**
 * Watches the lines of a byte stream (slowloris defence): `request` is called for every chunk
 * that completes a line (activity for the idle timer: stray bytes are not activity), and
 * `expired` once a line stays unfinished for `ms` after its first byte — more bytes of the same
 * line do not reset that deadline. `stop` clears it (the connection is over).
 */
export function lineWatch(
  ms: number,
  request: () => void,
  expired: () => void,
): { input: (chunk: Buffer) => void; stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    clearTimeout(timer);
    timer = undefined;
  };
  const start = (): void => {
    if (!ms) return;
    timer = setTimeout(expired, ms);
    timer.unref();
  };
  return {
    input: (chunk) => {
      const nl = chunk.lastIndexOf(0x0a);
      if (nl < 0) {
        if (!timer) start(); // an unfinished line begins (or goes on: its deadline stands)
        return;
      }
      request();
      stop();
      if (nl < chunk.length - 1) start(); // the chunk ends inside a new line
    },
    stop,
  };
}

export function listen(server: Server | HttpServer, go: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
    go();
  });
}
