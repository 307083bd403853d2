/**
 * A QMP monitor's endpoint (and the session's QMP host) is made on the monitor's first input
 * (session/qmp-attach.ts): the greeting written at connect is QEMU's bytes, the same a QmpEndpoint
 * sends itself; SIGTERM's SHUTDOWN reaches a negotiated monitor and not one that never spoke; a
 * monitor that goes away before speaking leaves nothing behind. In-process, no timing.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { parseArgv } from '../../src/config/argv.js';
import { DEFAULT_PLUGINS } from '../../src/machine/default-plugins.js';
import { QmpEndpoint } from '../../src/protocol/qmp/endpoint.js';
import { Session } from '../../src/session/session.js';
import { announceShutdown, attachQmp } from '../../src/session/qmp-attach.js';
import { PLAIN_VIRT, RecordingLink } from '../helpers/session.js';

const GREETING = readFileSync(
  new URL('../../../protocol/captures/qemu-10.2.2/qmp/greeting.raw', import.meta.url),
  'latin1',
);

function session(): Session {
  return new Session(parseArgv(PLAIN_VIRT).machine, {
    log: pino({ level: 'silent' }),
    plugins: DEFAULT_PLUGINS,
    lazyMachine: true,
  });
}

t.test('the greeting at connect is the capture and what an endpoint sends; no host is made', async (t) => {
  const s = session();
  const link = new RecordingLink();
  attachQmp(s, link, () => {});
  t.equal(link.out, GREETING.replace(/\r?\n$/, '\r\n'));
  const own = new RecordingLink();
  new QmpEndpoint({ host: s.qmpHost, sink: (x) => own.write(x), now: () => ({ seconds: 0, microseconds: 0 }) });
  t.equal(link.out, own.out, 'same bytes as the endpoint greeting');
  t.end();
});

t.test('SHUTDOWN reaches a negotiated monitor only; silent monitors make no host', async (t) => {
  const s = session();
  const silent = new RecordingLink();
  const silentMon = attachQmp(s, silent, () => {});
  await announceShutdown(s, 'host-signal');
  t.equal(s.qmpHostIfMade, undefined, 'no QMP host made for monitors that never spoke');
  const talker = new RecordingLink();
  const mon = attachQmp(s, talker, () => {});
  mon.input(Buffer.from('{"execute": "qmp_capabilities"}\n'));
  t.match(talker.out, /\{"return": \{\}\}\r\n$/);
  await announceShutdown(s, 'host-signal');
  t.match(talker.out, /"event": "SHUTDOWN", "data": \{"guest": false, "reason": "host-signal"\}/);
  t.notMatch(silent.out, /SHUTDOWN/, 'a monitor in negotiation gets no event');
  silentMon.end();
  mon.end();
  t.end();
});

t.test('configureQmpHost runs now or when the host is made', async (t) => {
  const s = session();
  const seen: string[] = [];
  s.configureQmpHost(() => seen.push('early'));
  t.same(seen, [], 'not made yet');
  const h = s.qmpHost;
  t.same(seen, ['early']);
  s.configureQmpHost((x) => seen.push(x === h ? 'late' : 'other'));
  t.same(seen, ['early', 'late']);
  t.end();
});
