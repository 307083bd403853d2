/**
 * Long lines received in many chunks (src/protocol/qtest/line.ts setParts: a `write`/`b64write`
 * payload stays in the chunks it arrived in): every line gives the same replies and the same guest
 * memory as when it arrives in one chunk — payloads of every shape, trailing attribute words,
 * double and trailing spaces, a NUL inside the payload, long lines that are not payload lines,
 * and a line longer than --max-line.
 */
import t from 'tap';
import { makeSession, runQtest, PLAIN_VIRT, RecordingLink } from '../../helpers/session.js';
import { hex, seededBytes as bytes } from '../../helpers/bytes.js';

const K = 1024;
const RAM = 0x40100000;

const data = bytes(200 * K, 3);
const h = data.toString('hex');
const b = data.toString('base64');
const back = (size: number): string => `b64read ${hex(RAM)} ${hex(size)}\nreadq ${hex(RAM + size - 8)}\n`;

const LINES: Record<string, string> = {
  'hex, whole': `write ${hex(RAM)} ${hex(200 * K)} 0x${h}\n${back(200 * K)}`,
  'hex, odd length': `write ${hex(RAM)} ${hex(100 * K)} 0x${h.slice(0, 200 * K - 1)}\n${back(100 * K)}`,
  'hex, junk inside': `write ${hex(RAM)} ${hex(100 * K)} 0x${h.slice(0, 70_000)}zz\r${h.slice(70_003, 200 * K)}\n${back(100 * K)}`,
  'hex, SIZE past the data': `write ${hex(RAM)} ${hex(150 * K)} 0x${h.slice(0, 100 * K)}\n${back(150 * K)}`,
  'hex, trailing attribute words': [
    `write ${hex(RAM)} ${hex(100 * K)} 0x${h.slice(0, 200 * K)} space=non-secure`,
    `write ${hex(RAM)} ${hex(100 * K)} 0x${h.slice(0, 200 * K)} secure`,
    `write ${hex(RAM)} ${hex(100 * K)} 0x${h.slice(0, 200 * K)} space=nope`,
    `write ${hex(RAM)} ${hex(100 * K)} 0x${h.slice(0, 200 * K)} space=root extra`,
    `write ${hex(RAM)} ${hex(100 * K)} 0x${h.slice(0, 200 * K)} `,
    `write_space ${hex(RAM)} ${hex(100 * K)} 0x${h.slice(0, 200 * K)} 0`,
    `write_secure ${hex(RAM)} ${hex(100 * K)} 0x${h.slice(0, 200 * K)} 0`,
    back(100 * K),
  ].join('\n'),
  'hex, double spaces': `write  ${hex(RAM)} ${hex(100 * K)} 0x${h.slice(0, 200 * K)}\nwrite ${hex(RAM)}  ${hex(100 * K)} 0x${h.slice(0, 200 * K)}\nwrite ${hex(RAM)} ${hex(100 * K)}  0x${h.slice(0, 200 * K)}\n ${`write ${hex(RAM)} ${hex(8)} 0x${h}`}\n${back(100 * K)}`,
  'hex, NUL in the payload': `write ${hex(RAM)} ${hex(100 * K)} 0x${h.slice(0, 90_000)}\0${h.slice(90_001, 200 * K)}\nendianness\n`,
  'hex, bad address and size': `write 0xzz ${hex(100 * K)} 0x${h.slice(0, 200 * K)}\nwrite ${hex(RAM)} 0x ${h.slice(0, 200 * K)}\nwrite ${hex(RAM)} ${hex(1 << 30)} 0x${h}\n`,
  'b64, canonical': `b64write ${hex(RAM)} ${hex(200 * K)} ${b}\n${back(200 * K)}`,
  'b64, junk, inner padding, odd length': [
    `b64write ${hex(RAM)} ${hex(150 * K)} ${b.slice(0, 100_001)}*!${b.slice(100_001, 200_000)}`,
    `b64write ${hex(RAM)} ${hex(150 * K)} ${b.slice(0, 100_000)}==${b.slice(100_002, 200_000)}`,
    `b64write ${hex(RAM)} ${hex(150 * K)} ${b.slice(0, 200_003)}`,
    back(150 * K),
  ].join('\n'),
  'b64, SIZE larger and smaller than the data': `b64write ${hex(RAM)} ${hex(240 * K)} ${b.slice(0, 240 * K + 4)}\n${back(240 * K)}b64write ${hex(RAM)} ${hex(100 * K + 1)} ${b}\n${back(100 * K + 8)}`,
  'long lines that are not payload lines': `readl 0x${'0'.repeat(100_000)}40000000\nread ${hex(RAM)} 0x${'0'.repeat(100_000)}10\nfoo ${'x'.repeat(100_000)} a b c\nwritel ${hex(RAM)} 0x${'0'.repeat(100_000)}1\nreadl ${hex(RAM)}\n`,
  'many spaces': `write ${hex(RAM)} ${hex(100 * K)} 0x${h.slice(0, 100_000)} ${' '.repeat(40)}x\n${'a '.repeat(60_000)}\nendianness\n`,
};

/** `s` cut into chunks of `n` characters. */
const chunks = (s: string, n: number): string[] => Array.from({ length: Math.ceil(s.length / n) }, (_, i) => s.slice(i * n, (i + 1) * n));

for (const [name, script] of Object.entries(LINES)) {
  t.test(name, async (t) => {
    const whole = runQtest(script);
    t.ok(whole.length > 0);
    for (const n of [65536, 4093]) {
      const split = runQtest(chunks(script, n));
      t.ok(split === whole, `chunks of ${n}: the replies of one chunk (${whole.length} bytes)`);
    }
  });
}

t.test('a line past --max-line in many chunks: FAIL, and the session goes on', async (t) => {
  const session = makeSession(PLAIN_VIRT, { maxLineBytes: 100_000 });
  const link = new RecordingLink();
  const ep = session.attachQtest(link);
  for (const c of chunks(`write ${hex(RAM)} ${hex(200 * K)} 0x${h}\nendianness\n`, 4093)) ep.input(Buffer.from(c, 'latin1'));
  t.equal(link.out, 'FAIL line longer than 100000 bytes; discarded up to the next newline\nOK little\n');
});

t.test('a line past --max-line only with its last chunk: FAIL without discarding', async (t) => {
  const session = makeSession(PLAIN_VIRT, { maxLineBytes: 100_000 });
  const link = new RecordingLink();
  const ep = session.attachQtest(link);
  const line = `write ${hex(RAM)} ${hex(60 * K)} 0x${h.slice(0, 120 * K)}`;
  ep.input(Buffer.from(line.slice(0, 90_000), 'latin1'));
  ep.input(Buffer.from(`${line.slice(90_000)}\nendianness\n`, 'latin1'));
  t.equal(link.out, 'FAIL line longer than 100000 bytes\nOK little\n');
});

/** The replies to `readback` after `line` was sent in `cuts` pieces, the connection closed after `closeAt` pieces. */
function acrossConnections(line: string, cuts: number[], closeAt: number, readback: string): string {
  const session = makeSession(PLAIN_VIRT);
  let link = new RecordingLink();
  let ep = session.attachQtest(link);
  let out = '';
  let from = 0;
  cuts.forEach((to, i) => {
    if (i === closeAt) {
      ep.end();
      out += link.out;
      link = new RecordingLink();
      ep = session.attachQtest(link);
    }
    ep.input(Buffer.from(line.slice(from, to), 'latin1'));
    from = to;
  });
  ep.input(Buffer.from(`${line.slice(from)}\n${readback}`, 'latin1'));
  return out + link.out;
}

t.test('a payload cut by a closed connection continues on the next one, as QEMU keeps its input', async (t) => {
  const lines = [
    `write ${hex(RAM)} ${hex(100 * K)} 0x${h.slice(0, 200 * K)}`,
    `b64write ${hex(RAM)} ${hex(150 * K)} ${b}`,
    `b64write ${hex(RAM)} ${hex(100 * K)} ${b.slice(0, 50_001)}-_*${b.slice(50_001, 140_000)}`,
    `write ${hex(RAM)} ${hex(80 * K)} 0x${h.slice(0, 100_001)}G${h.slice(100_002, 160 * K)} secure`,
  ];
  for (const line of lines) {
    const readback = back(150 * K);
    const whole = runQtest(`${line}\n${readback}`);
    for (const [cuts, closeAt] of [
      [[40_000, 70_000, 100_001], 2],
      [[10, 33_000, 33_001], 1],
      [[50_000], 1],
    ] as Array<[number[], number]>) {
      t.equal(acrossConnections(line, cuts, closeAt, readback), whole, `${line.slice(0, 10)}… cut at ${cuts} closed after ${closeAt}`);
    }
  }
});

t.test('nothing of a payload reaches memory before its LF', async (t) => {
  const session = makeSession(PLAIN_VIRT);
  const link = new RecordingLink();
  const ep = session.attachQtest(link);
  const ram = (): string => {
    const buf = Buffer.alloc(16);
    session.machine.system.readBytes(BigInt(RAM), buf);
    return buf.toString('hex');
  };
  ep.input(Buffer.from(`write ${hex(RAM)} ${hex(100 * K)} 0x${'ab'.repeat(60 * K)}`, 'latin1'));
  t.equal(ram(), '00'.repeat(16), 'not written while the line is unfinished');
  ep.end();
  t.equal(ram(), '00'.repeat(16), 'nor when its connection closes');
  const next = new RecordingLink();
  // the next connection's first bytes continue the line: ` x` is a trailing word of it
  session.attachQtest(next).input(Buffer.from(` x\nreadq ${hex(RAM)}\n`, 'latin1'));
  t.equal(link.out, '');
  t.equal(next.out, 'OK\nOK 0xabababababababab\n', 'the line ran once it ended, on the next connection');
});
