import t from 'tap';
import { parseQemuNumber } from '../../../src/protocol/qtest/numbers.js';

// Expectations restate glibc strtoull/strtoll with base 0 plus QEMU's whole-token rule
// (qemu-10.2.2/qtest/qtest-oddities.txt: `readb 010` reads address 8, `readb -1` wraps).
t.test('accepts the formats QEMU accepts', async (t) => {
  const ok = (s: string, kind: 'u64' | 'i64' | 'i32', v: bigint) => t.same(parseQemuNumber(s, kind), { ok: true, value: v }, s);
  ok('0x40200000', 'u64', 0x40200000n);
  ok('0X40200000', 'u64', 0x40200000n);
  ok('1075838976', 'u64', 1075838976n);
  ok('010', 'u64', 8n);
  ok('0', 'u64', 0n);
  ok('-1', 'u64', 0xffff_ffff_ffff_ffffn);
  ok('-0x10', 'u64', 0xffff_ffff_ffff_fff0n);
  ok('+5', 'u64', 5n);
  ok('\t5', 'u64', 5n);
  ok('0xffffffffffffffff', 'u64', 0xffff_ffff_ffff_ffffn);
  ok('-5', 'i64', -5n);
  ok('9223372036854775807', 'i64', 9223372036854775807n);
  ok('-2147483648', 'i32', -2147483648n);
});

t.test('rejects what makes QEMU assert', async (t) => {
  const bad = (s: string, kind: 'u64' | 'i64' | 'i32', reason: 'invalid' | 'range') => t.same(parseQemuNumber(s, kind), { ok: false, reason }, JSON.stringify(s));
  bad('', 'u64', 'invalid');
  bad('xyz', 'u64', 'invalid');
  bad('0x', 'u64', 'invalid');
  bad('0x1g', 'u64', 'invalid');
  bad('08', 'u64', 'invalid');
  bad('0x0\r', 'u64', 'invalid');
  bad('1 ', 'u64', 'invalid');
  bad('0x10000000000000000', 'u64', 'range');
  bad('-0x10000000000000000', 'u64', 'range');
  bad('9223372036854775808', 'i64', 'range');
  bad('2147483648', 'i32', 'range');
  bad('abc', 'i64', 'invalid');
});
