/**
 * Small wrappers the service puts around endpoints and servers: input gating after shutdown,
 * idle-timer activity, and awaiting `listen`.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server } from 'node:net';
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
  };
}

export function withActivity(endpoint: Endpoint, touch: () => void): Endpoint {
  return {
    input: (c) => {
      touch();
      endpoint.input(c);
    },
    drained: () => endpoint.drained(),
    end: () => endpoint.end(),
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
