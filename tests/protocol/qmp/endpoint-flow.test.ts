/**
 * The monitor's flow control (src/protocol/qmp/endpoint.ts): commands pipelined in one chunk run
 * one at a time while the transport takes the output; once a write is refused the endpoint stops
 * after that reply, tells `holdInput(true)`, and takes the next command at `drained()`. Replies and
 * events come out exactly as without the hold (same bytes, same order); events are sent when they
 * happen.
 */
import t from 'tap';
import { QmpEndpoint } from '../../../src/protocol/qmp/endpoint.js';
import { FakeHost, fakeClock } from './fake-host.js';
import { normaliseTimestamps } from './replay.js';

interface Flow {
  endpoint: QmpEndpoint;
  host: FakeHost;
  out: string[];
  holds: boolean[];
  /** The sink refuses (returns false) while this is set; the bytes are still taken. */
  refuse: boolean;
}

function flow(opts: { pieces?: boolean } = {}): Flow {
  const host = new FakeHost();
  const f: Flow = { host, out: [], holds: [], refuse: false, endpoint: undefined as unknown as QmpEndpoint };
  let partial = '';
  f.endpoint = new QmpEndpoint({
    host,
    now: fakeClock(),
    sink: (text) => (f.out.push(text), !f.refuse),
    sinkBytes: opts.pieces
      ? (piece) => {
          partial += piece.toString('latin1');
          if (partial.endsWith('\n')) {
            f.out.push(partial);
            partial = '';
          }
          return !f.refuse;
        }
      : undefined,
    holdInput: (held) => f.holds.push(held),
  });
  return f;
}

const cmd = (name: string, id: number): string => `{"execute": "${name}", "id": ${id}}\n`;
const replies = (f: Flow): string[] => f.out.map((l) => normaliseTimestamps(l.replace(/\r\n$/, '')));
/** A message's event name, or its reply id, or '' (the greeting). */
const label = (l: string): string => /"event": "([A-Z_]+)"/.exec(l)?.[1] ?? /"id": (\d+)\}$/.exec(l)?.[1] ?? '';

t.test('a refused reply holds the next command until drained(); order and bytes unchanged', (t) => {
  const input = cmd('qmp_capabilities', 0) + [1, 2, 3, 4, 5].map((i) => cmd('query-status', i)).join('');
  const free = flow();
  free.endpoint.input(Buffer.from(input));
  t.same(free.holds, [], 'a sink that takes everything: no hold');

  const slow = flow();
  slow.refuse = true;
  slow.endpoint.input(Buffer.from(input));
  t.equal(slow.out.length, 2, 'the greeting and the first reply, then it waits');
  t.same(slow.holds, [true], 'told to hold its input');
  t.notOk(slow.endpoint.answered);
  slow.endpoint.input(Buffer.from(cmd('query-status', 6))); // more input while held: queued behind
  t.equal(slow.out.length, 2);
  slow.endpoint.drained();
  t.equal(slow.out.length, 3, 'one command per drained() while the sink refuses');
  slow.endpoint.drained(); // a second drained() without a refused write in between: nothing
  t.equal(slow.out.length, 4);
  slow.refuse = false;
  slow.endpoint.drained();
  t.ok(slow.endpoint.answered, 'the sink takes output again: everything runs');
  t.equal(slow.holds[slow.holds.length - 1], false, 'and it is told to read again');
  free.endpoint.input(Buffer.from(cmd('query-status', 6)));
  t.same(replies(slow), replies(free), 'the same messages in the same order');
  t.end();
});

t.test('long messages in pieces: a refused piece holds too', (t) => {
  const input = cmd('qmp_capabilities', 0) + cmd('query-qmp-schema', 1) + cmd('query-qmp-schema', 2) + cmd('query-version', 3);
  const free = flow({ pieces: true });
  free.endpoint.input(Buffer.from(input));
  const slow = flow({ pieces: true });
  slow.endpoint.input(Buffer.from(cmd('qmp_capabilities', 0)));
  slow.refuse = true;
  slow.endpoint.input(Buffer.from(input.slice(cmd('qmp_capabilities', 0).length)));
  t.equal(slow.out.length, 3, 'greeting, capabilities, one schema');
  slow.refuse = false;
  slow.endpoint.drained();
  t.equal(slow.out.length, 5);
  t.ok(slow.out[2].length > 100_000, 'the schema reply is long (sent in pieces)');
  t.same(slow.out, free.out, 'byte for byte');
  t.end();
});

t.test('events: caused by a command, before its reply; from elsewhere, sent when they happen', (t) => {
  const script = cmd('qmp_capabilities', 0) + cmd('stop', 1) + cmd('cont', 2) + cmd('system_reset', 3) + cmd('query-status', 4);
  const free = flow();
  free.endpoint.input(Buffer.from(script));
  const slow = flow();
  slow.refuse = true;
  slow.endpoint.input(Buffer.from(script));
  for (let i = 0; i < 10 && !slow.endpoint.answered; i++) slow.endpoint.drained();
  t.same(replies(slow), replies(free), 'the pipelined mix of commands and events keeps its order');
  t.same(
    replies(free).map(label),
    ['', '0', 'STOP', '1', 'RESUME', '2', 'RESET', '3', '4'],
  );

  const held = flow();
  held.endpoint.input(Buffer.from(cmd('qmp_capabilities', 0)));
  held.refuse = true;
  held.endpoint.input(Buffer.from(cmd('query-status', 1) + cmd('query-status', 2)));
  held.host.emit({ event: 'POWERDOWN' }); // e.g. caused by another monitor meanwhile
  held.refuse = false;
  held.endpoint.drained();
  t.same(
    replies(held).slice(2).map(label),
    ['1', 'POWERDOWN', '2'],
    'an event while a command waits goes out at once, ahead of that command\'s reply',
  );
  t.end();
});

t.test('whenAnswered: at once when nothing waits, else once the last waiting command is answered', (t) => {
  const f = flow();
  let done = 0;
  f.endpoint.whenAnswered(() => done++);
  t.equal(done, 1);
  f.refuse = true;
  f.endpoint.input(Buffer.from(cmd('qmp_capabilities', 0) + cmd('query-status', 1) + cmd('query-status', 2)));
  f.endpoint.whenAnswered(() => done++);
  t.equal(done, 1);
  f.endpoint.drained();
  t.equal(done, 1);
  f.endpoint.drained();
  t.equal(done, 2, 'the last reply written');
  f.endpoint.input(Buffer.from(cmd('query-status', 3)));
  f.endpoint.whenAnswered(() => done++);
  f.endpoint.end();
  f.endpoint.drained();
  t.equal(done, 2, 'an ended endpoint calls nothing back and writes nothing');
  t.end();
});
