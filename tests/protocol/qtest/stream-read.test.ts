import t from 'tap';
import { QtestLog } from '../../../src/protocol/qtest/qtest-log.js';
import { makeSession, RecordingLink } from '../../helpers/session.js';

// A bulk read past 1 MiB in the launcher is produced as the link takes it: while the link
// refuses output the endpoint stops (about 1 MiB ahead) and goes on at drained(); the reply is
// exact, the request behind it runs only after it, and -qtest-log shows the reply as one line
// with one `[S +…]` prefix.

const BASE = 0x40100000;
const SIZE = 3 << 20;

for (const withLog of [false, true]) {
  t.test(`a refusing link parks the read; drained() finishes it${withLog ? ' (with -qtest-log)' : ''}`, (t) => {
    const session = makeSession();
    const link = new RecordingLink();
    let refusing = true;
    link.accept = () => !refusing;
    const logged: Buffer[] = [];
    const log = withLog ? QtestLog.toSink((b) => logged.push(Buffer.from(b))) : undefined;
    const ep = session.attachQtest(link, { log });
    const data = Buffer.alloc(SIZE);
    for (let i = 0; i < SIZE; i++) data[i] = (i * 29 + (i >> 13)) & 0xff;
    refusing = false;
    ep.input(Buffer.from(`b64write 0x${BASE.toString(16)} 0x${SIZE.toString(16)} ${data.toString('base64')}\n`));
    t.equal(link.out, 'OK\n');
    link.out = '';
    refusing = true;
    ep.input(Buffer.from(`read 0x${BASE.toString(16)} 0x${SIZE.toString(16)}\nreadb 0x${BASE.toString(16)}\n`));
    const first = link.out.length;
    t.ok(first < 2 * SIZE, `parked before the whole reply (${first} of ${2 * SIZE + 5} bytes)`);
    t.notOk(link.out.includes('\n'), 'the request behind it has not run');
    let drains = 0;
    while (link.out.split('\n').length < 3) {
      if (++drains > 1000) break;
      ep.drained();
    }
    t.ok(drains > 1, `several drains (${drains})`);
    const lines = link.out.split('\n');
    t.ok(lines[0] === `OK 0x${data.toString('hex')}`, 'the read reply is exact');
    t.equal(lines[1], `OK 0x${data[0].toString(16).padStart(16, '0')}`);
    if (withLog) {
      const text = Buffer.concat(logged).toString('latin1');
      const replyLines = text.split('\n').filter((l) => l.startsWith('[S +'));
      const readReply = replyLines.find((l) => l.includes(' OK 0x') && l.length > SIZE);
      t.ok(readReply?.endsWith(data.toString('hex')), 'the log has the read reply as one line');
      t.equal((readReply?.match(/\[S \+/g) ?? []).length, 1, 'with one prefix');
    }
    t.end();
  });
}
