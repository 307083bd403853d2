/**
 * The machine as QEMU 10.2.2 shows it, differentially against the oracle (same argv):
 * `qom-list /machine` (names, types, order) and the `qom-get` of every non-child property;
 * `qom-list /objects` and a memory backend's properties; `-smp` topology resolution and its
 * errors; `-numa` with `info numa` and the CPUs' node-id; `-readconfig`; the CPU's GPIO inputs for
 * irq_intercept_in / set_irq_in. The oracle's replies for the first argv are kept under
 * protocol/captures/qemu-10.2.2/qom/ (machine-virt.json): without the oracle qtestd is checked
 * against that capture.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { launch, REPO_ROOT } from '../helpers/launch.js';
import type { Instance, TargetName } from '../helpers/launch.js';
import { oracleAvailable, withOracle } from '../helpers/oracle.js';
import { run } from '../upstream/generic-qtests.js';
import { binaryFor } from '../helpers/launch.js';

t.setTimeout(5 * 60_000);

const CAPTURE = join(REPO_ROOT, 'protocol', 'captures', 'qemu-10.2.2', 'qom', 'machine-virt.json');

/** qom-list then qom-get of each non-child property of `path`: [name, type, value-or-error]. */
async function dumpObject(i: Instance, path: string): Promise<unknown[]> {
  const list = (await i.qmp!.executeRaw('qom-list', { path })) as Array<{ name: string; type: string }>;
  const out: unknown[] = [];
  for (const p of list) {
    if (p.type.startsWith('child<')) {
      out.push([p.name, p.type]);
      continue;
    }
    let v: unknown;
    try {
      v = await i.qmp!.executeRaw('qom-get', { path, property: p.name });
    } catch (e) {
      v = { error: (e as Error).message };
    }
    out.push([p.name, p.type, v]);
  }
  return out;
}

async function hmp(i: Instance, cmd: string): Promise<string> {
  return (await i.qmp!.executeRaw('human-monitor-command', { 'command-line': cmd })) as string;
}

interface Probe {
  name: string;
  args: string[];
  collect(i: Instance): Promise<unknown>;
}

const PROBES: Probe[] = [
  {
    name: 'virt defaults: /machine and /objects',
    args: ['-machine', 'virt'],
    collect: async (i) => ({
      machine: await dumpObject(i, '/machine'),
      objects: await dumpObject(i, '/objects'),
      ram: await dumpObject(i, '/objects/mach-virt.ram'),
    }),
  },
  {
    name: 'virt with options: values follow them',
    args: [
      '-machine',
      'virt,acpi=off,gic-version=3,iommu=smmuv3,highmem=off',
      '-smp',
      '4,sockets=2,clusters=1,cores=2,threads=1',
      '-m',
      '512',
    ],
    collect: (i) => dumpObject(i, '/machine'),
  },
  {
    name: 'none: /machine, /objects, a memory backend',
    args: ['-machine', 'none', '-object', 'memory-backend-ram,id=node0,size=65536'],
    collect: async (i) => ({
      machine: await dumpObject(i, '/machine'),
      objects: await dumpObject(i, '/objects'),
      backend: await dumpObject(i, '/objects/node0'),
    }),
  },
  {
    name: 'none -m 2',
    args: ['-machine', 'none', '-m', '2'],
    collect: async (i) => ({ machine: await dumpObject(i, '/machine'), objects: await dumpObject(i, '/objects') }),
  },
  ...[
    ['-machine', 'smp.cpus=8', '-numa', 'node,nodeid=0,memdev=ram,cpus=0-1', '-numa', 'node,nodeid=1,cpus=4-5'],
    ['-machine', 'smp.cpus=8,smp.sockets=8', '-numa', 'node,memdev=ram', '-numa', 'node'],
    [
      '-machine',
      'smp.cpus=2,smp.sockets=2,smp.clusters=1,smp.cores=1,smp.threads=1',
      '-numa',
      'node,nodeid=0,memdev=ram',
      '-numa',
      'node,nodeid=1',
      '-numa',
      'cpu,node-id=0,socket-id=1,cluster-id=0,core-id=0,thread-id=0',
      '-numa',
      'cpu,node-id=1,socket-id=0,cluster-id=0,core-id=0,thread-id=0',
    ],
  ].map((extra): Probe => ({
    name: `numa: ${extra.join(' ')}`,
    args: ['-object', 'memory-backend-ram,id=ram,size=128M', '-machine', 'virt', ...extra],
    collect: async (i) => ({
      numa: await hmp(i, 'info numa'),
      cpus: ((await i.qmp!.executeRaw('query-cpus-fast')) as Array<Record<string, unknown>>).map((c) => [
        c['cpu-index'],
        c['qom-path'],
        c.props,
      ]),
      objects: await dumpObject(i, '/objects'),
      memoryBackend: await i.qmp!.executeRaw('qom-get', { path: '/machine', property: 'memory-backend' }),
    }),
  })),
  {
    name: 'CPU GPIO inputs: irq_intercept_in, set_irq_in',
    args: ['-machine', 'virt', '-smp', '2'],
    collect: async (i) => {
      const cpu = '/machine/unattached/device[0]';
      const out: string[][] = [];
      for (const line of [
        `set_irq_in ${cpu} unnamed-gpio-in 1 1`,
        `irq_intercept_in ${cpu}`,
        `set_irq_in ${cpu} unnamed-gpio-in 0 1`,
        `set_irq_in ${cpu} unnamed-gpio-in 5 1`,
        `set_irq_in ${cpu} unnamed-gpio-in 5 0`,
        `irq_intercept_out ${cpu}`,
        `irq_intercept_in /machine/unattached/device[1]`,
      ])
        out.push(await i.qtest.request(line));
      return out;
    },
  },
];

async function collect(target: TargetName, p: Probe): Promise<unknown> {
  const i = await launch({ target, args: p.args });
  try {
    return await p.collect(i);
  } finally {
    await i.teardown();
  }
}

for (const p of PROBES) {
  await withOracle(t, p.name, async (tt: Test) => {
    const [q, o] = await Promise.all([collect('qtestd', p), collect('oracle', p)]);
    tt.same(q, o, 'qtestd answers as QEMU 10.2.2');
    if (p === PROBES[0] && process.env.QTESTD_WRITE_CAPTURES === '1')
      writeFileSync(CAPTURE, JSON.stringify(o, null, 1));
  });
}

if (!oracleAvailable) {
  t.test('virt defaults vs the kept capture', async (tt) => {
    const want = JSON.parse(readFileSync(CAPTURE, 'utf8')) as unknown;
    tt.same(await collect('qtestd', PROBES[0]), want, 'qtestd matches protocol/captures/.../machine-virt.json');
  });
}

/** Command lines QEMU rejects: same stderr line, both exit 1. */
const REJECTED: string[][] = [
  ['-smp', '0'],
  ['-smp', 'cpus=4,sockets=0'],
  ['-smp', '8,sockets=2,cores=2,threads=2,maxcpus=16'],
  ['-smp', '4,maxcpus=2'],
  ['-smp', '600'],
  ['-smp', '2,bogus=1'],
  ['-smp', 'foo'],
  ['-smp', '2,dies=2'],
  ['-machine', 'none', '-smp', '2'],
  ['-machine', 'none', '-numa', 'node'],
  ['-readconfig', '/nonexistent/qtestd.cfg'],
];

for (const args of REJECTED) {
  await withOracle(t, `rejected: ${args.join(' ')}`, async (tt: Test) => {
    const dir = mkdtempSync(join(tmpdir(), 'qtestd-machine-'));
    try {
      const line = async (target: TargetName) => {
        const r = await run(binaryFor(target), ['-machine', 'virt', ...args, '-display', 'none', '-accel', 'qtest'], {
          cwd: dir,
        });
        return { code: r.code, first: r.stderr.split('\n').find((l) => !/warning/.test(l)) };
      };
      const [q, o] = await Promise.all([line('qtestd'), line('oracle')]);
      tt.same(q, o, `stderr and exit status as QEMU: ${o.first}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

await withOracle(t, '-readconfig: [object], [machine], [smp-opts], [memory] sections', async (tt: Test) => {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-readconfig-'));
  tt.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'm.cfg');
  writeFileSync(
    cfg,
    '# a comment\n\n[machine]\n  type = "virt"\n[smp-opts]\n  cpus = "2"\n[memory]\n  size = "256M"\n' +
      '[object]\n  qom-type = "rng-builtin"\n  id = "rng0"\n[object "mem0"]\n  qom-type = "memory-backend-ram"\n  size = "1M"\n',
  );
  const probe: Probe = {
    name: 'readconfig',
    args: ['-readconfig', cfg],
    collect: async (i) => ({
      machine: await dumpObject(i, '/machine'),
      // /objects lists its children in GLib hash-table order, which qtestd does not model (it
      // lists them in creation order): compared as a set here
      objects: (await dumpObject(i, '/objects')).map((x) => JSON.stringify(x)).sort(),
      rng: await dumpObject(i, '/objects/rng0'),
      mem: await dumpObject(i, '/objects/mem0'),
    }),
  };
  const [q, o] = await Promise.all([collect('qtestd', probe), collect('oracle', probe)]);
  tt.same(q, o, 'qtestd answers as QEMU 10.2.2');
});
