/**
 * The memory budget's accounting (memory/memory-budget.ts) with sparse RAM charging it: pages are
 * charged when first written, a write that does not fit is refused whole before touching memory,
 * reads never charge, zero-filling whole pages and closing the account give the bytes back, and
 * buffered bytes of connections count against the same share.
 */
import t from 'tap';
import { MemoryBudget, MemoryBudgetExceeded } from '../../src/memory/memory-budget.js';
import { SparseRam } from '../../src/memory/sparse-ram.js';

const PAGE = 4096;

t.test('pages are charged when materialised, and a write that does not fit changes nothing', (t) => {
  const budget = new MemoryBudget(4 * PAGE, '--memory-budget 16384 over 1 worker');
  const a = budget.account();
  const ram = new SparseRam('ram', 1n << 30n, Number.MAX_SAFE_INTEGER, a);
  const out = new Uint8Array(3 * PAGE);
  ram.readBytes(0n, out);
  t.equal(ram.readU64LE(0x1000n), 0n);
  t.equal(budget.ramBytes, 0, 'reading never-written RAM charges nothing');
  ram.writeBytes(0xff0n, new Uint8Array(0x20).fill(1)); // two pages
  t.equal(budget.ramBytes, 2 * PAGE);
  ram.writeBytes(0x1000n, new Uint8Array(8).fill(2)); // already there: free
  t.equal(budget.ramBytes, 2 * PAGE);
  t.throws(
    () => ram.writeBytes(0x1ff0n, new Uint8Array(3 * PAGE).fill(3)), // pages 1 (have), 2, 3, 4: 3 new
    new MemoryBudgetExceeded(
      "memory budget exceeded: 3 new pages of ram (12 KiB) would pass this worker's share (8 KiB of 16 KiB in use by the sessions of this worker; --memory-budget 16384 over 1 worker)",
    ),
  );
  t.equal(ram.touchedBytes, 2 * PAGE, 'no page was made');
  ram.readBytes(0x1ff0n, out.subarray(0, 0x20));
  t.same([...out.subarray(0, 0x20)], Array(0x20).fill(0), 'nothing was written');
  t.throws(() => ram.fill(0x10000n, 3n * BigInt(PAGE), 0x5a), MemoryBudgetExceeded, 'a fill likewise');
  t.equal(ram.touchedBytes, 2 * PAGE);
  ram.fill(0n, 2n * BigInt(PAGE), 0);
  t.equal(budget.ramBytes, 0, 'zero-filling whole pages gives them back');
  ram.fill(0x10000n, 3n * BigInt(PAGE), 0x5a);
  t.equal(budget.ramBytes, 3 * PAGE);
  t.equal(budget.state().refusals, 2);
  t.end();
});

t.test('accounts: closing one gives back what it charged; buffered bytes count too', (t) => {
  const budget = new MemoryBudget(4 * PAGE);
  const a = budget.account();
  const b = budget.account();
  new SparseRam('a', 1n << 20n, Number.MAX_SAFE_INTEGER, a).writeBytes(0n, new Uint8Array(2 * PAGE));
  const rb = new SparseRam('b', 1n << 20n, Number.MAX_SAFE_INTEGER, b);
  rb.writeBytes(0n, new Uint8Array(PAGE));
  let queued = PAGE;
  const uncount = budget.addSource(() => queued);
  t.equal(budget.inUse(), 4 * PAGE);
  t.match(budget.refusal(), /^16 KiB of 16 KiB in use/, 'full: new sessions are refused');
  t.throws(() => rb.writeBytes(0x1000n, new Uint8Array(1)), MemoryBudgetExceeded, 'queued bytes leave no room');
  queued = 0;
  rb.writeBytes(0x1000n, new Uint8Array(1));
  a.close();
  t.equal(budget.ramBytes, 2 * PAGE, "a's pages are back");
  uncount();
  t.equal(budget.refusal(), undefined);
  b.close();
  rb.writeBytes(0x2000n, new Uint8Array(1));
  t.equal(budget.ramBytes, 0, 'a closed account charges nothing');
  t.end();
});

t.test('no budget: never refuses', (t) => {
  const budget = new MemoryBudget();
  const ram = new SparseRam('ram', 1n << 30n, Number.MAX_SAFE_INTEGER, budget.account());
  ram.fill(0n, 1n << 24n, 1);
  t.equal(budget.ramBytes, 1 << 24);
  t.equal(budget.refusal(), undefined);
  t.end();
});

t.test('prepare: a range is backed in one step or not at all', (t) => {
  const budget = new MemoryBudget(4 * PAGE);
  const ram = new SparseRam('ram', 1n << 30n, Number.MAX_SAFE_INTEGER, budget.account());
  ram.writeBytes(0n, new Uint8Array([7]));
  t.throws(() => ram.prepare(0n, 5n * BigInt(PAGE)), MemoryBudgetExceeded);
  t.equal(ram.touchedBytes, PAGE, 'nothing was backed');
  ram.prepare(0x800n, 3n * BigInt(PAGE));
  t.equal(budget.ramBytes, 4 * PAGE);
  const out = new Uint8Array(2);
  ram.readBytes(0n, out);
  t.same([...out], [7, 0], 'contents unchanged');
  ram.writeBytes(0x1000n, new Uint8Array(3 * PAGE - 0x800)); // inside what was prepared: no charge
  t.equal(budget.ramBytes, 4 * PAGE);
  t.end();
});
