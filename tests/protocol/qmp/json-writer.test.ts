import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { JsonStream, QEMU_JSON_LIMITS } from '../../../src/protocol/qmp/json-stream.js';
import type { JsonValue } from '../../../src/protocol/qmp/json-value.js';
import { formatDouble, writeJson, writeJsonString } from '../../../src/protocol/qmp/json-writer.js';
import { frame, frameInPieces } from '../../../src/protocol/qmp/messages.js';
import { qdictBucket, qdictKeyOrder } from '../../../src/protocol/qmp/qdict-order.js';
import { QEMU_CAPTURES } from '../../helpers/reference.js';

const REF = QEMU_CAPTURES;

function parseOne(text: string | Buffer): JsonValue {
  const items = new JsonStream(QEMU_JSON_LIMITS).push(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  if (items.length !== 1 || items[0].kind !== 'value') throw new Error(`not one value: ${JSON.stringify(items)}`);
  return items[0].value;
}

/**
 * QEMU prints keys sharing a bucket newest-first, so a printed object read back has those keys in
 * reverse insertion order; put them back in insertion order (as QAPI would build the object).
 */
function asInserted(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(asInserted);
  if (typeof v !== 'object' || v === null) return v;
  const keys = Object.keys(v);
  const groups = new Map<number, string[]>();
  for (const k of keys) groups.set(qdictBucket(k), [...(groups.get(qdictBucket(k)) ?? []), k]);
  const out: Record<string, JsonValue> = {};
  for (const k of keys) {
    const group = groups.get(qdictBucket(k)) as string[];
    if (group[0] !== k) continue;
    for (const member of [...group].reverse()) out[member] = asInserted(v[member]);
  }
  return out;
}

/** Capture files that are tables of raw replies rather than one reply (scripts/capture-qmp-oracle.mjs). */
const REPLY_TABLES = ['fixed-replies.json', 'type-properties.json'];

t.test('re-serialises every captured QEMU reply byte for byte', (t) => {
  const files = [
    ...readdirSync(`${REF}/qmp`).filter((f) => f.endsWith('.json') || f.endsWith('.raw')).map((f) => `${REF}/qmp/${f}`),
    ...readdirSync(`${REF}/qmp/machine-none`).map((f) => `${REF}/qmp/machine-none/${f}`),
    ...readdirSync(`${REF}/hmp`).filter((f) => f.endsWith('.json')).map((f) => `${REF}/hmp/${f}`),
  ];
  t.ok(files.length >= 20);
  for (const file of files) {
    const raw = readFileSync(file);
    if (REPLY_TABLES.some((name) => file.endsWith(`/${name}`))) {
      // a table of captured replies (command -> reply, or command -> type -> reply): check each leaf
      const leaves: Array<[string, string]> = [];
      const walk = (v: unknown, where: string): void => {
        if (typeof v === 'string') leaves.push([where, v]);
        else for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, `${where} ${k}`);
      };
      walk(JSON.parse(raw.toString('utf8')), file);
      t.ok(leaves.length > 0, `${file} has replies`);
      for (const [where, reply] of leaves)
        t.equal(writeJson(asInserted(parseOne(Buffer.from(reply)))) + '\r\n', reply, where);
      continue;
    }
    t.equal(writeJson(asInserted(parseOne(raw))) + '\r\n', raw.toString('utf8'), file);
  }
  t.end();
});

t.test('re-serialises every QEMU line of the captured transcripts', (t) => {
  for (const f of readdirSync(`${REF}/qmp`).filter((f) => f.endsWith('.txt'))) {
    for (const line of readFileSync(`${REF}/qmp/${f}`, 'utf8').split('\n')) {
      if (!line.startsWith('<- ')) continue;
      const body = line.slice(3).replace(/\r$/, '');
      t.equal(writeJson(asInserted(parseOne(body))), body, `${f}: ${body.slice(0, 60)}`);
    }
  }
  t.end();
});

t.test('escapes strings as QEMU does (oracle)', (t) => {
  t.equal(
    writeJsonString('a\u0001\b\f\n\r\t"\\/\u007f\u0080\u00e9\u20ac\u{1f600}z'),
    '"a\\u0001\\b\\f\\n\\r\\t\\"\\\\/\\u007F\\u0080\\u00E9\\u20AC\\uD83D\\uDE00z"',
  );
  t.equal(writeJsonString('\u0000x'), '"\\u0000x"');
  t.equal(writeJsonString("it's"), '"it\'s"');
  t.equal(writeJsonString('\ud800'), '"\\uFFFD"', 'lone surrogate');
  t.equal(writeJsonString('\uffff\u{10ffff}'), '"\\uFFFD\\uFFFD"', 'noncharacters');
  t.end();
});

t.test('prints numbers as %.17g (oracle echo of ids)', (t) => {
  const cases: Array<[number, string]> = [
    [1.5, '1.5'],
    [0.1, '0.10000000000000001'],
    [1000, '1000'],
    [1e-7, '9.9999999999999995e-08'],
    [1.2345678901234568e29, '1.2345678901234568e+29'],
     
    [18446744073709551616, '1.8446744073709552e+19'],
    // eslint-disable-next-line no-loss-of-precision -- as above
    [-9223372036854775809, '-9.2233720368547758e+18'],
    [1, '1'],
    [100, '100'],
    [1e21, '1e+21'],
    [1e22, '1e+22'],
    [3.14159265358979, '3.14159265358979'],
    [0.30000000000000004, '0.30000000000000004'],
    [5e-324, '4.9406564584124654e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [-1.5e-10, '-1.5e-10'],
    [1.23456, '1.2345600000000001'],
    [0.000123, '0.00012300000000000001'],
    [1e16, '10000000000000000'],
    [1e17, '1e+17'],
    [123456789.123, '123456789.123'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
    [-0, '-0'],
    [0, '0'],
    [-1, '-1'],
    [4293918720, '4293918720'],
  ];
  for (const [x, s] of cases) t.equal(formatDouble(x), s, String(x));
  t.equal(writeJson([0n, 18446744073709551615n, -9223372036854775808n]), '[0, 18446744073709551615, -9223372036854775808]');
  t.end();
});

t.test('orders members as a QDict', (t) => {
  t.same(qdictKeyOrder(['return', 'id']), ['return', 'id']);
  t.same(qdictKeyOrder(['error', 'id']), ['id', 'error']);
  t.same(qdictKeyOrder(['major', 'minor', 'micro']), ['micro', 'minor', 'major']);
  t.same(qdictKeyOrder(['event', 'data', 'timestamp']), ['timestamp', 'event', 'data']);
  // Non-ASCII keys hash their UTF-8 bytes unsigned (oracle echo of an id object).
  t.equal(writeJson({ b: { y: 1, x: 2 }, a: [{ d: 1, c: 2 }] }), '{"a": [{"d": 1, "c": 2}], "b": {"x": 2, "y": 1}}');
  t.equal(
    writeJson({ é: 1, ÿ: 2, a: 3, 中: 4, èx: 5, bé: 6 }),
    '{"\\u00E9": 1, "\\u00FF": 2, "a": 3, "\\u4E2D": 4, "\\u00E8x": 5, "b\\u00E9": 6}',
  );
  t.equal(writeJson([true, false, null, {}, [], '']), '[true, false, null, {}, [], ""]');
  t.end();
});

t.test('a message in pieces is the same bytes as the message whole', (t) => {
  const raw = readFileSync(`${REF}/qmp/query-qmp-schema.reply`, 'utf8');
  const schema = parseOne(raw);
  const tricky: JsonValue = {
    return: ['a\u0001\b"\\/\u007f\u00e9\u{1f600}z'.repeat(50), 'x'.repeat(200_000), { é: [1.5, 0.1, -0, 18446744073709551615n] }],
    id: 'q',
  };
  for (const message of [schema, tricky]) {
    const whole = frame(message);
    for (const limit of [1, 7, 1000, 65536, 1 << 30]) {
      const pieces: string[] = [];
      const rest = frameInPieces(message, limit, (p) => pieces.push(p));
      t.equal(pieces.join('') + rest, whole, `limit ${limit}: same bytes`);
      t.ok(rest.endsWith('\r\n'), `limit ${limit}: the rest ends the message`);
      // a piece may run past the limit by one run of plain characters, at most `limit` long
      t.ok(
        pieces.every((p) => p.length < 2 * limit + 32),
        `limit ${limit}: pieces of about the limit (largest ${pieces.reduce((m, p) => Math.max(m, p.length), 0)})`,
      );
      if (limit >= whole.length) t.equal(pieces.length, 0, 'a short message is one string');
    }
  }
  t.end();
});
