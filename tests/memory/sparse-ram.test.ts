import t from 'tap';
import { SparseRam } from '../../src/memory/sparse-ram.js';
import { LimitError } from '../../src/base/limits.js';

t.test('untouched memory is zero and costs nothing, even at 255 GiB', async (t) => {
  const ram = new SparseRam('ram', 255n << 30n);
  const b = new Uint8Array(16).fill(1);
  ram.readBytes((255n << 30n) - 16n, b);
  t.same([...b], new Array(16).fill(0));
  t.equal(ram.touchedBytes, 0);
});

t.test('writes across page boundaries', async (t) => {
  const ram = new SparseRam('ram', 1n << 20n);
  const data = Uint8Array.from({ length: 10000 }, (_, i) => i & 0xff);
  ram.writeBytes(4090n, data);
  const back = new Uint8Array(10000);
  ram.readBytes(4090n, back);
  t.same(Buffer.from(back), Buffer.from(data));
  t.equal(ram.touchedBytes, 4 * 4096);
});

t.test('the touched-page budget is enforced', async (t) => {
  const ram = new SparseRam('ram', 1n << 20n, 8192);
  ram.writeBytes(0n, new Uint8Array(8192));
  t.throws(() => ram.writeBytes(8192n, new Uint8Array(1)), LimitError);
  ram.fill(0n, 8192n, 0);
  t.equal(ram.touchedBytes, 0, 'zero-filling whole pages releases them');
});
