// The shim ↔ daemon wire (src/cli/launch-wire.ts): a request frame made as the shim makes it parses
// back to the same request, whole or fed a byte at a time (the daemon's workers warm their launch
// path with such frames), and malformed ones are refused.
import t from 'tap';
import { FrameReader, frame, parseRequest, requestFrame } from '../../src/cli/launch-wire.js';

const req = {
  pid: 4242,
  cwd: '/work/dir with space',
  argv: ['-qtest', 'unix:/tmp/q.sock', '-machine', 'virt,acpi=off', '-m', '512', ''],
  env: { QTESTD_LOG_LEVEL: 'debug', QTESTD_X: 'a=b' },
};

t.test('a request frame parses back to the request', async (t) => {
  const [f, ...rest] = new FrameReader(1 << 20).push(requestFrame(req));
  t.equal(rest.length, 0);
  t.equal(f!.type, 'L');
  t.same(parseRequest(f!.payload), req);
});

t.test('fed a byte at a time, the frame comes out once, whole', async (t) => {
  const bytes = Buffer.concat([requestFrame(req), frame('T')]);
  const reader = new FrameReader(1 << 20);
  const frames = [];
  for (let i = 0; i < bytes.length; i++) frames.push(...reader.push(bytes.subarray(i, i + 1)));
  t.same(
    frames.map((f) => f.type),
    ['L', 'T'],
  );
  t.same(parseRequest(frames[0]!.payload), req);
});

t.test('malformed requests are refused', async (t) => {
  t.throws(() => parseRequest(Buffer.from('QTD9\0' + '1\0/\0' + '0\0')), /unknown launch request version/);
  t.throws(() => parseRequest(Buffer.from('QTD1\0' + '1\0/\0' + '5\0-m\0')), /malformed launch request/);
});
