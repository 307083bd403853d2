/**
 * Adapts a `ws` WebSocket to an Endpoint: each text message is one protocol unit (a qtest line,
 * or a QMP JSON object); each unit written by the endpoint becomes one message without its line
 * terminator (a qtest reply written in several pieces becomes one fragmented message). Backpressure follows the socket's bufferedAmount.
 */
import { isAscii } from 'node:buffer';
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
  const afterSend = (): void => {
    if (waitingForDrain && ws.bufferedAmount < HIGH_WATER_BYTES / 2) {
      waitingForDrain = false;
      endpoint.drained();
    }
  };
  const backedUp = (): boolean => {
    if (ws.bufferedAmount > HIGH_WATER_BYTES) {
      waitingForDrain = true;
      return false;
    }
    return true;
  };
  const link: Link = {
    write(text: string): boolean {
      if (closed) return true;
      const unit = kind === 'qtest' ? text.replace(/\n$/, '') : text.replace(/\r\n$/, '');
      ws.send(unit, { binary: false }, afterSend);
      return backedUp();
    },
    writeBytes(bytes: Buffer): boolean {
      if (closed) return true;
      // Text messages are UTF-8: latin1 bytes above 0x7f (an echoed unknown word) are transcoded.
      const data = isAscii(bytes) ? bytes : Buffer.from(bytes.toString('latin1'), 'utf8');
      // Each LF ends one text message; bytes after the last LF start a message that the next
      // piece continues (a large qtest reply arrives in pieces, sent as fragments of one message).
      let from = 0;
      for (;;) {
        const nl = data.indexOf(0x0a, from);
        if (nl < 0) {
          if (from < data.length) ws.send(data.subarray(from), { binary: false, fin: false }, afterSend);
          break;
        }
        // A QMP message's CRLF is never split across pieces: its CR is dropped with the LF.
        const end = kind === 'qmp' && nl > from && data[nl - 1] === 0x0d ? nl - 1 : nl;
        ws.send(data.subarray(from, end), { binary: false, fin: true }, afterSend);
        from = nl + 1;
      }
      return backedUp();
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
