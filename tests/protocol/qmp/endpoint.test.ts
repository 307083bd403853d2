import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { QmpEndpoint } from '../../../src/protocol/qmp/endpoint.js';
import { FakeHost, fakeClock } from './fake-host.js';
import { harness } from './harness.js';
import { normaliseTimestamps, parseTranscript } from './replay.js';
import { join } from 'node:path';
import { QEMU_CAPTURES } from '../../helpers/reference.js';

const REF = join(QEMU_CAPTURES, 'qmp');

/** Replay one reference capture (already past the greeting) against a fresh harness. */
function replayCapture(t: Test, file: string, negotiate: boolean): void {
  const h = harness({ negotiate });
  for (const step of parseTranscript(readFileSync(`${REF}/${file}`, 'utf8'))) {
    if (step.send === undefined) continue;
    const got = h.send(step.send + '\n').map(normaliseTimestamps);
    t.same(got, step.expect.map(normaliseTimestamps), `${file}: ${step.send}`);
  }
}

t.test('sends the greeting at once, byte for byte', (t) => {
  const out: string[] = [];
  new QmpEndpoint({ host: new FakeHost(), sink: (s) => (out.push(s), true), now: fakeClock() });
  t.same(out, [readFileSync(`${REF}/greeting.raw`, 'utf8')]);
  t.end();
});

t.test('negotiation reply matches the capture', (t) => {
  const h = harness({ negotiate: false });
  h.send('{"execute": "qmp_capabilities"}\n');
  t.equal(h.out[h.out.length - 1], readFileSync(`${REF}/qmp_capabilities.reply.raw`, 'utf8'));
  t.end();
});

t.test('replays the reference captures', (t) => {
  replayCapture(t, 'before-capabilities.txt', false);
  replayCapture(t, 'errors.txt', true);
  replayCapture(t, 'id-echo.txt', true);
  replayCapture(t, 'system-reset.txt', true);
  replayCapture(t, 'quit.txt', true);
  t.end();
});

t.test('negotiation: oob, bad capabilities, arguments checked before "already complete"', (t) => {
  const h = harness({ negotiate: false });
  t.same(h.send('{"exec-oob": "query-status"}\n'), [
    `{"error": {"class": "GenericError", "desc": "QMP input member 'exec-oob' is unexpected"}}`,
  ]);
  t.same(h.send('{"execute": "qmp_capabilities", "arguments": {"enable": ["bogus"]}}\n'), [
    `{"error": {"class": "GenericError", "desc": "Parameter 'null' does not accept value 'bogus'"}}`,
  ]);
  t.same(h.send('{"execute": "qmp_capabilities", "arguments": {"enable": "oob"}}\n'), [
    `{"error": {"class": "GenericError", "desc": "Invalid parameter type for 'enable', expected: array"}}`,
  ]);
  t.same(h.send('{"execute": "qmp_capabilities", "arguments": {"enable": [1]}}\n'), [
    `{"error": {"class": "GenericError", "desc": "Invalid parameter type for 'enable[0]', expected: string"}}`,
  ]);
  t.same(h.send('{"execute": "qmp_capabilities", "arguments": {"enable": ["oob", "oob"]}, "id": 1}\n'), ['{"return": {}, "id": 1}']);
  t.same(h.send('{"exec-oob": "query-status", "id": 3}\n'), [
    '{"id": 3, "error": {"class": "GenericError", "desc": "The command query-status does not support OOB"}}',
  ]);
  t.same(h.send('{"exec-oob": "qmp_capabilities"}\n'), [
    '{"error": {"class": "GenericError", "desc": "The command qmp_capabilities does not support OOB"}}',
  ]);
  t.same(h.send('{"exec-oob": "nope"}\n'), ['{"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}']);
  t.same(h.send('{"execute": "query-status", "exec-oob": "query-status"}\n'), [
    `{"error": {"class": "GenericError", "desc": "QMP input member 'execute' clashes with 'exec-oob'"}}`,
  ]);
  t.same(h.send('{"execute": "qmp_capabilities", "arguments": {"enable": []}}\n'), [
    '{"error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}}',
  ]);
  t.same(h.send('{"execute": "qmp_capabilities", "arguments": {"bogus": 1}}\n'), [
    `{"error": {"class": "GenericError", "desc": "Parameter 'bogus' is unexpected"}}`,
  ]);
  t.end();
});

t.test('input object checks (oracle texts)', (t) => {
  const h = harness();
  const cases: Array<[string, string]> = [
    ['{}', `{"error": {"class": "GenericError", "desc": "QMP input lacks member 'execute'"}}`],
    ['{"id": 5}', `{"id": 5, "error": {"class": "GenericError", "desc": "QMP input lacks member 'execute'"}}`],
    ['{"execute": "query-status", "arguments": []}', `{"error": {"class": "GenericError", "desc": "QMP input member 'arguments' must be an object"}}`],
    ['{"execute": "query-status", "arguments": null}', `{"error": {"class": "GenericError", "desc": "QMP input member 'arguments' must be an object"}}`],
    ['{"execute": "query-status", "control": {}}', `{"error": {"class": "GenericError", "desc": "QMP input member 'control' is unexpected"}}`],
    ['{"arguments": {}, "execute": "query-status", "id": null}', '{"return": {"status": "running", "running": true}, "id": null}'],
    ['1', '{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}'],
    ['"abc"', '{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}'],
    ['{"execute": "\\u00e9\\ud83d\\ude00"}', '{"error": {"class": "CommandNotFound", "desc": "The command \\u00E9\\uD83D\\uDE00 has not been found"}}'],
    ["{'execute': 'single'}", '{"error": {"class": "CommandNotFound", "desc": "The command single has not been found"}}'],
  ];
  for (const [input, reply] of cases) t.same(h.send(input + '\n'), [reply], input);
  t.same(h.send('{"execute": "query-status", "id": [1, 1.5, 0.1, 1e999, 18446744073709551616]}\n'), [
    '{"return": {"status": "running", "running": true}, "id": [1, 1.5, 0.10000000000000001, inf, 1.8446744073709552e+19]}',
  ]);
  t.end();
});

t.test('several requests in one chunk and one request over many chunks', (t) => {
  const h = harness();
  t.same(h.send('{"execute":"query-status"}{"execute":"query-target","id":1}\n'), [
    '{"return": {"status": "running", "running": true}}',
    '{"return": {"arch": "aarch64"}, "id": 1}',
  ]);
  const req = '{"execute": "query-target", "id": "x"}\n';
  const got: string[] = [];
  for (const ch of req) got.push(...h.send(ch));
  t.same(got, ['{"return": {"arch": "aarch64"}, "id": "x"}']);
  t.end();
});

t.test('events: dropped before negotiation, sent after, and before the reply that caused them', (t) => {
  const h = harness({ negotiate: false });
  h.host.emit({ event: 'RESET', data: { guest: false, reason: 'host-qmp-system-reset' } });
  t.equal(h.out.length, 1, 'only the greeting');
  h.send('{"execute": "qmp_capabilities"}\n');
  t.same(h.send('{"execute": "stop"}\n'), [
    '{"timestamp": {"seconds": 1795628323, "microseconds": 342730}, "event": "STOP"}',
    '{"return": {}}',
  ]);
  t.same(h.send('{"execute": "stop"}\n'), ['{"return": {}}'], 'no STOP when already paused');
  t.same(h.send('{"execute": "query-status"}\n'), ['{"return": {"status": "paused", "running": false}}']);
  t.same(h.send('{"execute": "cont", "id": 9}\n'), [
    '{"timestamp": {"seconds": 1795628323, "microseconds": 342731}, "event": "RESUME"}',
    '{"return": {}, "id": 9}',
  ]);
  h.host.emit({ event: 'DEVICE_DELETED', data: { device: 'edu1', path: '/machine/peripheral/edu1' } });
  t.equal(
    h.out[h.out.length - 1],
    '{"timestamp": {"seconds": 1795628323, "microseconds": 342732}, "event": "DEVICE_DELETED", "data": {"device": "edu1", "path": "/machine/peripheral/edu1"}}\r\n',
  );
  t.end();
});

t.test('end() unsubscribes and silences the endpoint', (t) => {
  const h = harness();
  h.endpoint.end();
  t.equal(h.host.listeners.size, 0);
  const n = h.out.length;
  h.host.emit({ event: 'STOP' });
  h.send('{"execute": "query-status"}\n');
  t.equal(h.out.length, n);
  t.end();
});

t.test('a throwing host still gets exactly one reply', (t) => {
  const h = harness();
  h.host.runState = () => {
    throw new Error('boom');
  };
  t.same(h.send('{"execute": "query-status", "id": 1}\n'), [
    '{"id": 1, "error": {"class": "GenericError", "desc": "internal error: boom"}}',
  ]);
  t.end();
});

t.test('message limits come from Limits', (t) => {
  const h = harness({ limits: { maxQmpMessageBytes: 100, maxJsonDepth: 2 } });
  t.same(h.send('[[[1]]]\n'), [
    '{"error": {"class": "GenericError", "desc": "JSON nesting depth limit exceeded"}}',
    '{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}',
    '{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}',
    '{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}',
    '{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}',
  ]);
  t.same(h.send(`{"execute": "query-status", "id": "${'x'.repeat(200)}"}\n`).slice(0, 1), [
    '{"error": {"class": "GenericError", "desc": "JSON token size limit exceeded"}}',
  ]);
  t.end();
});
