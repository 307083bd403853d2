import { readFileSync } from 'node:fs';
import t from 'tap';
import { JsonStream, QEMU_JSON_LIMITS } from '../../../src/protocol/qmp/json-stream.js';
import type { JsonValue } from '../../../src/protocol/qmp/json-value.js';
import { writeJson } from '../../../src/protocol/qmp/json-writer.js';
import { harness } from './harness.js';
import { QmpEndpoint } from '../../../src/protocol/qmp/endpoint.js';
import { arg } from '../../../src/protocol/qmp/args.js';
import { defineExtension, type ExtensionName } from '../../../src/protocol/qmp/registry.js';
import { FakeHost, fakeClock } from './fake-host.js';
import { join } from 'node:path';
import { QEMU_CAPTURES } from '../../helpers/reference.js';

const REF = join(QEMU_CAPTURES, 'qmp');

/** The `return` members of a captured reply, each re-printed alone, keyed by `name`. */
function capturedEntries(file: string): Map<string, string> {
  const [item] = new JsonStream(QEMU_JSON_LIMITS).push(readFileSync(`${REF}/${file}`));
  const list = (item as unknown as { value: { return: Array<Record<string, JsonValue>> } }).value.return;
  return new Map(list.map((e) => [e.name as string, writeJson(e)]));
}

/** The members of our reply's `return` list, re-printed alone. */
function entries(reply: string): string[] {
  const [item] = new JsonStream(QEMU_JSON_LIMITS).push(Buffer.from(reply));
  return (item as unknown as { value: { return: JsonValue[] } }).value.return.map(writeJson);
}

t.test('query-status, query-version, query-target, query-cpus-fast match the captures', (t) => {
  const h = harness();
  for (const [cmd, file] of [
    ['query-status', 'query-status.json'],
    ['query-version', 'query-version.json'],
    ['query-target', 'query-target.json'],
    ['query-cpus-fast', 'query-cpus-fast.json'],
    ['query-pci', 'query-pci.json'],
  ]) {
    t.same(h.send(`{"execute": "${cmd}"}`), [readFileSync(`${REF}/${file}`, 'utf8').replace(/\r\n$/, '')], cmd);
  }
  t.end();
});

t.test('query-machines lists the modelled machines exactly as QEMU prints them', (t) => {
  const h = harness();
  const captured = capturedEntries('query-machines.json');
  const ours = entries(h.send('{"execute": "query-machines"}')[0]);
  t.same(ours, [captured.get('none'), captured.get('virt-10.2')]);
  const withProps = h.send('{"execute": "query-machines", "arguments": {"compat-props": true}}')[0];
  t.match(withProps, '"name": "virt-10.2", "compat-props": [{"qom-type": "virtio-iommu-pci", "property": "aw-bits", "value": "48"}]');
  t.match(withProps, '"name": "none", "compat-props": []');
  t.same(h.send('{"execute": "query-machines", "arguments": {"compat-props": 1}}'), [
    `{"error": {"class": "GenericError", "desc": "Invalid parameter type for 'compat-props', expected: boolean"}}`,
  ]);
  t.end();
});

t.test('query-cpu-definitions lists the modelled CPUs exactly as QEMU prints them', (t) => {
  const h = harness();
  const captured = capturedEntries('query-cpu-definitions.json');
  const ours = entries(h.send('{"execute": "query-cpu-definitions"}')[0]);
  t.same(ours, [
    captured.get('cortex-a57'),
    captured.get('max'),
    captured.get('cortex-a53'),
    '{"name": "future-cpu", "typename": "future-cpu-arm-cpu", "static": false, "deprecated": false}',
  ]);
  t.end();
});

t.test('qom-list-types: implements, abstract, member shapes', (t) => {
  const h = harness();
  const concrete = capturedEntries('qom-list-types-device-concrete.json');
  const all = capturedEntries('qom-list-types-abstract.json');
  t.same(entries(h.send('{"execute": "qom-list-types", "arguments": {"implements": "device", "abstract": false}}')[0]), [
    concrete.get('edu'),
    concrete.get('pci-testdev'),
    concrete.get('pcie-root-port'),
  ]);
  const everything = entries(h.send('{"execute": "qom-list-types", "arguments": {"abstract": true}}')[0]);
  t.equal(everything.length, 11);
  for (const name of ['object', 'interface', 'device', 'pci-device', 'edu']) {
    t.ok(everything.includes(all.get(name) as string), `${name} as captured`);
  }
  t.same(h.send('{"execute": "qom-list-types", "arguments": {"implements": "pci-express-device"}}'), [
    '{"return": [{"name": "pcie-root-port", "parent": "pcie-root-port-base"}]}',
  ]);
  t.same(h.send('{"execute": "qom-list-types", "arguments": {"implements": "edu"}}'), ['{"return": [{"name": "edu", "parent": "pci-device"}]}']);
  t.same(h.send('{"execute": "qom-list-types", "arguments": {"implements": "nope"}}'), ['{"return": []}']);
  t.same(h.send('{"execute": "qom-list-types", "arguments": {"abstract": null}}'), [
    `{"error": {"class": "GenericError", "desc": "Invalid parameter type for 'abstract', expected: boolean"}}`,
  ]);
  t.same(h.send('{"execute": "qom-list-types", "arguments": {"implements": null}}'), [
    `{"error": {"class": "GenericError", "desc": "Invalid parameter type for 'implements', expected: string"}}`,
  ]);
  t.end();
});

t.test('qom-list / qom-get / qom-set: paths and errors as on QEMU 10.2.2', (t) => {
  const h = harness();
  const cases: Array<[string, string]> = [
    ['{"execute": "qom-list", "arguments": {"path": "/machine/peripheral-anon"}}', '{"return": [{"name": "type", "type": "string"}, {"name": "device[0]", "type": "child<edu>"}]}'],
    ['{"execute": "qom-list", "arguments": {"path": "peripheral-anon"}}', '{"return": [{"name": "type", "type": "string"}, {"name": "device[0]", "type": "child<edu>"}]}'],
    ['{"execute": "qom-list", "arguments": {"path": "device[0]"}}', `{"error": {"class": "GenericError", "desc": "Path 'device[0]' is ambiguous"}}`],
    ['{"execute": "qom-list", "arguments": {"path": ""}}', `{"error": {"class": "GenericError", "desc": "Path '' is ambiguous"}}`],
    ['{"execute": "qom-list", "arguments": {"path": "/nope"}}', `{"error": {"class": "DeviceNotFound", "desc": "Device '/nope' not found"}}`],
    ['{"execute": "qom-list", "arguments": {}}', `{"error": {"class": "GenericError", "desc": "Parameter 'path' is missing"}}`],
    ['{"execute": "qom-get", "arguments": {"path": "/nope", "property": "x"}}', `{"error": {"class": "DeviceNotFound", "desc": "Device '/nope' not found"}}`],
    ['{"execute": "qom-get", "arguments": {"path": "/machine", "property": "nope"}}', `{"error": {"class": "GenericError", "desc": "Property 'virt-10.2-machine.nope' not found"}}`],
    ['{"execute": "qom-get", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "dma_mask"}}', '{"return": 18446744073709551615}'],
    ['{"execute": "qom-get", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "type"}}', '{"return": "edu"}'],
    ['{"execute": "qom-get", "arguments": {"path": "/machine", "property": "peripheral-anon"}}', '{"return": "/machine/peripheral-anon"}'],
    ['{"execute": "qom-get", "arguments": {"path": "machine", "property": "type"}}', '{"return": "virt-10.2-machine"}'],
    ['{"execute": "qom-get", "arguments": {"path": "device[0]", "property": "type"}}', `{"error": {"class": "DeviceNotFound", "desc": "Device 'device[0]' not found"}}`],
    ['{"execute": "qom-get", "arguments": {"path": "", "property": "type"}}', `{"error": {"class": "DeviceNotFound", "desc": "Device '' not found"}}`],
    ['{"execute": "qom-get", "arguments": {"path": "/", "property": "type"}}', '{"return": "container"}'],
    ['{"execute": "qom-get", "arguments": {"path": "/machine/", "property": "type"}}', '{"return": "virt-10.2-machine"}'],
    ['{"execute": "qom-get", "arguments": {"path": "//machine", "property": "type"}}', '{"return": "virt-10.2-machine"}'],
    ['{"execute": "qom-set", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "dma_mask", "value": "x"}}', `{"error": {"class": "GenericError", "desc": "Parameter 'dma_mask' expects uint64"}}`],
    ['{"execute": "qom-set", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "dma_mask", "value": 255}}', '{"return": {}}'],
    ['{"execute": "qom-get", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "dma_mask"}}', '{"return": 255}'],
    ['{"execute": "qom-set", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "dma_mask"}}', `{"error": {"class": "GenericError", "desc": "Parameter 'value' is missing"}}`],
    ['{"execute": "qom-set", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "type", "value": "x"}}', `{"error": {"class": "GenericError", "desc": "Property 'edu.type' is not writable"}}`],
    ['{"execute": "qom-set", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "nope", "value": "x"}}', `{"error": {"class": "GenericError", "desc": "Property 'edu.nope' not found"}}`],
    ['{"execute": "qom-get", "arguments": {"path": "/machine", "property": 7}}', `{"error": {"class": "GenericError", "desc": "Invalid parameter type for 'property', expected: string"}}`],
  ];
  for (const [req, reply] of cases) t.same(h.send(req), [reply], req);
  t.end();
});

t.test('device_add / device_del pass through to the host; driver checked as QEMU does', (t) => {
  const h = harness();
  t.same(h.send('{"execute": "device_add", "arguments": {}}'), [`{"error": {"class": "GenericError", "desc": "Parameter 'driver' is missing"}}`]);
  t.same(h.send('{"execute": "device_add", "arguments": {"driver": 7}}'), [`{"error": {"class": "GenericError", "desc": "Parameter 'driver' is missing"}}`]);
  t.same(h.send('{"execute": "device_add", "arguments": {"driver": "nope"}}'), [`{"error": {"class": "GenericError", "desc": "'nope' is not a valid device model name"}}`]);
  t.same(h.send('{"execute": "device_add", "arguments": {"driver": "edu", "id": "edu1"}}'), [`{"error": {"class": "GenericError", "desc": "Bus 'pcie.0' does not support hotplugging"}}`]);
  t.same(h.send('{"execute": "device_add", "arguments": {"driver": "edu", "id": "edu1", "bus": "rp0", "dma_mask": 5}}'), ['{"return": {}}']);
  t.match(h.host.calls[h.host.calls.length - 1], /"dma_mask":"?5/);
  t.same(h.send('{"execute": "device_del", "arguments": {"id": "edu1"}}'), [
    '{"return": {}}',
    '{"timestamp": {"seconds": 1795628323, "microseconds": 342730}, "event": "DEVICE_DELETED", "data": {"device": "edu1", "path": "/machine/peripheral/edu1"}}',
  ], 'reply, then DEVICE_DELETED (afterReply)');
  t.same(h.send('{"execute": "device_del", "arguments": {"id": "edu1"}}'), [`{"error": {"class": "DeviceNotFound", "desc": "Device 'edu1' not found"}}`]);
  t.same(h.send('{"execute": "device_del", "arguments": {}}'), [`{"error": {"class": "GenericError", "desc": "Parameter 'id' is missing"}}`]);
  t.end();
});

t.test('human-monitor-command', (t) => {
  const h = harness();
  const hmp = (line: string, extra = ''): string[] =>
    h.send(`{"execute": "human-monitor-command", "arguments": {"command-line": ${JSON.stringify(line)}${extra}}}`);
  t.same(hmp('info pci'), ['{"return": "fake pci line 1\\r\\nfake pci line 2\\r\\n"}']);
  t.same(hmp('  info   mtree  '), ['{"return": "fake mtree line 1\\r\\nfake mtree line 2\\r\\n"}']);
  t.same(hmp('info qtree'), ['{"return": "fake qtree line 1\\r\\nfake qtree line 2\\r\\n"}']);
  t.same(hmp('bogus'), [`{"return": "unknown command: 'bogus'\\r\\n"}`]);
  t.same(hmp('bogus arg'), [`{"return": "unknown command: 'bogus'\\r\\n"}`]);
  t.same(hmp('info bogus'), [`{"return": "unknown command: 'info bogus'\\r\\n"}`]);
  t.same(hmp('info  bogus arg'), [`{"return": "unknown command: 'info  bogus'\\r\\n"}`]);
  t.same(hmp('INFO pci'), [`{"return": "unknown command: 'INFO'\\r\\n"}`]);
  t.same(hmp(''), ['{"return": ""}']);
  t.same(hmp('info status'), ['{"return": "VM status: running\\r\\n"}']);
  t.same(hmp('info version'), ['{"return": "10.2.2\\r\\n"}']);
  t.same(hmp('info pci extra'), ['{"return": "pci: extraneous characters at the end of line\\r\\nTry \\"help info pci\\" for more information\\r\\n"}']);
  t.same(hmp('info mtree x'), ['{"return": "mtree: extraneous characters at the end of line\\r\\nTry \\"help info mtree\\" for more information\\r\\n"}']);
  t.same(hmp('info mtree -x'), ['{"return": "mtree: unsupported option -x\\r\\nTry \\"help info mtree\\" for more information\\r\\n"}']);
  t.same(hmp('info mtree -o -f'), ['{"return": "mtree: unsupported option -f\\r\\nTry \\"help info mtree\\" for more information\\r\\n"}']);
  t.same(hmp('info qtree -b -b'), ['{"return": "qtree: extraneous characters at the end of line\\r\\nTry \\"help info qtree\\" for more information\\r\\n"}'].map((s) => s.replace('extraneous characters at the end of line', 'unsupported option -b')));
  t.same(hmp('stop x'), ['{"return": "stop|s: extraneous characters at the end of line\\r\\nTry \\"help stop\\" for more information\\r\\n"}']);
  t.same(hmp('system_reset x'), ['{"return": "system_reset: extraneous characters at the end of line\\r\\nTry \\"help system_reset\\" for more information\\r\\n"}']);
  t.same(hmp('help stop'), ['{"return": "stop|s  -- stop emulation\\r\\n"}']);
  t.same(hmp('help info pci'), ['{"return": "info pci  -- show PCI info\\r\\n"}']);
  t.same(hmp('help pci'), [`{"return": "unknown command: 'pci'\\r\\n"}`]);
  t.same(hmp('stop'), ['{"timestamp": {"seconds": 1795628323, "microseconds": 342730}, "event": "STOP"}', '{"return": ""}']);
  t.same(hmp('info status'), ['{"return": "VM status: paused\\r\\n"}']);
  t.same(hmp('c'), ['{"timestamp": {"seconds": 1795628323, "microseconds": 342731}, "event": "RESUME"}', '{"return": ""}']);
  t.same(hmp('system_reset'), [
    '{"timestamp": {"seconds": 1795628323, "microseconds": 342732}, "event": "RESET", "data": {"guest": false, "reason": "host-qmp-system-reset"}}',
    '{"return": ""}',
  ]);
  t.same(hmp('info status', ', "cpu-index": 0'), ['{"return": "VM status: running\\r\\n"}']);
  t.same(hmp('info status', ', "cpu-index": 5'), [`{"error": {"class": "GenericError", "desc": "Parameter 'cpu-index' expects a CPU number"}}`]);
  t.same(hmp('info status', ', "cpu-index": 1.5'), [`{"error": {"class": "GenericError", "desc": "Invalid parameter type for 'cpu-index', expected: integer"}}`]);
  t.same(hmp('info status', ', "cpu-index": 99999999999999999999'), [`{"error": {"class": "GenericError", "desc": "Invalid parameter type for 'cpu-index', expected: integer"}}`]);
  t.same(hmp('quit'), [
    '{"timestamp": {"seconds": 1795628323, "microseconds": 342733}, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}',
    '{"return": ""}',
  ]);
  t.end();
});

t.test('query-commands and x-qtestd extensions', (t) => {
  const h = harness();
  const names = entries(h.send('{"execute": "query-commands"}')[0]);
  for (const n of ['qmp_capabilities', 'quit', 'qom-get', 'device_del', 'human-monitor-command', 'x-qtestd-echo']) {
    t.ok(names.includes(`{"name": "${n}"}`), n);
  }
  t.same(h.send('{"execute": "x-qtestd-echo", "arguments": {"a": 1}, "id": 2}'), ['{"return": {"echoed": {"a": 1}}, "id": 2}']);
  t.same(h.send('{"execute": "x-qtestd-nope"}'), ['{"error": {"class": "CommandNotFound", "desc": "The command x-qtestd-nope has not been found"}}']);
  t.same(h.send('{"execute": "x-qtestd-echo", "arguments": {"a": 1}, "control": {"run-oob": true}}'), [
    '{"error": {"class": "GenericError", "desc": "QMP input member \'control\' is unexpected"}}',
  ]);
  t.end();
});

t.test('extension rows get the registry\'s argument checking', (t) => {
  const out: string[] = [];
  const typed = defineExtension({
    name: 'x-qtestd-typed',
    args: { path: arg.str(), depth: arg.optInt() },
    run: (args) => ({ path: args.path, depth: args.depth ?? null }),
  });
  const ep = new QmpEndpoint({ host: new FakeHost(), sink: (s) => (out.push(s), true), now: fakeClock(), extensions: [typed] });
  const send = (line: string): string[] => {
    const before = out.length;
    ep.input(Buffer.from(line + '\n'));
    return out.slice(before).map((l) => l.replace(/\r\n$/, ''));
  };
  send('{"execute": "qmp_capabilities"}');
  t.same(send('{"execute": "x-qtestd-typed"}'), [`{"error": {"class": "GenericError", "desc": "Parameter 'path' is missing"}}`]);
  t.same(send('{"execute": "x-qtestd-typed", "arguments": {"path": 1}}'), [`{"error": {"class": "GenericError", "desc": "Invalid parameter type for 'path', expected: string"}}`]);
  t.same(send('{"execute": "x-qtestd-typed", "arguments": {"path": "a", "x": 1}}'), [`{"error": {"class": "GenericError", "desc": "Parameter 'x' is unexpected"}}`]);
  t.same(send('{"execute": "x-qtestd-typed", "arguments": {"path": "a", "depth": 2}}'), ['{"return": {"path": "a", "depth": 2}}']);
  t.same(send('{"execute": "x-qtestd-echo"}'), ['{"error": {"class": "CommandNotFound", "desc": "The command x-qtestd-echo has not been found"}}']);
  const names = entries(send('{"execute": "query-commands"}')[0]!);
  t.equal(names[names.length - 1], '{"name": "x-qtestd-typed"}', 'extensions come last');
  t.throws(() => defineExtension({ name: 'query-foo' as ExtensionName, args: {}, run: () => null }), /lacks the x-qtestd- prefix/);
  t.end();
});
