/**
 * The session's x-qtestd-* QMP extensions and run-state commands through a real in-process Session,
 * pinning their reply bytes: argument errors, the no-SMMU error (checked before the arguments),
 * members outside the arguments the command reads (ignored), query-commands order, STOP/RESUME only
 * on a state change.
 */
import t from 'tap';
import { attachQmp } from '../../src/session/qmp-attach.js';
import { makeSession, PLAIN_VIRT, RecordingLink } from '../helpers/session.js';

const SMMU_VIRT = [
  '-machine',
  'virt,acpi=off,gic-version=3,iommu=smmuv3',
  '-cpu',
  'max',
  '-smp',
  '1',
  '-m',
  '512',
  '-net',
  'none',
];

function monitor(argv: string[]): (line: string) => string[] {
  const session = makeSession(argv);
  const link = new RecordingLink();
  const m = attachQmp(session, link, () => {});
  let seen = 0;
  const send = (line: string): string[] => {
    m.input(Buffer.from(`${line}\n`));
    const text = link.out.slice(seen);
    seen = link.out.length;
    return text
      .split('\r\n')
      .filter((l) => l !== '')
      .map((l) => l.replace(/"timestamp": \{[^}]*\}/, '"timestamp": T'));
  };
  send('{"execute": "qmp_capabilities"}');
  return send;
}

const NO_SMMU =
  '{"error": {"class": "GenericError", "desc": "this machine has no SMMU (use -machine virt,iommu=smmuv3)"}}';
const BAD_SID = '{"error": {"class": "GenericError", "desc": "Parameter \'sid\' expects an unsigned 32-bit integer"}}';

t.test('x-qtestd-* on a machine without SMMU', async (t) => {
  const send = monitor(PLAIN_VIRT);
  t.same(send('{"execute": "x-qtestd-smmu-state"}'), ['{"return": {"present": false}}']);
  t.same(send('{"execute": "x-qtestd-smmu-state", "arguments": {"zz": 1}}'), ['{"return": {"present": false}}']);
  t.same(send('{"execute": "x-qtestd-smmu-decode-stream"}'), [NO_SMMU]);
  t.same(send('{"execute": "x-qtestd-smmu-decode-stream", "arguments": {"sid": "x"}}'), [NO_SMMU]);
  t.same(send('{"execute": "x-qtestd-nope", "id": 1}'), [
    '{"id": 1, "error": {"class": "CommandNotFound", "desc": "The command x-qtestd-nope has not been found"}}',
  ]);
  const session = send('{"execute": "x-qtestd-session", "arguments": {"extra": true}}');
  t.same(session, [
    '{"return": {"devices": [], "clock-ns": 0, "ram-touched-bytes": 0, "ram-size": 536870912, "machine": "virt"}}',
  ]);
});

t.test('x-qtestd-smmu-decode-stream argument checks', async (t) => {
  const send = monitor(SMMU_VIRT);
  t.same(send('{"execute": "x-qtestd-smmu-decode-stream"}'), [BAD_SID]);
  t.same(send('{"execute": "x-qtestd-smmu-decode-stream", "arguments": {"sid": "1"}}'), [BAD_SID]);
  t.same(send('{"execute": "x-qtestd-smmu-decode-stream", "arguments": {"sid": -1}}'), [BAD_SID]);
  t.same(send('{"execute": "x-qtestd-smmu-decode-stream", "arguments": {"sid": 4294967296}}'), [BAD_SID]);
  t.same(send('{"execute": "x-qtestd-smmu-decode-stream", "arguments": {"sid": 1.0}}'), [BAD_SID]);
  const ok = send('{"execute": "x-qtestd-smmu-decode-stream", "arguments": {"sid": 4294967295, "other": 1}, "id": 7}');
  t.match(ok[0], /^\{"return": \{"streamTable": .*, "id": 7\}$/);
  t.same(send('{"execute": "x-qtestd-smmu-decode-stream", "arguments": {"sid": 1, "sec-sid": "secure"}}'), [
    '{"error": {"class": "GenericError", "desc": "The SMMU has no Secure bank (-global arm-smmuv3.secure-impl=true)"}}',
  ]);
  t.same(send('{"execute": "x-qtestd-smmu-decode-stream", "arguments": {"sid": 1, "sec-sid": 2}}'), [
    '{"error": {"class": "GenericError", "desc": "Parameter \'sec-sid\' expects \'non-secure\' or \'secure\'"}}',
  ]);
  t.match(
    send('{"execute": "x-qtestd-smmu-decode-stream", "arguments": {"sid": 1, "sec-sid": "non-secure"}}')[0],
    /^\{"return"/,
  );
  const state = send('{"execute": "x-qtestd-smmu-state", "arguments": {"zz": 1}}');
  t.match(state[0], /^\{"return": \{.*\}\}$/);
  t.same(send('{"execute": "x-qtestd-smmu-state", "arguments": []}'), [
    '{"error": {"class": "GenericError", "desc": "QMP input member \'arguments\' must be an object"}}',
  ]);
});

t.test('query-commands lists the extensions last, in their order', async (t) => {
  const send = monitor(PLAIN_VIRT);
  const reply = send('{"execute": "query-commands"}')[0]!;
  t.match(
    reply,
    /\{"name": "human-monitor-command"\}.*\{"name": "x-qtestd-smmu-state"\}, \{"name": "x-qtestd-smmu-decode-stream"\}, \{"name": "x-qtestd-session"\}, \{"name": "x-qtestd-smmu-translate"\}, \{"name": "x-qtestd-smmu-queues"\}, \{"name": "x-qtestd-traffic"\}\]\}$/,
  );
});

t.test('stop/cont emit STOP/RESUME on a state change only', async (t) => {
  const send = monitor(PLAIN_VIRT);
  t.same(send('{"execute": "query-status"}'), ['{"return": {"status": "running", "running": true}}']);
  t.same(send('{"execute": "cont"}'), ['{"return": {}}']);
  t.same(send('{"execute": "stop"}'), ['{"timestamp": T, "event": "STOP"}', '{"return": {}}']);
  t.same(send('{"execute": "stop"}'), ['{"return": {}}']);
  t.same(send('{"execute": "query-status"}'), ['{"return": {"status": "paused", "running": false}}']);
  t.same(send('{"execute": "cont"}'), ['{"timestamp": T, "event": "RESUME"}', '{"return": {}}']);
  t.same(send('{"execute": "query-status"}'), ['{"return": {"status": "running", "running": true}}']);
});
