import t from 'tap';
import { JsonStream, QEMU_JSON_LIMITS, type JsonStreamItem } from '../../../src/protocol/qmp/json-stream.js';

const bytes = (s: string | number[]): Uint8Array => (typeof s === 'string' ? Buffer.from(s, 'latin1') : Uint8Array.from(s));

function run(input: Uint8Array | string, limits = QEMU_JSON_LIMITS): JsonStreamItem[] {
  return new JsonStream(limits).push(typeof input === 'string' ? bytes(input) : input);
}

/** Items rendered compactly: values as JSON (bigint as n), errors as `!message`. */
function show(items: JsonStreamItem[]): string[] {
  return items.map((i) =>
    i.kind === 'error' ? `!${i.message}` : JSON.stringify(i.value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)),
  );
}

const SAMPLE =
  '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral-anon/device[0]", "property": "dma_mask"}, "id": "a\\"b\\\\c\\u00e9"}\n' +
  "{'execute':'query-status','id':[1,-2.5e3,{}]}{\"execute\":\"x\"}  \r\n\t[true, false, null]\n";

t.test('yields the same items at every chunk split point', (t) => {
  const whole = show(run(SAMPLE));
  t.same(whole, [
    '{"execute":"qom-get","arguments":{"path":"/machine/peripheral-anon/device[0]","property":"dma_mask"},"id":"a\\"b\\\\cé"}',
    '{"execute":"query-status","id":["1n",-2500,{}]}',
    '{"execute":"x"}',
    '[true,false,null]',
  ]);
  const data = bytes(SAMPLE);
  for (let a = 0; a <= data.length; a++) {
    const s = new JsonStream(QEMU_JSON_LIMITS);
    const items = [...s.push(data.subarray(0, a)), ...s.push(data.subarray(a))];
    t.same(show(items), whole, `split at ${a}`);
  }
  t.end();
});

t.test('yields the same items when fed one byte at a time and in three pieces', (t) => {
  const data = bytes(SAMPLE);
  const whole = show(run(SAMPLE));
  const s = new JsonStream(QEMU_JSON_LIMITS);
  const items: JsonStreamItem[] = [];
  for (const b of data) items.push(...s.push(Uint8Array.of(b)));
  t.same(show(items), whole);
  for (let a = 0; a < data.length; a += 7) {
    for (let b = a; b <= data.length; b += 11) {
      const s3 = new JsonStream(QEMU_JSON_LIMITS);
      const got = [...s3.push(data.subarray(0, a)), ...s3.push(data.subarray(a, b)), ...s3.push(data.subarray(b))];
      t.same(show(got), whole, `split at ${a},${b}`);
    }
  }
  t.end();
});

t.test('a UTF-8 sequence split across chunks decodes whole', (t) => {
  const data = Buffer.from('{"id": "é€😀"}', 'utf8');
  for (let a = 0; a <= data.length; a++) {
    const s = new JsonStream(QEMU_JSON_LIMITS);
    const items = [...s.push(data.subarray(0, a)), ...s.push(data.subarray(a))];
    t.same(show(items), ['{"id":"é€😀"}'], `split at ${a}`);
  }
  t.end();
});

// Each row: input → items, as QEMU 10.2.2 answered (oracle runs recorded in protocol/qmp.md).
const ORACLE: Array<[string | number[], string[]]> = [
  ['{"execute": }\n', ['!JSON parse error, expecting value']],
  ['nonsense\n', ["!JSON parse error, invalid keyword 'nonsense'"]],
  ['{"execute": "query-status"\n}\n', ['{"execute":"query-status"}']],
  ['}\n', ['!JSON parse error, expecting value']],
  [']\n', ['!JSON parse error, expecting value']],
  ['{"execute":"x\x01abc def"}\n', ["!JSON parse error, stray '\"x\x01'", '!JSON parse error, expecting value']],
  ['@\n', ["!JSON parse error, stray '@'"]],
  ['@{"execute":"q"}\n', ["!JSON parse error, stray '@'", '{"execute":"q"}']],
  ['{"execute":"q"} }\n', ['{"execute":"q"}', '!JSON parse error, expecting value']],
  ['{"execute": "q", }\n', ['!JSON parse error, expecting value']],
  ['{"execute" "q"}\n', ['!JSON parse error, missing : in object pair']],
  ['{"execute":"abc\ndef"}\n', ["!JSON parse error, stray '\"abc\n'", '!JSON parse error, expecting value']],
  ['truex\n', ["!JSON parse error, invalid keyword 'truex'"]],
  ['01\n', ["!JSON parse error, stray '01'"]],
  ['1.\n', ["!JSON parse error, stray '1.\n'"]],
  ['-\n', ["!JSON parse error, stray '-\n'"]],
  ['.5\n', ["!JSON parse error, stray '.'"]],
  ['1e\n', ["!JSON parse error, stray '1e\n'"]],
  ['+1\n', ["!JSON parse error, stray '+'"]],
  ['1.5e+\n', ["!JSON parse error, stray '1.5e+\n'"]],
  ['-a\n', ["!JSON parse error, stray '-a'"]],
  [[0xff], ["!JSON parse error, stray '\ufffd'"]],
  [[0xfe, 0x0a], ["!JSON parse error, stray '\ufffd'"]],
  ['{"a":1,"a":2}\n', ['!JSON parse error, duplicate key']],
  ['"\\x41"\n', ['!JSON parse error, invalid escape sequence in string']],
  ['"\\u00zz"\n', ['!JSON parse error, \\u00zz is not a valid Unicode character']],
  ['"\\u12"\n', ['!JSON parse error, \\u12" is not a valid Unicode character']],
  ['"\\u"\n', ['!JSON parse error, \\u" is not a valid Unicode character']],
  ['"\\ud83d"\n', ['!JSON parse error, \\ud83d is not a valid Unicode character']],
  ['"\\ude00"\n', ['!JSON parse error, \\ude00 is not a valid Unicode character']],
  ['"\\u0041\\ud83d\\u0041"\n', ['!JSON parse error, \\ud83d is not a valid Unicode character']],
  ['"\\uffff"\n', ['!JSON parse error, \\uffff is not a valid Unicode character']],
  ['"\\ufdd0"\n', ['!JSON parse error, \\ufdd0 is not a valid Unicode character']],
  ['"\\ud83d\\ude00\\uD83D\\uDE00"\n', ['"😀😀"']],
  [[0x22, 0xed, 0xa0, 0x80, 0x22], ['!JSON parse error, invalid UTF-8 sequence in string']],
  [[0x22, 0xef, 0xbf, 0xbf, 0x22], ['!JSON parse error, invalid UTF-8 sequence in string']],
  [[0x22, 0x80, 0x22], ['!JSON parse error, invalid UTF-8 sequence in string']],
  [[0x22, 0xc3, 0x22], ['!JSON parse error, invalid UTF-8 sequence in string']],
  [[0x22, 0xe0, 0x80, 0x80, 0x22], ['!JSON parse error, invalid UTF-8 sequence in string']],
  [[0x22, 0xf4, 0x90, 0x80, 0x80, 0x22], ['!JSON parse error, invalid UTF-8 sequence in string']],
  [[0x22, 0xc0, 0x80, 0x78, 0x22], ['"\\u0000x"']],
  [[0x22, 0xff, 0x0a], ["!JSON parse error, stray '\"\ufffd'"]],
  [[0x22, 0xe2, 0x82, 0x01, 0x0a], ["!JSON parse error, stray '\"\ufffd\x01'"]],
  [[0x22, 0xed, 0xa0, 0x80, 0x01, 0x0a], ["!JSON parse error, stray '\"\ufffd\x01'"]],
  [[0x22, 0x80, 0x80, 0x01, 0x0a], ["!JSON parse error, stray '\"\ufffd\ufffd\x01'"]],
  [[0x22, 0xc0, 0x80, 0xc1, 0xbf, 0x01, 0x0a], ["!JSON parse error, stray '\"\x00\ufffd\x01'"]],
  ['"\\\x01"\n', ["!JSON parse error, stray '\"\\\x01'"]],
  ["'\\\\''\n", ['"\\\\"', "!JSON parse error, stray ''\n'"]],
  ['{1:2}\n', ['!JSON parse error, key is not a string in object']],
  ['[1,]\n', ['!JSON parse error, expecting value']],
  ['[,1]\n', ['!JSON parse error, expecting value']],
  ['{,}\n', ['!JSON parse error, expecting value']],
  ['{"a":1 "b":2}\n', ['!JSON parse error, expected separator in dict']],
  ['[1 2]\n', ['!JSON parse error, expected separator in list']],
  ['{"a"}\n', ['!JSON parse error, missing : in object pair']],
  ['["a" : 1]\n', ['!JSON parse error, expected separator in list']],
  ['{"a":1:2}\n', ['!JSON parse error, expected separator in dict']],
  ['{"a",1}\n', ['!JSON parse error, missing : in object pair']],
  ['[1,,2]\n', ['!JSON parse error, expecting value']],
  ['[}\n', ['!JSON parse error, expecting value']],
  ['{]\n', ['!JSON parse error, expecting value']],
  ['{"execute":"q"]\n', ['!JSON parse error, expected separator in dict']],
  [':\n', ['!JSON parse error, expecting value']],
  [',\n', ['!JSON parse error, expecting value']],
  ['\r\t\x0b1\n', ["!JSON parse error, stray '\x0b'"]],
  ['\x0c1\n', ["!JSON parse error, stray '\x0c'"]],
  ['True\n', ["!JSON parse error, stray 'T'"]],
  ['%d\n', ["!JSON parse error, stray '%'"]],
  ['nulL\n', ["!JSON parse error, invalid keyword 'nul'", "!JSON parse error, stray 'L'"]],
  ['0x1\n', ['"0n"', "!JSON parse error, invalid keyword 'x'", '"1n"']],
  ['1a\n', ['"1n"', "!JSON parse error, invalid keyword 'a'"]],
  ['null1\n', ['null', '"1n"']],
  ['@abc\x01{"e":1}\n', ["!JSON parse error, stray '@'", "!JSON parse error, stray '\x01'", '{"e":"1n"}']],
  ['@ab\t{"e":1}\n', ["!JSON parse error, stray '@'", '{"e":"1n"}']],
  ['{"a":[@ {"e":1}\n', ["!JSON parse error, stray '@'", '{"e":"1n"}']],
  ['{"execute":nonsense}\n', ["!JSON parse error, invalid keyword 'nonsense'"]],
  ['{"a":{"b" 1}}\n', ['!JSON parse error, missing : in object pair']],
  ['{{"a":1}:2}\n', ['!JSON parse error, key is not a string in object']],
  ['{{"a" 1}:2}\n', ['!JSON parse error, missing : in object pair']],
];

t.test('reports what QEMU 10.2.2 reports, and resynchronises as it does', (t) => {
  for (const [input, expected] of ORACLE) {
    t.same(show(run(typeof input === 'string' ? input : bytes(input))), expected, JSON.stringify(input));
  }
  t.end();
});

t.test('numbers: int64/uint64 stay integers, the rest become doubles', (t) => {
  const [item] = run(
    '[1, -0, 9223372036854775807, 9223372036854775808, 18446744073709551615, 18446744073709551616, -9223372036854775808, -9223372036854775809, 1.0, 1e999, -0.0, 1e-400]\n',
  );
  t.equal(item.kind, 'value');
  const v = (item as { value: unknown[] }).value;
  t.same(v.slice(0, 5), [1n, 0n, 9223372036854775807n, 9223372036854775808n, 18446744073709551615n]);
   
  t.equal(v[5], 18446744073709551616);
  t.equal(v[6], -9223372036854775808n);
  // eslint-disable-next-line no-loss-of-precision -- as above
  t.equal(v[7], -9223372036854775809);
  t.equal(v[8], 1);
  t.equal(v[9], Infinity);
  t.ok(Object.is(v[10], -0));
  t.equal(v[11], 0);
  t.end();
});

t.test('keys such as __proto__ are plain members', (t) => {
  const [item] = run('{"__proto__": 1, "constructor": 2}\n');
  t.same(Object.keys((item as { value: object }).value), ['__proto__', 'constructor']);
  t.end();
});

t.test('nesting limit: error at the first bracket past it, then a fresh start', (t) => {
  const limits = { ...QEMU_JSON_LIMITS, maxDepth: 4 };
  t.same(show(run('[[[[]]]]\n', limits)), ['[[[[]]]]']);
  t.same(show(run('[[[[[]]]]]\n{"e":1}\n', limits)), [
    '!JSON nesting depth limit exceeded',
    '!JSON parse error, expecting value',
    '!JSON parse error, expecting value',
    '!JSON parse error, expecting value',
    '!JSON parse error, expecting value',
    '!JSON parse error, expecting value',
    '{"e":"1n"}',
  ]);
  // QEMU 10.2.2 with its limit of 1024: same shape (1025 '[' then 1025 ']').
  const deep = '['.repeat(1025) + ']'.repeat(1025) + '\n';
  const items = show(run(deep));
  t.equal(items[0], '!JSON nesting depth limit exceeded');
  t.equal(items.length, 1026);
  t.same(show(run('['.repeat(1024) + ']'.repeat(1024))).length, 1);
  t.end();
});

t.test('size limit: a message over the byte limit is refused, the stream goes on', (t) => {
  const limits = { ...QEMU_JSON_LIMITS, maxMessageBytes: 64 };
  const big = `{"execute": "x", "id": "${'A'.repeat(200)}"}\n{"e":1}\n`;
  t.same(show(run(big, limits)), ['!JSON token size limit exceeded', '!JSON parse error, expecting value', '{"e":"1n"}']);
  t.same(show(run('{"execute": "x", "arguments": {}}\n', limits)), ['{"execute":"x","arguments":{}}']);
  t.end();
});

t.test('token count limit', (t) => {
  const limits = { ...QEMU_JSON_LIMITS, maxTokens: 10 };
  t.same(show(run('[1,2,3,4]\n', limits)), ['["1n","2n","3n","4n"]']);
  const items = show(run('[1,2,3,4,5,6]\n', limits));
  t.equal(items[0], '!JSON token count limit exceeded');
  t.same(items.slice(1), ['"6n"', '!JSON parse error, expecting value']);
  t.end();
});

t.test('reset drops a partial message', (t) => {
  const s = new JsonStream(QEMU_JSON_LIMITS);
  t.same(s.push(bytes('{"execute": "a"')), []);
  s.reset();
  t.same(show(s.push(bytes('{"b": 1}'))), ['{"b":"1n"}']);
  t.end();
});
