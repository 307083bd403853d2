/**
 * Adapts a `ws` WebSocket to an Endpoint: each text message is one protocol unit (a qtest line,
 * or a QMP JSON object); each unit written by the endpoint becomes one message without its line
 * terminator. Backpressure follows the socket's bufferedAmount.
 */
import type { WebSocket } from 'ws';
import type { Logger } from '../base/log.js';
import type { Endpoint, Link } from '../protocol/link.js';

const HIGH_WATER_BYTES = 1 << 20;

export function bindWebSocket(
  ws: WebSocket,
  makeEndpoint: (link: Link) => Endpoint,
  kind: 'qtest' | 'qmp',
  onClose?: () => void,
  log?: Logger,
): Endpoint {
  let closed = false;
  let waitingForDrain = false;
  const link: Link = {
    write(text: string): boolean {
      if (closed) return true;
      const unit = kind === 'qtest' ? text.replace(/\n$/, '') : text.replace(/\r\n$/, '');
      ws.send(unit, { binary: false }, () => {
        if (waitingForDrain && ws.bufferedAmount < HIGH_WATER_BYTES / 2) {
          waitingForDrain = false;
          endpoint.drained();
        }
      });
      if (ws.bufferedAmount > HIGH_WATER_BYTES) {
        waitingForDrain = true;
        return false;
      }
      return true;
    },
    pause: () => ws.pause(),
    resume: () => ws.resume(),
    close: () => ws.close(1000),
  };
  const endpoint = makeEndpoint(link);
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    try {
      if (kind === 'qtest') {
        const text = isBinary ? buf : buf;
        endpoint.input(text[text.length - 1] === 0x0a ? text : Buffer.concat([text, Buffer.from('\n')]));
      } else endpoint.input(buf);
    } catch (err) {
      // endpoints have their own error boundary; this is a last resort
      log?.warn({ err, kind }, 'endpoint threw past its error boundary');
    }
  });
  const finish = (): void => {
    if (closed) return;
    closed = true;
    endpoint.end();
    onClose?.();
  };
  ws.on('close', finish);
  ws.on('error', (err) => {
    // a reset or a protocol violation by the peer: the endpoint ends as on a close
    log?.debug({ err, kind }, 'WebSocket error; ending the link');
    finish();
  });
  return endpoint;
}
