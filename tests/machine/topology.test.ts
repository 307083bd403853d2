/**
 * machine/topology.ts and config/readconfig.ts without the oracle: QEMU's smp resolution rules
 * (values and error texts as the oracle gives them, see tests/machine/machine-qom.test.ts), NUMA
 * node assignment, `info numa` text and the readconfig file format.
 */
import t from 'tap';
import { formatInfoNuma, possibleCpus, resolveSmp } from '../../src/machine/topology.js';
import { parseReadconfig, ReadconfigError } from '../../src/config/readconfig.js';

const VIRT = { name: 'virt-10.2', maxCpus: 512, clustersSupported: true };

t.test('smp resolution', async (t) => {
  t.match(resolveSmp({}, VIRT), { cpus: 1, maxcpus: 1, sockets: 1, cores: 1, threads: 1, clusters: 1 });
  t.match(resolveSmp({ cpus: 8 }, VIRT), { cpus: 8, maxcpus: 8, sockets: 1, cores: 8, threads: 1 });
  t.match(resolveSmp({ cpus: 2, clusters: 2 }, VIRT), { cpus: 2, clusters: 2, cores: 1 });
  t.match(resolveSmp({ cpus: 8, sockets: 8 }, VIRT), { sockets: 8, cores: 1 });
  t.throws(() => resolveSmp({ cpus: 0 }, VIRT), /CPU topology parameters must be greater than zero/);
  t.throws(
    () => resolveSmp({ cpus: 8, sockets: 2, cores: 2, threads: 2, maxcpus: 16 }, VIRT),
    /sockets \(2\) \* clusters \(1\) \* cores \(2\) \* threads \(2\) != maxcpus \(16\)/,
  );
  t.throws(() => resolveSmp({ cpus: 2 }, { name: 'none', maxCpus: 1, clustersSupported: false }), {
    message: "Invalid SMP CPUs 2. The max CPUs supported by machine 'none' is 1",
  });
});

t.test('numa: explicit cpus, the rest by socket, info numa', async (t) => {
  const topo = resolveSmp({ cpus: 8 }, VIRT);
  const numa = {
    nodes: [
      { nodeid: 0, memdev: 'ram', cpus: [0, 1] },
      { nodeid: 1, cpus: [4, 5] },
    ],
    cpus: [],
  };
  t.same(
    possibleCpus(topo, numa).map((c) => c['node-id']),
    [0, 0, 0, 0, 1, 1, 0, 0],
  );
  t.equal(
    formatInfoNuma(topo, numa, (n) => (n.memdev ? 128n << 20n : 0n)),
    '2 nodes\nnode 0 cpus: 0 1 2 3 6 7\nnode 0 size: 128 MB\nnode 0 plugged: 0 MB\n' +
      'node 1 cpus: 4 5\nnode 1 size: 0 MB\nnode 1 plugged: 0 MB\n',
  );
});

t.test('readconfig format', async (t) => {
  t.same(
    parseReadconfig('# c\n[object]\n  qom-type = "rng-builtin"\n  id = "rng0"\n[object "m,0"]\n size = "1M"\n', 'f'),
    [
      { option: 'object', value: 'qom-type=rng-builtin,id=rng0', line: 2 },
      { option: 'object', value: 'id=m,,0,size=1M', line: 5 },
    ],
  );
  t.throws(() => parseReadconfig('[object]\nbogus\n', 'f.cfg'), new ReadconfigError('f.cfg:2: parse error'));
});
