// Error texts and help output were read from qemu-system-aarch64 10.2.2 (`-device …` on the
// command line, QMP `device_add`, `-device help`, `-device edu,help`, `-device pci-testdev,help`).
import t from 'tap';
import { Edu } from '../../src/devices/edu.js';
import { PciTestdev } from '../../src/devices/pci-testdev.js';
import { parseOptionValue, parseSize, parseStrtou64 } from '../../src/devices/properties.js';
import {
  checkDriver,
  createDevice,
  DEVICE_TYPES,
  deviceHelpLines,
  devicePropertyHelp,
  findDeviceType,
} from '../../src/devices/registry.js';
import { SmmuTestdev } from '../../src/devices/smmu-testdev.js';

const cli = (type: string, opts: Record<string, string>) => createDevice(type, Object.entries(opts), 'cli');
const qmp = (type: string, opts: Record<string, unknown>) => createDevice(type, Object.entries(opts), 'qmp');
const err = (r: ReturnType<typeof createDevice>) => (r.ok ? 'ok' : r.error);

t.test('creates devices with their props', async (t) => {
  const r = cli('edu', { dma_mask: '0xffffffffffffffff', id: 'e1', bus: 'pcie.0' });
  t.ok(r.ok);
  if (r.ok) {
    t.ok(r.created.device instanceof Edu);
    t.equal((r.created.device as Edu).dmaMask, 0xffffffffffffffffn);
  }
  const d = cli('edu', {});
  t.equal(d.ok && (d.created.device as Edu).dmaMask, 0x0fffffffn, 'default dma_mask');
  const p = cli('pci-testdev', { membar: '0x100000', 'membar-backed': 'true' });
  t.ok(p.ok && p.created.device instanceof PciTestdev && p.created.device.bars.length === 3);
  const s = cli('smmu-testdev', { device: '0x0', function: '0x1' });
  t.ok(s.ok && s.created.device instanceof SmmuTestdev && s.created.device.requesterId() === 1);
  const a = cli('edu', { addr: '1f.7' });
  t.equal(a.ok && a.created.devfn, 0xff);
  const a2 = cli('edu', { addr: '02' });
  t.equal(a2.ok && a2.created.devfn, 0x10);
  const q = qmp('edu', { addr: 8 });
  t.equal(q.ok && q.created.devfn, 8);
});

t.test('-device value errors use the keyval texts', async (t) => {
  t.equal(err(cli('edu', { dma_mask: 'x' })), "Parameter 'dma_mask' expects integer");
  t.equal(err(cli('edu', { dma_mask: '' })), "Parameter 'dma_mask' expects integer");
  t.equal(err(cli('edu', { dma_mask: '0x1ffffffffffffffff' })), "Parameter 'dma_mask' expects integer");
  t.equal(err(cli('edu', { dma_mask: '5 ' })), "Parameter 'dma_mask' expects integer");
  t.equal(err(cli('edu', { foo: '1' })), "Property 'edu.foo' not found");
  t.equal(err(cli('edu', { function: '1' })), "Property 'edu.function' not found");
  t.equal(err(cli('edu', { '': '5' })), "Property 'edu.' not found");
  t.equal(err(cli('pci-testdev', { membar: 'x' })), "Parameter 'membar' expects size");
  t.equal(err(cli('pci-testdev', { membar: '16E' })), "Parameter 'membar' expects size");
  t.equal(err(cli('pci-testdev', { membar: '-1' })), "Parameter 'membar' expects size");
  t.equal(err(cli('pci-testdev', { membar: '0x10k' })), "Parameter 'membar' expects size");
  t.equal(err(cli('pci-testdev', { 'membar-backed': 'maybe' })), "Parameter 'membar-backed' expects 'on' or 'off'");
  t.equal(err(cli('edu', { addr: 'zz' })), "Property 'edu.addr' doesn't take value 'zz'");
  t.equal(err(cli('edu', { addr: '0x20' })), "Property 'edu.addr' doesn't take value '0x20'");
  t.equal(err(cli('edu', { addr: '1f.8' })), "Property 'edu.addr' doesn't take value '1f.8'");
  t.equal(err(cli('edu', { addr: '2.' })), "Property 'edu.addr' doesn't take value '2.'");
  t.equal(err(cli('edu', { addr: '-1' })), "Property 'edu.addr' doesn't take value '-1'");
  t.equal(err(cli('edu', { 'acpi-index': 'x' })), "Parameter 'acpi-index' expects integer");
  t.equal(err(cli('edu', { 'acpi-index': '0x100000000' })), "Parameter 'acpi-index' expects uint32_t");
  t.equal(err(cli('edu', { 'acpi-index': '-1' })), "Parameter 'acpi-index' expects uint32_t");
  t.equal(err(cli('edu', { rombar: '0x80000000' })), "Parameter 'rombar' expects int32_t");
  t.equal(err(cli('edu', { rombar: 'x' })), "Parameter 'rombar' expects integer");
  t.equal(err(cli('edu', { romsize: '-1' })), "Parameter 'romsize' expects uint32_t");
  t.equal(err(cli('edu', { multifunction: 'x' })), "Parameter 'multifunction' expects 'on' or 'off'");
  t.equal(err(cli('edu', { 'x-max-bounce-buffer-size': 'x' })), "Parameter 'x-max-bounce-buffer-size' expects size");
  t.equal(err(cli('edu', { busnr: '5' })), "Property 'edu.busnr' is not writable");
  t.equal(err(cli('edu', { rombar: '-5', romfile: '' })), 'ok');
});

t.test('-device number parsing follows strtoull base 0 (oracle qom-get values)', async (t) => {
  t.equal(parseStrtou64('010'), 8n);
  t.equal(parseStrtou64('-0x10'), 18446744073709551600n);
  t.equal(parseStrtou64('-1'), 0xffffffffffffffffn);
  t.equal(parseStrtou64('+7'), 7n);
  t.equal(parseStrtou64('08'), undefined);
  t.equal(parseStrtou64('0x'), undefined);
  t.equal(parseSize('4K'), 4096n);
  t.equal(parseSize('1b'), 1n);
  t.equal(parseSize('0.5M'), 524288n);
  t.equal(parseSize('1.5k'), 1536n);
  t.equal(parseSize('1e'), 1152921504606846976n);
  t.equal(parseSize('4096B'), 4096n);
  t.equal(parseSize('1.5'), undefined);
  const bool = { name: 'b', kind: 'bool' } as const;
  for (const [text, v] of [
    ['on', true],
    ['yes', true],
    ['true', true],
    ['off', false],
    ['no', false],
    ['false', false],
  ] as const) {
    t.same(parseOptionValue('x', bool, text), { ok: true, value: v });
  }
});

t.test('device_add value errors use the QObject input visitor texts', async (t) => {
  t.equal(err(qmp('edu', { dma_mask: 'x' })), "Parameter 'dma_mask' expects uint64");
  t.equal(err(qmp('edu', { dma_mask: '0x10' })), "Parameter 'dma_mask' expects uint64");
  t.equal(err(qmp('edu', { dma_mask: 1.5 })), "Parameter 'dma_mask' expects uint64");
  t.equal(err(qmp('edu', { dma_mask: true })), "Parameter 'dma_mask' expects uint64");
  t.equal(err(qmp('edu', { dma_mask: 18446744073709551616n })), "Parameter 'dma_mask' expects uint64");
  t.equal(err(qmp('edu', { dma_mask: -9223372036854775809n })), "Parameter 'dma_mask' expects uint64");
  const neg = qmp('edu', { dma_mask: -5 });
  t.equal(neg.ok && (neg.created.device as Edu).dmaMask, 0xfffffffffffffffbn, 'negative wraps');
  t.equal(err(qmp('edu', { foo: 1 })), "Property 'edu.foo' not found");
  t.equal(err(qmp('pci-testdev', { membar: '1k' })), "Parameter 'membar' expects uint64");
  t.equal(
    err(qmp('pci-testdev', { 'membar-backed': 'on' })),
    "Invalid parameter type for 'membar-backed', expected: boolean",
  );
  t.equal(
    err(qmp('pci-testdev', { 'membar-backed': 1 })),
    "Invalid parameter type for 'membar-backed', expected: boolean",
  );
  t.equal(err(qmp('edu', { 'acpi-index': -1 })), "Parameter 'acpi-index' expects uint32_t");
  t.equal(err(qmp('edu', { 'acpi-index': 4294967296 })), "Parameter 'acpi-index' expects uint32_t");
  t.equal(err(qmp('edu', { 'acpi-index': '1' })), "Parameter 'acpi-index' expects uint64");
  t.equal(err(qmp('edu', { addr: 'zz' })), "Property 'edu.addr' doesn't take value 'zz'");
  t.equal(err(qmp('edu', { addr: true })), "Invalid parameter type for 'addr', expected int or str");
});

t.test('driver checks', async (t) => {
  t.same(checkDriver('nosuch'), { ok: false, error: "'nosuch' is not a valid device model name" });
  t.same(checkDriver('edu,'), { ok: false, error: "'edu,' is not a valid device model name" });
  t.same(checkDriver('pci-device'), { ok: false, error: "Parameter 'driver' expects a non-abstract device type" });
  t.equal(findDeviceType('toString'), undefined);
  t.equal(findDeviceType('edu')?.parent, 'pci-device');
  for (const info of Object.values(DEVICE_TYPES)) {
    t.equal(info.userCreatable, true);
    t.equal(info.hotpluggable, true);
  }
});

t.test('refuses a membar that is not a power of two (QEMU aborts)', async (t) => {
  t.match(err(cli('pci-testdev', { membar: '1.5k' })), /power of two/);
  t.ok(cli('pci-testdev', { membar: '0' }).ok);
});

t.test('-device help lines and property help match 10.2.2', async (t) => {
  const misc = deviceHelpLines().get('Misc devices')!;
  t.ok(misc.includes('name "edu", bus PCI'));
  t.ok(misc.includes('name "pci-testdev", bus PCI, desc "PCI Test Device"'));
  t.same(devicePropertyHelp(findDeviceType('edu')!), [
    'edu options:',
    '  acpi-index=<uint32>    -  (default: 0)',
    '  addr=<str>             - Slot and optional function number, example: 06.0 or 06 (default: -1)',
    '  busnr=<busnr>',
    '  dma_mask=<uint64>',
    '  failover_pair_id=<str>',
    '  multifunction=<bool>   - on/off (default: off)',
    '  rombar=<int32>         -  (default: -1)',
    '  romfile=<str>',
    '  romsize=<uint32>       -  (default: 4294967295)',
    '  sriov-pf=<str>',
    '  x-max-bounce-buffer-size=<size> - Maximum buffer size allocated for bounce buffers used for mapped access to indirect DMA memory (default: 4096)',
    '  x-pcie-ari-nextfn-1=<bool> - on/off (default: off)',
    '  x-pcie-err-unc-mask=<bool> - on/off (default: on)',
    '  x-pcie-ext-tag=<bool>  - on/off (default: on)',
    '  x-pcie-extcap-init=<bool> - on/off (default: on)',
    '  x-pcie-lnksta-dllla=<bool> - on/off (default: on)',
  ]);
  const pt = devicePropertyHelp(findDeviceType('pci-testdev')!);
  t.same(pt.slice(4, 7), [
    '  failover_pair_id=<str>',
    '  membar-backed=<bool>   - on/off (default: off)',
    '  membar=<size>          -  (default: 0)',
  ]);
});

t.test('QOM type rows come from the registry, each device once, ancestors before it', async (t) => {
  const { QOM_TYPES } = await import('../../src/machine/qom-types.js');
  const { DEVICES } = await import('../../src/devices/registry.js');
  const names = QOM_TYPES.map((r) => r.name);
  for (const d of DEVICES) {
    t.equal(names.filter((n) => n === d.name).length, 1, `${d.name} listed once`);
    const row = QOM_TYPES.find((r) => r.name === d.name)!;
    t.same(
      { parent: row.parent, abstract: row.abstract, interfaces: row.interfaces },
      { parent: d.parent, abstract: false, interfaces: d.interfaces },
    );
    t.ok(
      names.indexOf(d.parent) >= 0 && names.indexOf(d.parent) < names.indexOf(d.name),
      `${d.name}'s parent listed before it`,
    );
  }
});
