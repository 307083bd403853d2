/**
 * HMP `info qtree` for the modelled `virt` board (QEMU 10.2.2's qdev_print layout): the sysbus devices
 * of the board as data (stand-ins included: pl011, pl031, pl061, gpio-key, fw_cfg, 32 virtio-mmio,
 * platform bus, GIC, ITS, flash, gpex), the PCI functions from the Machine. A bus lists its devices
 * newest first, as QEMU does. Captures: protocol/captures/qemu-10.2.2/hmp/qtree/.
 * User devices print the qdev property values they were created with (Machine.qdevProps).
 */
import { PCI_CFG } from '../pci/config-space.js';
import type { PciDevice } from '../pci/pci-device.js';
import { bridgeOf } from '../pci/pci-topology.js';
import type { PciBus } from '../pci/pci-topology.js';
import { funcOf, slotOf } from '../pci/requester-id.js';
import type { Machine } from './machine.js';

/** A qdev property value, typed as qdev prints it. */
type QProp =
  | { n: string; t: 'uint'; v: bigint }
  | { n: string; t: 'int'; v: bigint }
  | { n: string; t: 'size'; v: bigint }
  | { n: string; t: 'bool'; v: boolean }
  | { n: string; t: 'str'; v: string }
  | { n: string; t: 'raw'; v: string };

interface QDev {
  type: string;
  id: string;
  /** gpio/clock lines, printed before the properties. */
  lines: string[];
  props: QProp[];
  /** Lines after the properties (mmio, PCI class/bar). */
  tail: string[];
  buses: QBus[];
}
interface QBus {
  name: string;
  type: string;
  devices: QDev[];
}

const u = (n: string, v: number | bigint): QProp => ({ n, t: 'uint', v: BigInt(v) });
const sz = (n: string, v: number): QProp => ({ n, t: 'size', v: BigInt(v) });
const b = (n: string, v: boolean): QProp => ({ n, t: 'bool', v });
const s = (n: string, v: string): QProp => ({ n, t: 'str', v });

const hex = (v: bigint, w: number): string => v.toString(16).padStart(w, '0');
const U64 = (1n << 64n) - 1n;

/** size_to_str: the largest binary unit that leaves a value of at least 1, up to 3 significant digits. */
function sizeText(v: bigint): string {
  if (v === 0n) return '0 B';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let e = 0;
  while (e < 6 && v >= 1n << BigInt(10 * (e + 1))) e++;
  const val = Number(v) / 2 ** (10 * e);
  const digits = val >= 100 ? 0 : val >= 10 ? 1 : 2;
  return `${Number(val.toFixed(digits)).toString()} ${units[e]}`;
}

function propText(p: QProp): string {
  switch (p.t) {
    case 'uint':
      return `${p.v} (0x${p.v.toString(16)})`;
    case 'int':
      return `${p.v} (0x${(p.v & U64).toString(16)})`;
    case 'size':
      return `${p.v} (${sizeText(p.v)})`;
    case 'bool':
      return String(p.v);
    case 'str':
      return `"${p.v}"`;
    case 'raw':
      return p.v;
  }
}

const sysirq = (n: number): string => `gpio-out "sysbus-irq" ${n}`;
/** An `mmio` line; `undefined` is a region not mapped by the bus itself. */
const mmio = (addr: bigint | undefined, size: bigint): string =>
  `mmio ${addr === undefined ? 'ffffffffffffffff' : hex(addr, 16)}/${hex(size, 16)}`;
const dev = (type: string, lines: string[], props: QProp[], tail: string[], buses: QBus[] = []): QDev => ({
  type,
  id: '',
  lines,
  props,
  tail,
  buses,
});

const pflash = (name: string): QDev =>
  dev(
    'cfi.pflash01',
    [],
    [
      s('drive', ''),
      ...[u('num-blocks', 256), u('sector-length', 0x40000), u('width', 4), u('device-width', 2)],
      ...[u('max-device-width', 2), b('big-endian', false), b('secure', false)],
      ...[u('id0', 0x89), u('id1', 0x18), u('id2', 0), u('id3', 0), s('name', name)],
      b('old-multiple-chip-handling', false),
    ],
    [mmio(undefined, 0x400_0000n)],
  );
const pl011 = (chardev: string): QDev =>
  dev(
    'pl011',
    [sysirq(6), 'clock-in "clk" freq_hz=0 Hz'],
    [s('chardev', chardev), b('migrate-clk', true)],
    [mmio(undefined, 0x1000n)],
  );
const pl061 = (): QDev =>
  dev(
    'pl061',
    ['gpio-in "" 8', 'gpio-out "" 8', sysirq(1)],
    [u('pullups', 0), u('pulldowns', 0xff)],
    [mmio(undefined, 0x1000n)],
  );

type Kind = 'uint' | 'int' | 'size' | 'bool' | 'str';
/** A qdev property: name, how it prints, default. */
type Decl = readonly [string, Kind, bigint | boolean | string];
const MAX64 = 0xffff_ffff_ffff_ffffn;

/** The generic PCI device properties in qdev order; `addr` is printed from the devfn (sec-sid stays hidden). */
const PCI_PROPS: readonly Decl[] = [
  ...[
    ['romfile', 'str', ''],
    ['romsize', 'uint', 0xffff_ffffn],
    ['rombar', 'int', -1n],
  ],
  ...[
    ['multifunction', 'bool', false],
    ['x-pcie-lnksta-dllla', 'bool', true],
    ['x-pcie-extcap-init', 'bool', true],
  ],
  ...[
    ['failover_pair_id', 'str', ''],
    ['acpi-index', 'uint', 0n],
    ['x-pcie-err-unc-mask', 'bool', true],
  ],
  ...[
    ['x-pcie-ari-nextfn-1', 'bool', false],
    ['x-max-bounce-buffer-size', 'size', 4096n],
    ['sriov-pf', 'str', ''],
  ],
  ...[['x-pcie-ext-tag', 'bool', true]],
] as const;

/** Each modelled type's own qdev properties, printed before the generic ones (leaf class first). */
const OWN_PROPS: Readonly<Record<string, readonly Decl[]>> = {
  'pci-testdev': [
    ['membar', 'size', 0n],
    ['membar-backed', 'bool', false],
  ],
  'pcie-root-port': [
    ...[
      ['x-migrate-msix', 'bool', true],
      ['bus-reserve', 'uint', 0xffff_ffffn],
      ['io-reserve', 'size', MAX64],
    ],
    ...[
      ['mem-reserve', 'size', MAX64],
      ['pref32-reserve', 'size', MAX64],
      ['pref64-reserve', 'size', MAX64],
    ],
    ...[
      ['x-speed', 'str', '16'],
      ['x-width', 'str', '32'],
      ['power_controller_present', 'bool', true],
    ],
    ...[
      ['disable-acs', 'bool', false],
      ['chassis', 'uint', 0n],
      ['slot', 'uint', 0n],
      ['hotplug', 'bool', true],
    ],
    ...[
      ['x-do-not-expose-native-hotplug-cap', 'bool', false],
      ['port', 'uint', 0n],
      ['aer_log_max', 'uint', 8n],
    ],
    ['x-pci-express-writeable-slt-bug', 'bool', false],
  ],
} as const;

/** A declared property with the value the device was created with, or its default. */
function qprop([n, kind, dflt]: Decl, set: ReadonlyMap<string, unknown> | undefined): QProp {
  const v = set?.get(n) ?? dflt;
  if (kind === 'bool') return b(n, Boolean(v));
  if (kind === 'str') return s(n, String(v));
  const big = typeof v === 'bigint' ? v : BigInt(Number(v));
  return { n, t: kind, v: kind === 'int' ? big : big & MAX64 };
}

/** The generic properties, then `busnr`: the number of the bus the function sits on, read when printed. */
function pciProps(machine: Machine, d: PciDevice, busnr: number): QProp[] {
  const set = machine.qdevProps.get(d);
  return [
    ...(OWN_PROPS[d.typeName] ?? []).map((p) => qprop(p, set)),
    { n: 'addr', t: 'raw', v: `${hex(BigInt(slotOf(d.devfn)), 2)}.${funcOf(d.devfn)}` },
    ...PCI_PROPS.map((p) => qprop(p, set)),
    u('busnr', busnr),
  ];
}

const CLASS_NAMES: Record<number, string> = { 0x0600: 'Host bridge', 0x0604: 'PCI bridge' };

/** A bus's functions in the order they were plugged (the printer lists them newest first). */
const plugOrder = (bus: PciBus): PciDevice[] => [...bus.slots.values()].map((p) => p.device);

function pciDev(machine: Machine, d: PciDevice, bus: number): QDev {
  const c = d.config;
  const cls = c.get(PCI_CFG.CLASS_DEVICE, 2);
  const h = (v: number): string => v.toString(16).padStart(4, '0');
  const tail = [
    `class ${CLASS_NAMES[cls] ?? 'Class ' + h(cls)}, addr ${hex(BigInt(bus), 2)}:${hex(BigInt(slotOf(d.devfn)), 2)}.${funcOf(d.devfn)}, pci id ${h(c.get(0, 2))}:${h(c.get(2, 2))} (sub ${h(c.get(0x2c, 2))}:${h(c.get(0x2e, 2))})`,
  ];
  for (const bar of d.bars) {
    const at = machine.pci?.mappedBar(d, bar) ?? U64;
    tail.push(
      `bar ${bar.index}: ${bar.kind === 'io' ? 'i/o' : 'mem'} at 0x${at.toString(16)} [0x${((at + bar.size - 1n) & U64).toString(16)}]`,
    );
  }
  const child = bridgeOf(d);
  const sec = child && machine.pci?.secondaryBusOf(child);
  const buses = sec
    ? [{ name: sec.name, type: 'PCIE', devices: plugOrder(sec).map((c) => pciDev(machine, c, sec.number)) }]
    : [];
  return { ...dev(d.typeName, [], pciProps(machine, d, bus), tail, buses), id: d.id ?? '' };
}

/** The board's sysbus devices in creation order (hw/arm/virt.c's machvirt_init). */
function boardDevices(machine: Machine): QDev[] {
  const cfg = machine.config;
  const out: QDev[] = [pflash('virt.flash0'), pflash('virt.flash1')];
  const smp = cfg.smp;
  const gpioIn = `gpio-in "" ${256 + 32 * smp}`;
  if (cfg.gicVersion === 3) {
    out.push(
      dev(
        'arm-gicv3',
        [sysirq(6 * smp), gpioIn],
        [
          ...[u('num-cpu', smp), u('num-irq', 288), u('revision', 3), b('has-lpi', true), b('has-nmi', false)],
          ...[b('has-security-extensions', cfg.secure), u('maintenance-interrupt-id', 0)],
          // The first redistributor region holds 123 frames; more CPUs would need a second region.
          ...[b('force-8-bit-prio', false), u('redist-region-count', Math.min(smp, 123)), u('first-cpu-index', 0)],
        ],
        [mmio(0x0800_0000n, 0x1_0000n), mmio(0x080a_0000n, 0x2_0000n * BigInt(smp))],
      ),
      dev('arm-gicv3-its', [], [], [mmio(0x0808_0000n, 0x2_0000n)]),
    );
  } else {
    out.push(
      dev(
        'arm_gic',
        [sysirq(4 * smp), gpioIn],
        [
          ...[u('num-cpu', smp), u('first-cpu-index', 0), u('num-irq', 288), u('revision', 2)],
          ...[b('has-security-extensions', cfg.secure), b('has-virtualization-extensions', false)],
          u('num-priority-bits', 8),
        ],
        [mmio(0x0800_0000n, 0x1000n), mmio(0x0801_0000n, 0x2000n), ...Array(smp).fill(mmio(undefined, 0x100n))],
      ),
      dev('arm-gicv2m', [sysirq(64)], [u('base-spi', 48), u('num-spi', 64)], [mmio(0x0802_0000n, 0x1000n)]),
    );
  }
  out.push(pl011('serial0'));
  if (cfg.secure) out.push(pl011(''));
  out.push(dev('pl031', [sysirq(1)], [b('migrate-tick-offset', true)], [mmio(0x0901_0000n, 0x1000n)]));
  if (machine.pci) {
    const pcie: QBus = {
      name: 'pcie.0',
      type: 'PCIE',
      devices: plugOrder(machine.pci.rootBus).map((d) => pciDev(machine, d, 0)),
    };
    const zero = [u('x-ecam-base', 0), sz('x-ecam-size', 0), u('x-pio-base', 0), sz('x-pio-size', 0)];
    const win = [u('x-below-4g-mmio-base', 0), sz('x-below-4g-mmio-size', 0)];
    const high = [u('x-above-4g-mmio-base', 0), sz('x-above-4g-mmio-size', 0)];
    out.push(
      dev(
        'gpex-pcihost',
        [sysirq(4)],
        [
          ...[b('allow-unmapped-accesses', true), ...zero, ...win, ...high, u('num-irqs', 4)],
          ...[b('x-config-reg-migration-enabled', true), b('bypass-iommu', false)],
        ],
        [mmio(undefined, 0x1000_0000n), mmio(undefined, U64), mmio(0x3eff_0000n, 0x1_0000n)],
        [pcie],
      ),
    );
  }
  if (machine.smmu)
    out.push(
      dev(
        'arm-smmuv3',
        [sysirq(4)],
        [s('stage', 'nested'), u('bus_num', 0), b('smmu_per_bus', false)],
        [mmio(0x0905_0000n, 0x2_0000n)],
      ),
    );
  out.push(pl061(), dev('gpio-key', ['gpio-in "" 1', sysirq(1)], [], []));
  if (cfg.secure) out.push(pl061(), dev('gpio-pwr', ['gpio-in "shutdown" 1', 'gpio-in "reset" 1'], [], []));
  for (let n = 0; n < 32; n++) {
    out.push(
      dev(
        'virtio-mmio',
        [sysirq(1)],
        [b('format_transport_address', true), b('force-legacy', true), b('ioeventfd', true)],
        [mmio(0x0a00_0000n + BigInt(n) * 0x200n, 0x200n)],
        [{ name: `virtio-mmio-bus.${n}`, type: 'virtio-mmio-bus', devices: [] }],
      ),
    );
  }
  out.push(
    dev(
      'fw_cfg_mem',
      [],
      [u('data_width', 8), b('dma_enabled', true), u('x-file-slots', 32), b('acpi-mr-restore', true)],
      [mmio(0x0902_0008n, 2n), mmio(0x0902_0000n, 8n), mmio(0x0902_0010n, 8n)],
    ),
  );
  out.push({
    ...dev(
      'platform-bus-device',
      [sysirq(64)],
      [u('num_irqs', 64), u('mmio_size', 0x200_0000)],
      [mmio(undefined, 0x200_0000n)],
    ),
    id: 'platform-bus-device',
  });
  return out;
}

function printBus(bus: QBus, indent: number, out: string[], brief: boolean): void {
  const pad = ' '.repeat(indent);
  out.push(`${pad}bus: ${bus.name}`, `${pad}  type ${bus.type}`);
  for (const d of [...bus.devices].reverse()) printDev(d, indent + 2, out, brief);
}

function printDev(d: QDev, indent: number, out: string[], brief: boolean): void {
  const pad = ' '.repeat(indent);
  out.push(`${pad}dev: ${d.type}, id "${d.id}"`);
  if (!brief) {
    for (const l of d.lines) out.push(`${pad}  ${l}`);
    for (const p of d.props) out.push(`${pad}  ${p.n} = ${propText(p)}`);
    for (const l of d.tail) out.push(`${pad}  ${l}`);
  }
  for (const b2 of d.buses) printBus(b2, indent + 2, out, brief);
}

/** HMP `info qtree` (`brief`: -b, only the dev: and bus: lines; LF line ends, the HMP layer writes CRLF). */
export function formatQdevTree(machine: Machine, brief = false): string {
  const out: string[] = [];
  printBus({ name: 'main-system-bus', type: 'System', devices: boardDevices(machine) }, 0, out, brief);
  return out.map((l) => l + '\n').join('');
}
