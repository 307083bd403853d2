/**
 * pcie-root-port: config space and write masks as QEMU 10.2.2 has them (values observed with ECAM
 * reads on the oracle), secondary-bus routing in ECAM, window forwarding of BARs behind the port,
 * secondary bus reset, slot power, INTx swizzle, StreamIDs, and query-pci / info pci of a bridge.
 */
import t from 'tap';
import { formatInfoPci, pciInfo } from '../../src/machine/introspection.js';
import { PcieRootPort } from '../../src/pci/pcie-root-port.js';
import { makeSession } from '../helpers/session.js';

const BASE = [
  '-machine',
  'virt,acpi=off,gic-version=3,iommu=smmuv3',
  '-cpu',
  'max',
  '-smp',
  '1',
  '-m',
  '512',
  '-net',
  'none',
];
const ECAM = 0x40_1000_0000n;

function rig(extra: string[]) {
  const session = makeSession([...BASE, ...extra]);
  const sys = session.machine.system;
  const rd = (addr: bigint, size = 4): number => {
    const b = new Uint8Array(size);
    sys.readBytes(addr, b);
    return Buffer.from(b).readUIntLE(0, size);
  };
  const wr = (addr: bigint, v: number, size = 4): void => {
    const b = Buffer.alloc(size);
    b.writeUIntLE(v, 0, size);
    sys.writeBytes(addr, new Uint8Array(b));
  };
  const cfgAddr = (bus: number, devfn: number, off: number) =>
    ECAM + (BigInt(bus) << 20n) + (BigInt(devfn) << 12n) + BigInt(off);
  return {
    session,
    rd,
    wr,
    cfgRead: (bus: number, devfn: number, off: number, size = 4) => rd(cfgAddr(bus, devfn, off), size),
    cfgWrite: (bus: number, devfn: number, off: number, v: number, size = 4) => wr(cfgAddr(bus, devfn, off), v, size),
  };
}

/** Non-zero dwords of an empty root port at 00:01.0 (oracle dump). */
const ORACLE_DUMP: Record<number, number> = {
  0x000: 0x000c1b36,
  0x004: 0x00100000,
  0x008: 0x06040000,
  0x00c: 0x00010000,
  0x01c: 0x000000f0,
  0x020: 0x0000fff0,
  0x024: 0x0001fff1,
  0x034: 0x00000054,
  0x03c: 0x00000100,
  0x040: 0x0000000d,
  0x044: 0x00001b36,
  0x048: 0x00004011,
  0x050: 0x00000800,
  0x054: 0x01424810,
  0x058: 0x00008020,
  0x060: 0x00300604,
  0x064: 0x02040000,
  0x068: 0x0002007b,
  0x06c: 0x000007c0,
  0x078: 0x00300020,
  0x080: 0x0000001e,
  0x084: 0x00000004,
  0x100: 0x14820001,
  0x108: 0x02400000,
  0x10c: 0x00462030,
  0x114: 0x0000e000,
  0x118: 0x000002a0,
  0x148: 0x0001000d,
  0x14c: 0x0000005f,
};

t.test('config space of an empty root port matches the oracle dump', (t) => {
  const r = rig(['-device', 'pcie-root-port,id=rp0,chassis=1']);
  for (let off = 0; off < 0x1000; off += 4) {
    const got = r.cfgRead(0, 0x08, off);
    if (got !== (ORACLE_DUMP[off] ?? 0)) t.fail(`0x${off.toString(16)}: 0x${got.toString(16)}`);
  }
  t.pass('4 KiB compared');
  t.end();
});

/** [offset, after writing ones, after writing zeros] (oracle probe, original value restored after). */
const ORACLE_MASKS: Array<[number, number, number]> = [
  [0x004, 0x00100507, 0x00100000],
  [0x00c, 0x000100ff, 0x00010000],
  [0x010, 0xfffff000, 0],
  [0x018, 0x00ffffff, 0],
  [0x01c, 0x0000f0f0, 0],
  [0x020, 0xfff0fff0, 0],
  [0x024, 0xfff1fff1, 0x00010001],
  [0x028, 0xffffffff, 0],
  [0x02c, 0xffffffff, 0],
  [0x030, 0, 0],
  [0x038, 0, 0],
  [0x03c, 0x005f01ff, 0x00000100],
  [0x048, 0xc0004011, 0x00004011],
  [0x05c, 0x0000000f, 0],
  [0x06c, 0x009007f9, 0x00900000],
  [0x070, 0x00000007, 0],
  [0x07c, 0x00008020, 0],
  [0x108, 0x03fff030, 0],
  [0x10c, 0x03fff030, 0],
  [0x114, 0x0000f1c1, 0],
  [0x118, 0x000007e0, 0x000002a0],
  [0x12c, 0x00000007, 0],
  [0x14c, 0x005f005f, 0x0000005f],
  [0x150, 0xffffffff, 0],
];

t.test('write masks match the oracle probe', (t) => {
  const r = rig(['-device', 'pcie-root-port,id=rp0,chassis=1']);
  for (const [off, ones, zeros] of ORACLE_MASKS) {
    const orig = r.cfgRead(0, 0x08, off);
    r.cfgWrite(0, 0x08, off, 0xffffffff);
    const a = r.cfgRead(0, 0x08, off);
    r.cfgWrite(0, 0x08, off, 0);
    const b = r.cfgRead(0, 0x08, off);
    r.cfgWrite(0, 0x08, off, orig);
    t.same([a.toString(16), b.toString(16)], [ones.toString(16), zeros.toString(16)], `0x${off.toString(16)}`);
  }
  t.end();
});

t.test('cold-plugged edu behind rp0: slot state, ECAM routing, windows, bus reset, query-pci, info pci', (t) => {
  const r = rig(['-device', 'pcie-root-port,id=rp0,chassis=1', '-device', 'edu,bus=rp0,id=e0']);
  const RP = 0x08;
  t.equal(r.cfgRead(0, RP, 0x6c), 0x004003c0, 'populated slot: powered, PDS (oracle)');
  t.equal(r.cfgRead(0, RP, 0x64), 0x22040000, 'DLLLA set (oracle)');
  t.equal(r.cfgRead(1, 0, 0), 0xffffffff, 'bus 1 not routed before the bus numbers are programmed');
  r.cfgWrite(0, RP, 0x18, 0x00010100);
  t.equal(r.cfgRead(1, 0, 0), 0x11e81234, 'edu at 01:00.0');
  t.equal(r.cfgRead(1, 8, 0), 0xffffffff, 'nothing at 01:01.0');
  t.equal(r.cfgRead(2, 0, 0), 0xffffffff, 'bus 2 outside [secondary, subordinate]');
  r.cfgWrite(0, RP, 0x20, 0x10101000);
  r.cfgWrite(0, RP, 0x04, 0x0006, 2);
  r.cfgWrite(1, 0, 0x10, 0x10100000);
  r.cfgWrite(1, 0, 0x04, 0x0006, 2);
  t.equal(r.rd(0x10100000n), 0x010000ed, 'edu BAR0 inside the memory window');
  const edu = r.session.machine.pci!.busByName('rp0')!.devices()[0];
  t.equal(edu.requesterId(), 0x0100, 'StreamID = bus << 8 | devfn');
  const info = pciInfo(r.session.machine.pci!);
  t.equal(
    JSON.stringify(info[0].devices[1].pci_bridge),
    JSON.stringify({
      bus: {
        prefetchable_range: { limit: 1048575, base: 4293918720 },
        memory_range: { limit: 270532607, base: 268435456 },
        secondary: 1,
        io_range: { limit: 4095, base: 61440 },
        number: 0,
        subordinate: 1,
      },
      devices: [
        {
          irq_pin: 1,
          bus: 1,
          qdev_id: 'e0',
          irq: 0,
          slot: 0,
          class_info: { class: 255 },
          id: { device: 4584, 'subsystem-vendor': 6900, vendor: 4660, subsystem: 4352 },
          function: 0,
          regions: [{ prefetch: false, mem_type_64: false, bar: 0, size: 1048576, address: 269484032, type: 'memory' }],
        },
      ],
    }),
    'query-pci pci_bridge (oracle)',
  );
  t.equal(
    formatInfoPci(r.session.machine.pci!).split('\n').slice(4).join('\n'),
    [
      '  Bus  0, device   1, function 0:',
      '    PCI bridge: PCI device 1b36:000c',
      '      IRQ 0, pin A',
      '      BUS 0.',
      '      secondary bus 1.',
      '      subordinate bus 1.',
      '      IO range [0xf000, 0x0fff]',
      '      memory range [0x10000000, 0x101fffff]',
      '      prefetchable memory range [0xfff00000, 0x000fffff]',
      '      BAR0: 32 bit memory at 0x00000000 [0x00000fff]',
      '      id "rp0"',
      '  Bus  1, device   0, function 0:',
      '    Class 0255: PCI device 1234:11e8',
      '      PCI subsystem 1af4:1100',
      '      IRQ 0, pin A',
      '      BAR0: 32 bit memory at 0x10100000 [0x101fffff]',
      '      id "e0"',
      '',
    ].join('\n'),
    'info pci (oracle layout)',
  );
  t.end();
});

t.test('window forwarding (oracle sequence)', (t) => {
  const r = rig(['-device', 'pcie-root-port,id=rp0,chassis=1', '-device', 'edu,bus=rp0,id=e0']);
  const RP = 0x08;
  r.cfgWrite(0, RP, 0x18, 0x00010100);
  r.cfgWrite(0, RP, 0x20, 0x10101000);
  r.cfgWrite(0, RP, 0x04, 0x0006, 2);
  r.cfgWrite(1, 0, 0x10, 0x10100000);
  r.cfgWrite(1, 0, 0x04, 0x0006, 2);
  r.cfgWrite(1, 0, 0x10, 0x10200000);
  t.equal(r.rd(0x10200000n), 0xffffffff, 'BAR outside the window');
  r.cfgWrite(1, 0, 0x10, 0x10100000);
  r.cfgWrite(0, RP, 0x20, 0x10101010);
  t.equal(r.rd(0x10100000n), 0x010000ed, 'window exactly the BAR');
  r.cfgWrite(0, RP, 0x20, 0x10001000);
  t.equal(r.rd(0x10100000n), 0xffffffff, 'memory window elsewhere, prefetchable window disabled');
  r.cfgWrite(0, RP, 0x24, 0x10111011);
  t.equal(r.rd(0x10100000n), 0x010000ed, 'through the prefetchable window');
  r.cfgWrite(0, RP, 0x04, 0x0004, 2);
  t.equal(r.rd(0x10100000n), 0xffffffff, 'bridge COMMAND.MEMORY off');
  r.cfgWrite(0, RP, 0x04, 0x0006, 2);
  // Partial window: only the first 512 KiB of a 1 MiB BAR... windows are 1 MiB granular, so use the
  // memory window for [0x10000000, 0x100fffff] and a BAR straddling it.
  r.cfgWrite(0, RP, 0x24, 0x0001fff1);
  r.cfgWrite(1, 0, 0x10, 0x10000000);
  t.equal(r.rd(0x10000000n), 0x010000ed, 'inside again');
  r.cfgWrite(0, RP, 0x18, 0x00030100);
  t.equal(r.cfgRead(2, 0, 0), 0xffffffff, 'bus 2 routed to rp0 but empty');
  r.cfgWrite(0, RP, 0x3c, 0x00400000);
  t.equal(r.cfgRead(1, 0, 0), 0x11e81234, 'the exact secondary number still routes during reset (pci_find_bus_nr)');
  r.cfgWrite(0, RP, 0x3c, 0);
  t.equal(r.cfgRead(1, 0, 4), 0x00100000, 'secondary bus reset cleared edu COMMAND');
  t.equal(r.cfgRead(1, 0, 0x10), 0, 'and its BAR');
  t.end();
});

t.test('guest power-off of a cold-plugged device unplugs it; INTx swizzles through the port', (t) => {
  const r = rig(['-device', 'pcie-root-port,id=rp0,chassis=1', '-device', 'edu,bus=rp0,id=e0']);
  const m = r.session.machine;
  const RP = 0x08;
  const deleted: unknown[] = [];
  m.onDeviceDeleted((d) => deleted.push(d));
  r.cfgWrite(0, RP, 0x18, 0x00010100);
  r.cfgWrite(0, RP, 0x20, 0x10101000);
  r.cfgWrite(0, RP, 0x04, 0x0006, 2);
  r.cfgWrite(1, 0, 0x10, 0x10100000);
  r.cfgWrite(1, 0, 0x04, 0x0006, 2);
  // edu INTA at 01:00 → port pin (0 + 0) % 4 = A → root port at slot 1: host line (1 + 0) % 4 = 1 → SPI 4.
  r.wr(0x10100060n, 1);
  t.equal(m.gic!.spi(4).level, 1, 'SPI 4 raised');
  r.wr(0x10100064n, 1);
  t.equal(m.gic!.spi(4).level, 0, 'and lowered');
  t.same(m.removeDevice('e0'), [], 'device_del with the slot powered: pending');
  t.equal(r.cfgRead(0, RP, 0x6c), 0x004103c0, 'attention button pressed (oracle)');
  r.cfgWrite(0, RP, 0x6c, 0x07c0, 2);
  t.same(deleted, [{ id: 'e0', path: '/machine/peripheral/e0' }], 'DEVICE_DELETED on power-off');
  t.equal(r.cfgRead(0, RP, 0x6c), 0x001907c0, 'slot status after the unplug (oracle)');
  t.equal(r.cfgRead(0, RP, 0x64), 0x02040000, 'DLLLA cleared (oracle)');
  t.equal(r.cfgRead(1, 0, 0), 0xffffffff, 'gone from bus 1');
  t.end();
});

t.test('properties and plug errors', (t) => {
  t.throws(
    () =>
      makeSession([...BASE, '-device', 'pcie-root-port,id=a,chassis=1', '-device', 'pcie-root-port,id=b,chassis=1']),
    /Can't add chassis slot, error -16/,
  );
  t.throws(() => makeSession([...BASE, '-device', 'edu,bus=nope']), /Bus 'nope' not found/);
  const p = new PcieRootPort({ chassis: 3, slot: 5 });
  t.equal(p.config.get(0x68, 4) >>> 19, 5, 'physical slot number');
  t.end();
});

t.test('hot-plug into the powered-off slot: invisible until the guest powers the slot on (oracle)', (t) => {
  const r = rig(['-device', 'pcie-root-port,id=rp0,chassis=1']);
  const RP = 0x08;
  r.cfgWrite(0, RP, 0x18, 0x00010100);
  r.session.machine.addDevice(
    {
      driver: 'edu',
      props: [
        ['id', 'e1'],
        ['bus', 'rp0'],
      ],
      source: 'qmp',
      text: 'edu',
    },
    true,
  );
  t.equal(r.cfgRead(1, 0, 0), 0xffffffff, 'powered off: config reads all-ones');
  t.equal(r.cfgRead(0, RP, 0x6c), 0x004907c0, 'PDS, PDC, ABP');
  const bridge = pciInfo(r.session.machine.pci!)[0].devices[1].pci_bridge!;
  t.equal(bridge.devices?.[0].qdev_id, 'e1', 'query-pci still lists it');
  r.cfgWrite(0, RP, 0x6c, 0x01c0, 2);
  t.equal(r.cfgRead(1, 0, 0), 0x11e81234, 'visible once powered');
  t.equal(r.cfgRead(0, RP, 0x6c), 0x005901c0, 'command completed too');
  t.end();
});
