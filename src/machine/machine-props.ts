/**
 * The QOM properties of /machine and of the objects under /objects as QEMU 10.2.2 lists them
 * (qom-list order and qom-get values captured from the oracle, see
 * protocol/captures/qemu-10.2.2/qom/machine-*.tsv): data tables, values that follow the options
 * (memory, smp, acpi, iommu, gic-version, highmem, ...) read from the MachineConfig. Pure.
 */
import type { MachineConfig, ObjectSpec } from './config.js';
import { objectSize } from './config.js';
import { IrqLine } from '../sim/irq.js';
import { QomNode } from './qom-tree.js';
import type { QomProperty } from './qom-tree.js';
import { formatInfoNuma } from './topology.js';

/** A property value, or how to compute it from the configuration. */
type Value = unknown | ((c: MachineConfig) => unknown);

/** [name, QOM type, value]; a `child<>` row names a child node (value unused). */
type Row = readonly [string, string, Value?];

const SMP_CACHE = ['l1d', 'l1i', 'l2', 'l3'].map((cache) => ({ topology: 'default', cache }));

/** Properties every machine has, in qom-list order (after `type`). */
const COMMON: readonly Row[] = [
  ['kernel', 'string', ''],
  ['dt-compatible', 'string', ''],
  ['boot', 'BootConfiguration', {}],
  ['memory', 'MemorySizeConfiguration', (c: MachineConfig) => ({ size: machineRamBytes(c) })],
  ['initrd', 'string', ''],
  ['confidential-guest-support', 'link<confidential-guest-support>', ''],
  ['aux-ram-share', 'bool', false],
  ['graphics', 'bool', true],
  ['usb', 'bool', false],
  ['firmware', 'string', ''],
  ['memory-encryption', 'string', ''],
  ['dump-guest-core', 'bool', true],
  ['smp', 'SMPConfiguration', (c: MachineConfig) => ({ ...c.topology })],
  ['shim', 'string', ''],
  ['smp-cache', 'SmpCachePropertiesWrapper', SMP_CACHE],
  ['dumpdtb', 'string', ''],
  ['phandle-start', 'int', 0],
  ['memory-backend', 'link<memory-backend>', (c: MachineConfig) => ramBackendPath(c)],
  ['mem-merge', 'bool', true],
  ['dtb', 'string', ''],
  ['append', 'string', ''],
  ['suppress-vmdesc', 'bool', false],
];

const VIRT: readonly Row[] = [
  ...COMMON,
  ['mte', 'bool', false],
  ['x-oem-table-id', 'string', 'BXPC    '],
  ['dtb-randomness', 'bool', true],
  ['secure', 'bool', (c: MachineConfig) => c.secure],
  ['acpi', 'OnOffAuto', (c: MachineConfig) => c.acpi],
  ['highmem-mmio', 'bool', (c: MachineConfig) => c.highmem],
  ['compact-highmem', 'bool', true],
  ['iommu', 'string', (c: MachineConfig) => c.iommu],
  ['dtb-kaslr-seed', 'bool', true],
  ['ras', 'bool', false],
  ['highmem-ecam', 'bool', (c: MachineConfig) => c.highmem && c.highmemEcam],
  ['highmem-redists', 'bool', (c: MachineConfig) => c.highmem],
  ['highmem-mmio-size', 'size', 549755813888n],
  ['highmem', 'bool', (c: MachineConfig) => c.highmem],
  ['x-oem-id', 'string', 'BOCHS '],
  ['its', 'bool', true],
  ['virtualization', 'bool', false],
  ['default-bus-bypass-iommu', 'bool', false],
  ['gic-version', 'string', (c: MachineConfig) => String(c.gicVersion)],
  ['cxl_host_reg[0]', 'child<memory-region>'],
  ['virt.flash1', 'child<cfi.pflash01>'],
  ['unattached', 'child<container>'],
  ['fw_cfg', 'child<fw_cfg_mem>'],
  ['qtest', 'child<qtest>'],
  ['peripheral-anon', 'child<container>'],
  ['nvdimm', 'bool', false],
  ['peripheral', 'child<container>'],
  ['virt.flash0', 'child<cfi.pflash01>'],
  ['pflash1', 'str', ''],
  ['nvdimm-persistence', 'string', ''],
  ['cxl-fmw', 'CXLFixedMemoryWindow', []],
  ['spcr', 'bool', true],
  ['pflash0', 'str', ''],
  ['cxl', 'bool', false],
  ['hmat', 'bool', false],
];

const NONE: readonly Row[] = [
  ...COMMON,
  ['spcr', 'bool', true],
  ['peripheral-anon', 'child<container>'],
  ['peripheral', 'child<container>'],
  ['qtest', 'child<qtest>'],
  ['unattached', 'child<container>'],
];

/** The machine's RAM size as `memory.size` reports it (`none` has none unless -m is given). */
export function machineRamBytes(c: MachineConfig): bigint {
  return c.machine === 'none' && !c.ramExplicit ? 0n : c.ramBytes;
}

/** The id of the backend QEMU creates for the machine's RAM, if it creates one (not with NUMA memdevs). */
export function ramBackendId(c: MachineConfig): string | undefined {
  if (c.numa.nodes.some((n) => n.memdev !== undefined)) return undefined;
  if (machineRamBytes(c) === 0n) return undefined;
  return c.machine === 'virt' ? 'mach-virt.ram' : 'ram';
}

function ramBackendPath(c: MachineConfig): string {
  const id = ramBackendId(c);
  return id === undefined ? '' : `/objects/${id}`;
}

export interface QomLayout {
  /** Names in qom-list order, `type` first (children included). */
  order: string[];
  /** The non-child properties. */
  properties: QomProperty[];
  /** Child name → QOM type, for the children the layout names. */
  children: Map<string, string>;
}

function layout(rows: readonly Row[], cfg: MachineConfig): QomLayout {
  const out: QomLayout = { order: ['type'], properties: [], children: new Map() };
  for (const [name, type, value] of rows) {
    out.order.push(name);
    const child = /^child<(.+)>$/.exec(type);
    if (child) {
      out.children.set(name, child[1]);
      continue;
    }
    const get = typeof value === 'function' ? () => (value as (c: MachineConfig) => unknown)(cfg) : () => value;
    out.properties.push({ name, type, get });
  }
  return out;
}

/** With `secure=on` the machine owns the Secure view's container, listed after `cxl-fmw`. */
const VIRT_SECURE: readonly Row[] = VIRT.flatMap((r): Row[] =>
  r[0] === 'cxl-fmw' ? [r, ['secure-memory[0]', 'child<memory-region>']] : [r],
);

/** /machine's properties and child names for this configuration. */
export function machineLayout(cfg: MachineConfig): QomLayout {
  return layout(cfg.machine === 'virt' ? (cfg.secure ? VIRT_SECURE : VIRT) : NONE, cfg);
}

const BACKEND_RAM = (o: ObjectSpec, cfg: MachineConfig): Row[] => {
  const bool = (k: string, dflt: boolean): boolean => {
    const v = o.props.find(([key]) => key === k)?.[1];
    return v === undefined ? dflt : v === 'on' || v === 'true' || v === 'yes';
  };
  const threads = o.props.find(([key]) => key === 'prealloc-threads')?.[1];
  return [
    ['share', 'bool', bool('share', false)],
    ['size', 'int', objectSize(o)],
    ['dump', 'bool', bool('dump', true)],
    // objects are completed after the machine: the default is its number of CPUs
    ['prealloc-threads', 'int', threads === undefined ? cfg.smp : BigInt(threads)],
    ['x-use-canonical-path-for-ramblock-id', 'bool', false],
    ['policy', 'HostMemPolicy', 'default'],
    ['prealloc-context', 'link<thread-context>', ''],
    ['prealloc', 'bool', bool('prealloc', false)],
    ['reserve', 'bool', bool('reserve', true)],
    ['host-nodes', 'int', []],
    ['merge', 'bool', bool('merge', true)],
    [`${o.id}[0]`, 'child<memory-region>'],
  ];
};

const OBJECT_ROWS: Record<string, (o: ObjectSpec, cfg: MachineConfig) => Row[]> = {
  'memory-backend-ram': BACKEND_RAM,
  'rng-builtin': () => [['opened', 'bool', true]],
};

/** The properties and children of a user object (memory-backend-ram, rng-builtin). */
export function objectLayout(o: ObjectSpec, cfg: MachineConfig): QomLayout {
  return layout(OBJECT_ROWS[o.type]?.(o, cfg) ?? [], cfg);
}

/** Give `node` a layout's properties, order and (empty) children. */
export function applyLayout(node: QomNode, l: QomLayout): void {
  node.order = l.order;
  node.properties.push(...l.properties);
  for (const [name, type] of l.children) node.add(new QomNode(name, type));
}

/** GPIO inputs of an Arm CPU (arm_cpu_set_irq's lines) and its generic-timer outputs (NUM_GTIMERS). */
const CPU_GPIO_IN = 6;
const CPU_GT_TIMERS = 7;

const lines = (prefix: string, n: number): IrqLine[] =>
  Array.from({ length: n }, (_, i) => new IrqLine(`${prefix}[${i}]`));

/**
 * CPU `i`'s GPIO lists as QEMU's Arm CPU has them: IRQ, FIQ, VIRQ, VFIQ, NMI, VINMI in (unnamed);
 * the generic timers out (unnamed), `gicv3-maintenance-interrupt` and `pmu-interrupt` out.
 */
export function addCpuGpios(cpu: QomNode, i: number): void {
  cpu.gpioIn.set('', lines(`cpu${i}-in`, CPU_GPIO_IN));
  cpu.gpioOut.set('', lines(`cpu${i}-gt`, CPU_GT_TIMERS));
  cpu.gpioOut.set('gicv3-maintenance-interrupt', lines(`cpu${i}-maint`, 1));
  cpu.gpioOut.set('pmu-interrupt', lines(`cpu${i}-pmu`, 1));
}

/** HMP `info numa` of a machine: each node's memory is its memdev's size. */
export function machineInfoNuma(cfg: MachineConfig): string {
  return formatInfoNuma(cfg.topology!, cfg.numa, (node) => {
    const o = cfg.objects.find((x) => x.id === node.memdev);
    return o ? objectSize(o) : 0n;
  });
}
