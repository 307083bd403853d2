/**
 * SparseRam.prepare (src/memory/sparse-ram.ts): a big write or fill is charged whole up front
 * (refused whole, changing nothing, when it does not fit) and its pages are made only as it
 * writes them; pages made later take the prepaid charge first; clear() gives back all of it.
 */
import t from 'tap';
import { MemoryBudget, MemoryBudgetExceeded } from '../../src/memory/memory-budget.js';
import { SparseRam } from '../../src/memory/sparse-ram.js';

const PAGE = 4096;

t.test('prepare charges, pages come later, the charge is not taken twice', async (t) => {
  const budget = new MemoryBudget(64 * PAGE);
  const ram = new SparseRam('ram', 1n << 30n, Number.MAX_SAFE_INTEGER, budget.account());
  ram.prepare(0n, BigInt(16 * PAGE));
  t.equal(budget.ramBytes, 16 * PAGE, 'charged whole');
  t.equal(ram.touchedBytes, 0, 'no page made yet');
  ram.fill(0n, BigInt(8 * PAGE), 0x5a);
  t.equal(ram.touchedBytes, 8 * PAGE, 'pages made as they are written');
  t.equal(budget.ramBytes, 16 * PAGE, 'from the prepaid charge');
  ram.writeBytes(BigInt(8 * PAGE), new Uint8Array(8 * PAGE).fill(1));
  t.equal(budget.ramBytes, 16 * PAGE, 'the rest too');
  ram.writeBytes(BigInt(100 * PAGE), new Uint8Array(4).fill(2));
  t.equal(budget.ramBytes, 17 * PAGE, 'past it, a new page is charged');
  ram.prepare(0n, BigInt(16 * PAGE));
  t.equal(budget.ramBytes, 17 * PAGE, 'preparing made pages charges nothing');
  ram.clear();
  t.equal(budget.ramBytes, 0, 'clear gives everything back');
});

t.test('a prepare that does not fit changes nothing', async (t) => {
  const budget = new MemoryBudget(8 * PAGE);
  const ram = new SparseRam('ram', 1n << 30n, Number.MAX_SAFE_INTEGER, budget.account());
  ram.prepare(0n, BigInt(4 * PAGE));
  t.throws(() => ram.prepare(BigInt(4 * PAGE), BigInt(16 * PAGE)), MemoryBudgetExceeded);
  t.equal(budget.ramBytes, 4 * PAGE, 'only the first charge stands');
  const limited = new SparseRam('ram', 1n << 30n, 4 * PAGE);
  t.throws(() => limited.prepare(0n, BigInt(5 * PAGE)), /guest RAM budget of 16384 bytes exceeded/);
  limited.prepare(0n, BigInt(4 * PAGE));
  limited.writeBytes(BigInt(10 * PAGE), new Uint8Array(1));
  t.equal(limited.touchedBytes, PAGE, 'a page made elsewhere takes a prepaid one');
  t.throws(
    () => limited.prepare(BigInt(20 * PAGE), BigInt(4 * PAGE)),
    /exceeded/,
    'made and prepaid pages together count against the limit',
  );
});
