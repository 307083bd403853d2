/** Test harness: an endpoint on a FakeHost that records every line it sends. */
import { QmpEndpoint } from '../../../src/protocol/qmp/endpoint.js';
import { ECHO_EXTENSION, FakeHost, fakeClock } from './fake-host.js';

export interface Harness {
  host: FakeHost;
  endpoint: QmpEndpoint;
  /** Everything sent so far, raw. */
  out: string[];
  /** Send text (UTF-8) and return the messages it produced, each without its CRLF. */
  send(text: string | Uint8Array): string[];
}

export function harness(opts: { negotiate?: boolean; limits?: { maxQmpMessageBytes: number; maxJsonDepth: number } } = {}): Harness {
  const host = new FakeHost();
  const out: string[] = [];
  const endpoint = new QmpEndpoint({ host, sink: (t) => (out.push(t), true), now: fakeClock(), limits: opts.limits, extensions: [ECHO_EXTENSION] });
  const h: Harness = {
    host,
    endpoint,
    out,
    send(text) {
      const before = out.length;
      endpoint.input(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
      return out.slice(before).map((l) => l.replace(/\r\n$/, ''));
    },
  };
  if (opts.negotiate ?? true) h.send('{"execute": "qmp_capabilities"}\n');
  return h;
}
