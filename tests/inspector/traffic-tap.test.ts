/** The qtest traffic tap behind x-qtestd-traffic: off until read, lines split and capped, a ring. */
import t from 'tap';
import { tapEndpoint, tapLink, TrafficTap } from '../../src/session/traffic-tap.js';
import { RecordingLink } from '../helpers/session.js';

t.test('records nothing until the first read, then whole lines both ways', async (t) => {
  const tap = new TrafficTap();
  const got: string[] = [];
  const link = new RecordingLink();
  const ep = tapEndpoint({ input: (c) => got.push(c.toString('latin1')), drained: () => {}, end: () => {} }, tap);
  const out = tapLink(link, tap);
  ep.input(Buffer.from('readl 0x0\n'));
  out.write('OK 0x0\n');
  t.same(tap.since(0), { next: 0, started: true, lines: [] }, 'nothing before the first read');
  ep.input(Buffer.from('writel 0x10 '));
  ep.input(Buffer.from('0x1\nreadl 0x10\n'));
  out.writeBytes(Buffer.from('OK\nOK 0x'));
  out.write('1\n');
  const r = tap.since(0);
  t.equal(r.started, false);
  t.same(
    r.lines.map((l) => `${l.dir} ${l.text}`),
    ['> writel 0x10 0x1', '> readl 0x10', '< OK', '< OK 0x1'],
  );
  t.same(tap.since(r.next).lines, [], 'nothing new after the last seq');
  t.equal(got.join(''), 'readl 0x0\nwritel 0x10 0x1\nreadl 0x10\n', 'the endpoint sees every byte');
  t.equal(link.out, 'OK 0x0\nOK\nOK 0x1\n', 'the link sees every byte');
});

t.test('long lines are cut, the ring keeps the last 1000 lines', async (t) => {
  const tap = new TrafficTap();
  tap.since(0);
  tap.add('>', 'write 0x0 0x10000 0x' + 'ab'.repeat(50000) + '\n');
  const [long] = tap.since(0).lines;
  t.equal(long!.text.length, 240);
  for (let i = 0; i < 1500; i++) tap.add('<', `OK ${i}\n`);
  const all = tap.since(0).lines;
  t.equal(all.length, 1000);
  t.equal(all[999]!.text, 'OK 1499');
});
