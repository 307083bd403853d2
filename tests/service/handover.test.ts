/**
 * The hand-over of a raw qtest connection from the accepting process to a worker
 * (src/service/first-line.ts, worker-pool.ts): the accepting process reads the first line, the
 * worker gets the descriptor and the bytes read, and the session must see the stream exactly as
 * sent. Hundreds of connections over TCP and UNIX send a first line and more lines in one write,
 * in many small writes, first line then the rest, and with a half-close right after the last
 * line (as `nc -q0` does), and line by line waiting for each reply as a test client does; every one
 * must get every reply, in order (after a half-close too, as QEMU answers: then an orderly close).
 * (No timed assertions: the safety net is minutes.)
 */
import t from 'tap';
import { connect } from 'node:net';
import { startQtestd } from './fixtures/harness.js';

t.setTimeout(10 * 60_000);

// with worker processes (the descriptor travels) and without (--workers 0: the same socket goes on)
const services = await Promise.all(
  ['2', '0'].map((workers) => startQtestd({ args: ['--workers', workers, '--max-sessions', '1000'] })),
);
t.teardown(() => Promise.all(services.map((q) => q.dispose())));

type Shape = 'one-write' | 'byte-writes' | 'line-writes' | 'first-then-rest' | 'after-replies';

/** The lines a connection sends and the replies they must get (`i` makes them its own). */
function script(i: number, greeting: boolean): { lines: string[]; replies: string[] } {
  const v = (0x1000 + i).toString(16);
  const lines = [
    ...(greeting ? [`#!qtestd id=hand-${i}`] : []),
    `writel 0x40000000 0x${v}`,
    'readl 0x40000000',
    'endianness',
  ];
  const replies = [...(greeting ? ['OK'] : []), 'OK', `OK 0x${v.padStart(16, '0')}`, 'OK little'];
  return { lines, replies };
}

/**
 * One connection: send `lines` shaped as `shape`, half-close when `halfClose`, and collect what
 * comes back until the server closes or every expected reply is in.
 */
function run(
  path: string | number,
  lines: string[],
  want: number,
  shape: Shape,
  halfClose: boolean,
): Promise<{ got: string[]; how: string }> {
  return new Promise((resolve) => {
    const s =
      typeof path === 'number'
        ? connect({ port: path, host: '127.0.0.1', allowHalfOpen: true })
        : connect({ path, allowHalfOpen: true });
    let buf = '';
    let done = false;
    const finish = (how: string): void => {
      if (done) return;
      done = true;
      s.destroy();
      resolve({ got: buf.split('\n').filter((l) => l !== ''), how });
    };
    s.setEncoding('latin1');
    let sent = 0;
    /** 'after-replies': each line once the previous one was answered, as a test client does. */
    const sendNext = (): void => {
      if (sent < lines.length) s.write(`${lines[sent++]}\n`);
      else if (halfClose) s.end();
    };
    s.on('data', (d: string) => {
      buf += d;
      const replies = buf.split('\n').length - 1;
      if (replies >= want) finish('all');
      else if (shape === 'after-replies' && replies === sent) sendNext();
    });
    s.on('end', () => finish('end'));
    s.on('close', () => finish('close'));
    s.on('error', (e) => finish(`error ${e.message}`));
    s.on('connect', () => {
      if (shape === 'after-replies') return sendNext();
      const text = lines.map((l) => `${l}\n`).join('');
      const chunks: string[] =
        shape === 'one-write'
          ? [text]
          : shape === 'byte-writes'
            ? [...text]
            : shape === 'line-writes'
              ? lines.map((l) => `${l}\n`)
              : [
                  `${lines[0]}\n`,
                  lines
                    .slice(1)
                    .map((l) => `${l}\n`)
                    .join(''),
                ];
      let k = 0;
      const next = (): void => {
        if (k < chunks.length) {
          s.write(chunks[k++]!);
          // alternate: at once (coalesced by the kernel) or after a turn of the event loop
          if (k % 2) next();
          else setImmediate(next);
        } else if (halfClose) s.end();
      };
      next();
    });
  });
}

const shapes: Shape[] = ['one-write', 'byte-writes', 'line-writes', 'first-then-rest', 'after-replies'];

for (const [k, q] of services.entries())
  t.test(`every connection gets every reply, whatever the shape of its writes (--workers ${k ? 0 : 2})`, async (t) => {
    const rounds = Number(process.env.QTESTD_HANDOVER_ROUNDS ?? 4);
    const failures: string[] = [];
    let n = 0;
    for (let round = 0; round < rounds; round++) {
      const jobs: Array<Promise<void>> = [];
      for (const transport of ['tcp', 'unix'] as const)
        for (const shape of shapes)
          for (const halfClose of [false, true])
            for (const greeting of [false, true])
              for (let r = 0; r < 3; r++) {
                const i = n++;
                const { lines, replies } = script(i, greeting);
                const where = transport === 'tcp' ? q.tcpPort : q.unixPath;
                jobs.push(
                  run(where, lines, replies.length, shape, halfClose).then(({ got, how }) => {
                    // a half-close ends the input only: every line sent is answered (half-close.test.ts)
                    if (JSON.stringify(got) !== JSON.stringify(replies))
                      failures.push(
                        `#${i} ${transport} ${shape}${halfClose ? ' half-close' : ''}${greeting ? ' #!qtestd' : ''}: ` +
                          `got ${JSON.stringify(got)} (${how}), want ${JSON.stringify(replies)}`,
                      );
                  }),
                );
              }
      await Promise.all(jobs);
    }
    t.same(failures, [], `${n} connections, each with every reply in order`);
    t.equal(q.exitInfo, undefined, 'the service is still running');
  });
