/**
 * The captured QEMU 10.2.2 schema: the writer prints it back byte for byte, query-qmp-schema is it plus
 * the x-qtestd entries, and the schema-driven argument checks give the oracle's texts (each expected
 * line below was observed on the oracle, `-nodefaults -machine none`).
 */
import t from 'tap';
import { writeJson } from '../../../src/protocol/qmp/json-writer.js';
import { readQmpCapture } from '../../../src/protocol/qmp/schema/captures.js';
import { parseQemuOutput } from '../../../src/protocol/qmp/schema/json-text.js';
import { QmpEndpoint } from '../../../src/protocol/qmp/endpoint.js';
import { ECHO_EXTENSION, FakeHost, fakeClock } from './fake-host.js';
import { harness } from './harness.js';

const err = (desc: string): string => `{"error": {"class": "GenericError", "desc": "${desc}"}}`;

t.test('the captured schema reply prints back byte for byte', (t) => {
  const raw = readQmpCapture('query-qmp-schema.reply');
  t.equal(writeJson(parseQemuOutput(raw)) + '\r\n', raw);
  t.end();
});

t.test('query-qmp-schema: QEMU reply, then the extensions', (t) => {
  const h = harness();
  const [line] = h.send('{"execute": "query-qmp-schema"}');
  const qemu = readQmpCapture('query-qmp-schema.reply').replace(/\]\}\r\n$/, '');
  t.ok(line.startsWith(qemu + ', {"name": "x-qtestd-'), 'prefix is the capture');
  t.end();
});

t.test('argument errors follow the schema with QEMU texts', (t) => {
  const h = harness();
  const cases: Array<[string, string]> = [
    ['{"execute":"qom-list-get","arguments":{"paths":["/machine", 3]}}', err("Invalid parameter type for 'paths[1]', expected: string")],
    ['{"execute":"query-cpu-model-expansion","arguments":{"type":"bogus","model":{"name":"max"}}}', err("Parameter 'type' does not accept value 'bogus'")],
    ['{"execute":"query-cpu-model-expansion","arguments":{"type":"full","model":{"name":"max","x":1}}}', err("Parameter 'model.x' is unexpected")],
    ['{"execute":"query-cpu-model-expansion","arguments":{"type":"full","model":{}}}', err("Parameter 'model.name' is missing")],
    ['{"execute":"object-add","arguments":{"qom-type":"nope","id":"a"}}', err("Parameter 'qom-type' does not accept value 'nope'")],
    ['{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"xbzrle"}]}}', err("Parameter 'capabilities[0].state' is missing")],
    ['{"execute":"qom-list-types","arguments":{"abstract":"yes"}}', err("Invalid parameter type for 'abstract', expected: boolean")],
    ['{"execute":"calc-dirty-rate","arguments":{"calc-time":1.5}}', err("Invalid parameter type for 'calc-time', expected: integer")],
    ['{"execute":"eject","arguments":{"x-bogus":1}}', err("Parameter 'x-bogus' is unexpected")],
    ['{"execute":"eject"}', err("Need exactly one of 'device' and 'id'")],
    ['{"execute":"eject","arguments":{"id":"cd0"}}', err('The command eject is not supported by qtestd')],
    ['{"execute":"query-jobs"}', '{"return": []}'],
  ];
  for (const [req, want] of cases) t.same(h.send(req), [want], req);
  t.end();
});

t.test('query-qmp-schema through sinkBytes: Buffers of about 64 KiB, the same bytes', (t) => {
  const whole = harness().send('{"execute": "query-qmp-schema", "id": 7}')[0] + '\r\n';
  const host = new FakeHost();
  const texts: string[] = [];
  const pieces: Buffer[] = [];
  const endpoint = new QmpEndpoint({
    host,
    sink: (text) => (texts.push(text), true),
    sinkBytes: (piece) => (pieces.push(piece), true),
    now: fakeClock(),
    extensions: [ECHO_EXTENSION],
  });
  endpoint.input(Buffer.from('{"execute": "qmp_capabilities"}\n'));
  const before = texts.length;
  endpoint.input(Buffer.from('{"execute": "query-qmp-schema", "id": 7}'));
  t.equal(texts.length, before, 'no string for the long reply');
  t.ok(pieces.length >= 3, `${pieces.length} pieces`);
  t.ok(
    pieces.every((p) => p.length <= 160 * 1024),
    'each piece is about 64 KiB',
  );
  t.equal(Buffer.concat(pieces).toString('latin1'), whole, 'byte for byte');
  t.ok(pieces[pieces.length - 1].toString('latin1').endsWith('}\r\n'), 'CRLF in the last piece');
  endpoint.input(Buffer.from('{"execute": "query-status"}'));
  t.equal(texts.length, before + 1, 'a short reply is one string');
  t.end();
});
