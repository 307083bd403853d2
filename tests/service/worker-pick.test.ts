/**
 * Which worker gets a new connection (src/service/worker-pool.ts pickWorker): the one with the
 * fewest connections; between equals, the one with the most room in its memory share; and when a
 * worker is short of memory (less than a quarter of its share free), room decides first.
 */
import t from 'tap';
import { pickWorker } from '../../src/service/worker-pool.js';

const MiB = 1024 * 1024;
const mem = (inUse: number, share = 1024 * MiB) => ({ inUse: inUse * MiB, share });

t.equal(pickWorker([{ load: 3 }, { load: 1 }, { load: 2 }]), 1, 'fewest connections (no memory figures)');
t.equal(pickWorker([{ load: 2 }, { load: 2 }]), 0, 'the first of equals');
t.equal(
  pickWorker([
    { load: 2, memory: mem(500) },
    { load: 2, memory: mem(100) },
  ]),
  1,
  'equal connections: the more room',
);
t.equal(
  pickWorker([
    { load: 1, memory: mem(600) },
    { load: 2, memory: mem(100) },
  ]),
  0,
  'room to spare everywhere: fewer connections first',
);
t.equal(
  pickWorker([
    { load: 1, memory: mem(900) },
    { load: 5, memory: mem(100) },
  ]),
  1,
  'a worker short of memory loses to one with room, whatever their connections',
);
t.equal(
  pickWorker([
    { load: 1, memory: mem(1000) },
    { load: 3, memory: mem(950) },
  ]),
  1,
  'both short of memory: the more room',
);
