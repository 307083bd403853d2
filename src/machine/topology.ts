/**
 * CPU topology and NUMA of a machine, as QEMU 10.2.2 derives them: the `smp` option / `smp.*`
 * machine properties resolved by QEMU's rules (machine_parse_smp_config: unset levels default to 1,
 * the missing one of cores/sockets/threads is computed from maxcpus; `virt` supports clusters,
 * prefers cores), each possible CPU's socket/cluster/core/thread ids (virt_possible_cpu_arch_ids),
 * `-numa node` / `-numa cpu` assignment (a CPU no node names goes to socket-id % nodes) and the
 * text of HMP `info numa`. Errors carry QEMU's texts (checked against the oracle). Pure.
 */
import { ConfigError } from './config-error.js';

export const SMP_KEYS = [
  'cpus',
  'drawers',
  'books',
  'sockets',
  'dies',
  'clusters',
  'modules',
  'cores',
  'threads',
  'maxcpus',
] as const;
export type SmpKey = (typeof SMP_KEYS)[number];

/** The resolved topology; member order is QEMU's qom-get of `smp`. */
export interface SmpTopology {
  modules: number;
  cpus: number;
  maxcpus: number;
  books: number;
  threads: number;
  cores: number;
  dies: number;
  sockets: number;
  clusters: number;
  drawers: number;
}

export interface MachineSmpLimits {
  /** `virt-10.2` or `none` (for the max-CPUs message) */
  name: string;
  maxCpus: number;
  clustersSupported: boolean;
}

/** Resolve the given `smp` values (unset keys absent) the way QEMU does. Throws ConfigError. */
export function resolveSmp(given: Partial<Record<SmpKey, number>>, m: MachineSmpLimits): SmpTopology {
  for (const k of SMP_KEYS)
    if (given[k] === 0)
      throw new ConfigError('Invalid CPU topology: CPU topology parameters must be greater than zero');
  for (const level of ['modules', 'clusters', 'dies', 'books', 'drawers'] as const) {
    const supported = level === 'clusters' && m.clustersSupported;
    if (!supported && (given[level] ?? 1) > 1)
      throw new ConfigError(`${level} > 1 not supported by this machine's CPU topology`);
  }
  const modules = given.modules ?? 1;
  const clusters = given.clusters ?? 1;
  const dies = given.dies ?? 1;
  const books = given.books ?? 1;
  const drawers = given.drawers ?? 1;
  let cpus = given.cpus ?? 0;
  let maxcpus = given.maxcpus ?? 0;
  let sockets = given.sockets ?? 0;
  let cores = given.cores ?? 0;
  let threads = given.threads ?? 0;
  const fixed = drawers * books * dies * clusters * modules;
  if (cpus === 0 && maxcpus === 0) {
    sockets ||= 1;
    cores ||= 1;
    threads ||= 1;
  } else {
    maxcpus ||= cpus;
    if (cores === 0) {
      sockets ||= 1;
      threads ||= 1;
      cores = Math.floor(maxcpus / (fixed * sockets * threads));
    } else if (sockets === 0) {
      threads ||= 1;
      sockets = Math.floor(maxcpus / (fixed * cores * threads));
    }
    if (threads === 0) threads = Math.floor(maxcpus / (fixed * sockets * cores));
  }
  const total = fixed * sockets * cores * threads;
  maxcpus ||= total;
  cpus ||= maxcpus;
  const hierarchy =
    `sockets (${sockets})` +
    (m.clustersSupported ? ` * clusters (${clusters})` : '') +
    ` * cores (${cores}) * threads (${threads})`;
  if (total !== maxcpus)
    throw new ConfigError(
      `Invalid CPU topology: product of the hierarchy must match maxcpus: ${hierarchy} != maxcpus (${maxcpus})`,
    );
  if (maxcpus < cpus)
    throw new ConfigError(
      `Invalid CPU topology: maxcpus must be equal to or greater than smp: ${hierarchy} == maxcpus (${maxcpus}) < smp_cpus (${cpus})`,
    );
  if (maxcpus > m.maxCpus)
    throw new ConfigError(
      `Invalid SMP CPUs ${maxcpus}. The max CPUs supported by machine '${m.name}' is ${m.maxCpus}`,
      undefined,
      'machine-props',
    );
  return { modules, cpus, maxcpus, books, threads, cores, dies, sockets, clusters, drawers };
}

/** A possible CPU's instance properties (query-hotpluggable-cpus / query-cpus-fast `props`). */
export interface CpuProps {
  'node-id'?: number;
  'socket-id': number;
  'cluster-id': number;
  'core-id': number;
  'thread-id': number;
}

export interface NumaNodeSpec {
  nodeid: number;
  memdev?: string;
  /** CPU indexes named by `cpus=` */
  cpus: number[];
}

/** `-numa cpu,node-id=N,socket-id=…`: the CPUs whose given ids all match go to node N. */
export interface NumaCpuSpec {
  nodeId: number;
  match: Partial<Omit<CpuProps, 'node-id'>>;
}

export interface NumaConfig {
  nodes: NumaNodeSpec[];
  cpus: NumaCpuSpec[];
  /** The first -numa option as written (QEMU locates machine-level NUMA errors there). */
  firstOption?: string;
}

/** virt's ids of possible CPU n. */
export function cpuIds(t: SmpTopology, n: number): CpuProps {
  return {
    'socket-id': Math.floor(n / (t.clusters * t.cores * t.threads)),
    'cluster-id': Math.floor(n / (t.cores * t.threads)) % t.clusters,
    'core-id': Math.floor(n / t.threads) % t.cores,
    'thread-id': n % t.threads,
  };
}

/**
 * Every possible CPU (maxcpus of them) with its ids and, when NUMA is configured, its node:
 * explicit `cpus=` / `-numa cpu` first, the rest by socket-id % number of nodes.
 */
export function possibleCpus(t: SmpTopology, numa: NumaConfig): CpuProps[] {
  const out: CpuProps[] = [];
  for (let n = 0; n < t.maxcpus; n++) {
    const ids = cpuIds(t, n);
    if (numa.nodes.length === 0) {
      out.push(ids);
      continue;
    }
    let node = numa.nodes.find((nd) => nd.cpus.includes(n))?.nodeid;
    for (const c of numa.cpus)
      if (Object.entries(c.match).every(([k, v]) => ids[k as keyof CpuProps] === v)) node = c.nodeId;
    // QEMU puts node-id first in the props of query-cpus-fast
    out.push({ 'node-id': node ?? ids['socket-id'] % numa.nodes.length, ...ids });
  }
  return out;
}

/** HMP `info numa`: LF-terminated lines; `memBytes(node)` gives each node's memory. */
export function formatInfoNuma(t: SmpTopology, numa: NumaConfig, memBytes: (node: NumaNodeSpec) => bigint): string {
  const cpus = possibleCpus(t, numa).slice(0, t.cpus);
  const lines = [`${numa.nodes.length} nodes`];
  for (const node of [...numa.nodes].sort((a, b) => a.nodeid - b.nodeid)) {
    const mine = cpus.flatMap((c, i) => (c['node-id'] === node.nodeid ? [` ${i}`] : []));
    lines.push(`node ${node.nodeid} cpus:${mine.join('')}`);
    lines.push(`node ${node.nodeid} size: ${memBytes(node) >> 20n} MB`);
    lines.push(`node ${node.nodeid} plugged: 0 MB`);
  }
  return lines.map((l) => l + '\n').join('');
}

/** `cpus=0-3` / `cpus=1` (a repeated `cpus` key adds to the list). */
export function parseCpuList(text: string): number[] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) throw new ConfigError(`Parameter 'cpus' expects a list of ranges`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (b < a) throw new ConfigError(`Parameter 'cpus' expects a list of ranges`);
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}
