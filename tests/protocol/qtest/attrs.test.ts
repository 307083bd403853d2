import t from 'tap';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { SparseRam } from '../../../src/memory/sparse-ram.js';
import { QtestEndpoint } from '../../../src/protocol/qtest/endpoint.js';
import type { QtestTarget } from '../../../src/protocol/qtest/target.js';
import type { MemTxAttrs } from '../../../src/memory/types.js';
import { RecordingLink, makeSession, PLAIN_VIRT } from '../../helpers/session.js';

// A target with a Non-secure view (RAM at 0x40000000) and a Secure view that also has Secure-only
// RAM at 0x0E000000 (the `virt,secure=on` layout, protocol/qtest.md "Memory attributes").
function twoWorlds(opts: { secure?: boolean; report?: boolean } = {}) {
  const ns = new AddressSpace('memory');
  const ram = new SparseRam('ram', 0x1000_0000n);
  ns.map(0x4000_0000n, ram);
  const s = new AddressSpace('secure-memory');
  s.map(0x4000_0000n, ram);
  s.map(0x0e00_0000n, new SparseRam('secure-ram', 0x100_0000n));
  const seen: Array<MemTxAttrs | undefined> = [];
  const spy = (space: AddressSpace) => ({
    readBytes: (a: bigint, out: Uint8Array, attrs?: MemTxAttrs) => (seen.push(attrs), space.readBytes(a, out, attrs)),
    writeBytes: (a: bigint, d: Uint8Array, attrs?: MemTxAttrs) => (seen.push(attrs), space.writeBytes(a, d, attrs)),
    fill: (a: bigint, l: bigint, b: number, attrs?: MemTxAttrs) => space.fill(a, l, b, attrs),
    isRam: (a: bigint, l: bigint) => space.isRam(a, l),
  });
  const nsView = spy(ns);
  const sView = spy(s);
  const target: QtestTarget = {
    memory: nsView,
    memoryFor: (attrs) => (attrs.secure ? (opts.secure === false ? undefined : sView) : nsView),
    reportMemTxErrors: opts.report ?? false,
    ioPorts: new AddressSpace('io'),
    clock: { nowNs: 0n, nextDeadlineNs: () => undefined, advanceTo: () => {} },
    bigEndian: false,
    resolveDevice: () => undefined,
  };
  const run = (input: string): string => {
    const link = new RecordingLink();
    const ep = new QtestEndpoint({ target, link, maxLineBytes: 1 << 20, maxTransferBytes: 1 << 20 });
    ep.input(Buffer.from(input, 'latin1'));
    return link.out;
  };
  return { run, seen };
}

t.test('trailing attribute word picks the view and the attributes', async (t) => {
  const { run, seen } = twoWorlds();
  t.equal(
    run('writel 0x0e000000 0x12345678 secure\nreadl 0x0e000000 secure\nreadl 0x0e000000 space=secure\n'),
    'OK\nOK 0x0000000012345678\nOK 0x0000000012345678\n',
  );
  t.same(seen.slice(0, 3), [
    { secure: true, space: 0 },
    { secure: true, space: 0 },
    { secure: true, space: 0 },
  ]);
  t.equal(run('readl 0x0e000000 space=root\n'), 'OK 0x0000000012345678\n', 'Root is a Secure-view space');
  t.same(seen[3], { secure: true, space: 2 });
  // Secure-only RAM is absent from the Non-secure view: with attributes a failed access is an ERR.
  t.equal(run('readl 0x0e000000 space=non-secure\n'), 'ERR memory access failed 0x2\n');
  t.equal(run('readl 0x0e000000 space=realm\n'), 'ERR memory access failed 0x2\n');
  t.same(seen.slice(4, 6), [
    { secure: false, space: 1 },
    { secure: false, space: 3 },
  ]);
  // Plain commands keep 10.2.2's answer (OK, zeros) where the access fails.
  t.equal(run('readl 0x0e000000\nwritel 0x0e000000 0x1\n'), 'OK 0x0000000000000000\nOK\n');
  t.equal(seen[6], undefined, 'plain commands pass no attributes');
});

t.test('bulk commands take the attribute word too', async (t) => {
  const { run } = twoWorlds();
  t.equal(
    run(
      'write 0x0e000010 4 0xa1b2c3d4 secure\nread 0x0e000010 4 secure\nb64read 0x0e000010 4 secure\n' +
        'b64write 0x0e000020 2 AQI= space=secure\nread 0x0e000020 2 space=secure\nmemset 0x0e000030 3 0x77 secure\n' +
        'read 0x0e000030 4 secure\nread 0x0e000010 4\n',
    ),
    'OK\nOK 0xa1b2c3d4\nOK obLD1A==\nOK\nOK 0x0102\nOK\nOK 0x77777700\nOK 0x00000000\n',
  );
  t.equal(run('memset 0x0e000030 3 0x77 space=non-secure\n'), 'ERR memory access failed 0x2\n');
});

t.test('the attribute word errors', async (t) => {
  const { run } = twoWorlds();
  t.equal(run('readl 0x40000000 secure extra\n'), 'ERR too many arguments\n');
  t.equal(run('readl 0x40000000 space=secure extra\n'), 'ERR too many arguments\n');
  t.equal(run('readl 0x40000000 secure=1\n'), 'ERR invalid attrs argument\n');
  t.equal(run('readl 0x40000000 space=bogus\n'), 'ERR invalid space value. Valid space: secure/non-secure/root/realm\n');
  t.equal(run('readl 0x40000000 space=\n'), 'ERR invalid space value. Valid space: secure/non-secure/root/realm\n');
  t.equal(run('readl 0x40000000 space=constructor\n'), 'ERR invalid space value. Valid space: secure/non-secure/root/realm\n');
  // Words that are not attribute words are ignored, as 10.2.2 ignores extra words.
  t.equal(run('readl 0x40000000 extra tokens\nreadl 0x40000000 \n'), 'OK 0x0000000000000000\n'.repeat(2));
  t.equal(run('readl 0x40000000 secure \n'), 'OK 0x0000000000000000\n', 'trailing space after the word');
  const noSecure = twoWorlds({ secure: false });
  t.equal(noSecure.run('readl 0x0e000000 secure\n'), 'ERR address space unavailable for attrs\n');
  t.equal(noSecure.run('readl 0x40000000 space=non-secure\n'), 'OK 0x0000000000000000\n');
});

t.test('the *_space and *_secure commands', async (t) => {
  const { run, seen } = twoWorlds();
  t.equal(
    run(
      'writel_space 0x0e000000 0xcafe 0\nreadl_space 0x0e000000 0\nreadl_space 0x0e000000 2\nreadl_space 0x0e000000 1\n' +
        'readq_secure 0x0e000000 1\nreadq_secure 0x0e000000 0\nwrite_secure 0x0e000008 2 0xbeef 1\n' +
        'read_space 0x0e000008 2 4\nmemset_secure 0x0e000010 2 0x11 1\nread_secure 0x0e000010 2 1\n',
    ),
    'OK\nOK 0x000000000000cafe\nOK 0x000000000000cafe\nOK 0x0000000000000000\nOK 0x000000000000cafe\n' +
      'OK 0x0000000000000000\nOK\nOK 0xbeef\nOK\nOK 0x1111\n',
  );
  t.same(seen[0], { space: 0, secure: true });
  t.same(seen[3], { space: 1, secure: false }, 'space 1 is Non-secure');
  t.same(seen[5], { secure: false, space: 0 }, '_secure 0');
  t.equal(run('readl_space 0x0e000000\n'), 'FAIL readl_space: missing space\n');
  t.equal(run('readl_secure 0x0e000000 x\n'), 'FAIL readl_secure: invalid secure "x"\n');
  t.equal(twoWorlds({ secure: false }).run('readl_secure 0x0 1\n'), 'ERR address space unavailable for attrs\n');
  t.equal(twoWorlds({ report: true }).run('readl_space 0x0e000000 1\n'), 'ERR memory access failed 0x2\n');
});

t.test('x-qtestd-memtx-errors=on: plain commands report failed accesses', async (t) => {
  const on = twoWorlds({ report: true });
  t.equal(on.run('readl 0x0e000000\nwriteb 0x0e000000 1\n'), 'ERR memory access failed 0x2\n'.repeat(2));
  t.equal(on.run('read 0x0e000000 4\nb64read 0x0e000000 4\n'), 'ERR memory access failed 0x2\n'.repeat(2));
  t.equal(on.run('memset 0x0e000000 4 0\nwrite 0x0e000000 1 0x00\n'), 'ERR memory access failed 0x2\n'.repeat(2));
  t.equal(on.run('readl 0x40000000\n'), 'OK 0x0000000000000000\n');
});

t.test('on a machine without a Secure view (the session)', async (t) => {
  const run = (argv: string[], input: string) => {
    const link = new RecordingLink();
    makeSession(argv).attachQtest(link).input(Buffer.from(input));
    return link.out;
  };
  t.equal(run(PLAIN_VIRT, 'readl 0x40000000 secure\n'), 'ERR address space unavailable for attrs\n');
  t.equal(run(PLAIN_VIRT, 'writel 0x40000000 7 space=non-secure\nreadl 0x40000000 space=realm\n'), 'OK\nOK 0x0000000000000007\n');
  t.equal(run(PLAIN_VIRT, 'readl 0x7f000000\n'), 'OK 0x0000000000000000\n', 'default: 10.2.2 answers OK');
  const optIn = [...PLAIN_VIRT.slice(0, 1), 'virt,acpi=off,gic-version=3,x-qtestd-memtx-errors=on', ...PLAIN_VIRT.slice(2)];
  t.equal(run(optIn, 'readl 0x7f000000\nreadl 0x40000000\n'), 'ERR memory access failed 0x2\nOK 0x0000000000000000\n');
});

t.test('on a machine with -machine secure=on (the session)', async (t) => {
  const argv = ['-machine', 'virt,acpi=off,gic-version=3,secure=on', ...PLAIN_VIRT.slice(2)];
  const link = new RecordingLink();
  makeSession(argv)
    .attachQtest(link)
    .input(
      Buffer.from(
        'writel 0x0e000010 0xfeedf00d secure\nreadl 0x0e000010 space=secure\nreadl_space 0x0e000010 2\n' +
          'readl_secure 0x0e000010 1\nreadl 0x0e000010\nreadl 0x0e000010 space=non-secure\n' +
          'b64read 0x0e000010 4 space=root\nwritel 0x40000000 0x5 secure\nreadl 0x40000000\n',
      ),
    );
  t.equal(
    link.out,
    'OK\nOK 0x00000000feedf00d\nOK 0x00000000feedf00d\nOK 0x00000000feedf00d\n' +
      'OK 0x0000000000000000\nERR memory access failed 0x2\nOK DfDt/g==\nOK\nOK 0x0000000000000005\n',
    'Secure RAM only through the Secure view; the Secure view also sees Non-secure RAM',
  );
});
