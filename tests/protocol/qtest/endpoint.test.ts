import t from 'tap';
import { makeSession, RecordingLink, runQtest } from '../../helpers/session.js';

// Requests and replies observed on QEMU 10.2.2 (qemu-10.2.2/qtest/qtest-oddities.txt), without
// the device-tree reads at 0x40000000 (QEMU puts its DTB there; qtestd builds none).
const ODDITIES: Array<[string, string | null]> = [
  ['memset 0x40200000 0x8 0xee', 'OK'],
  ['write 0x40200000 0x8 0x1122', 'OK'],
  ['read 0x40200000 0x8', 'OK 0x1122000000000000'],
  ['memset 0x40200000 0x8 0xee', 'OK'],
  ['write 0x40200000 0x4 0x123', 'OK'],
  ['read 0x40200000 0x8', 'OK 0x12000000eeeeeeee'],
  ['write 0x40200000 0x2 0xzz11', 'OK'],
  ['read 0x40200000 0x2', 'OK 0xff11'],
  ['write 0x40200000 0x4 0x', 'ERR invalid argument size'],
  ['b64write 0x40200000 0x4 QQ', 'ERR invalid argument size'],
  ['readl 0x8000000', 'OK 0x0000000000000050'],
  ['readb 0x8000000', 'OK 0x0000000000000000'],
  ['readl 0xa000000', 'OK 0x0000000074726976'],
  ['readb 0xa000000', 'OK 0x0000000000000076'],
  ['readb 0x10000000', 'OK 0x00000000000000ff'],
  ['readq 0x20000000', 'OK 0xffffffffffffffff'],
  ['readl 0x3eff0000', 'OK 0x00000000ffffffff'],
  ['readl 0x3f000000', 'OK 0x0000000000000000'],
  ['readl 0x60000000', 'OK 0x0000000000000000'],
  ['readl 0x4010000000', 'OK 0x0000000000081b36'],
  ['readb 0x4010000000', 'OK 0x0000000000000036'],
  ['readl 0x4010010000', 'OK 0x00000000ffffffff'],
  ['readl 0x8000000000', 'OK 0x00000000ffffffff'],
  ['readl 0xffffffffffffffff', 'OK 0x0000000000000000'],
  ['inb 0x0', 'OK 0x00ff'],
  ['inw 0x0', 'OK 0xffff'],
  ['inl 0x0', 'OK 0xffffffff'],
  ['outb 0x0 0x12', 'OK'],
  ['inl 0xffff', 'OK 0x00ff'],
  ['writeb 0x40200000 0x1ff', 'OK'],
  ['readb 0x40200000', 'OK 0x00000000000000ff'],
  ['readb 1075838976', 'OK 0x00000000000000ff'],
  ['readb 010', 'OK 0x0000000000000000'],
  ['readb 0X40200000', 'OK 0x00000000000000ff'],
  ['readb -1', 'OK 0x0000000000000000'],
  ['clock_step', 'FAIL cannot advance clock to the next deadline because there is no pending deadline'],
  ['clock_step 0', 'FAIL could not advance time'],
  ['clock_step -5', 'FAIL could not advance time'],
  ['clock_step 1000', 'OK 1000'],
  ['clock_set 500', 'FAIL 1000'],
  ['clock_set 1000', 'OK 1000'],
  ['module_load a b', 'OK'],
  ['', null],
  ['#', "FAIL Unknown command '#'"],
  ['# a comment', "FAIL Unknown command '#'"],
  ['\t', "FAIL Unknown command '\t'"],
  [' readb 0x0', "FAIL Unknown command ''"],
  ['readb 0x0 ', 'OK 0x0000000000000000'],
  ['endianness\r', "FAIL Unknown command 'endianness\r'"],
  ['READB 0x0', "FAIL Unknown command 'READB'"],
  ['b64read 0x40200000 0x0', 'OK '],
  ['endianness', 'OK little'],
];

const input = ODDITIES.map(([req]) => req + '\n').join('');
const expected = ODDITIES.filter(([, r]) => r !== null).map(([, r]) => r + '\n').join('');

t.test('replays QEMU 10.2.2 oddities byte for byte', async (t) => {
  t.equal(runQtest(input), expected);
});

t.test('the same replies for every split of the input into two chunks', async (t) => {
  const bytes = input;
  let mismatches = 0;
  for (let i = 0; i <= bytes.length; i += 7) {
    if (runQtest([bytes.slice(0, i), bytes.slice(i)]) !== expected) mismatches++;
  }
  t.equal(mismatches, 0);
  t.equal(runQtest(bytes.split('')), expected, 'one byte per chunk');
});

t.test('where QEMU would abort we answer FAIL and go on', async (t) => {
  const out = runQtest(['readb\n', 'readb xyz\n', 'read 0x40000000 0\n', 'inb 0x10000\n', 'readb 0x0\r\n', 'set_irq_in /machine/unattached/device[1] unnamed-gpio-in x 1\n', 'readl 0x1ffffffffffffffff\n', 'endianness\n'].join(''));
  const lines = out.trimEnd().split('\n');
  t.equal(lines.length, 8, 'one reply per request');
  t.match(lines[0], /^FAIL readb: missing address$/);
  t.match(lines[1], /^FAIL readb: invalid address "xyz"$/);
  t.match(lines[2], /^FAIL read: size must not be 0$/);
  t.match(lines[3], /^FAIL inb: port 0x10000 is above 0xffff$/);
  t.match(lines[4], /carriage return/);
  t.match(lines[5], /^FAIL set_irq_in: invalid line number "x"$/);
  t.match(lines[6], /out of range/);
  t.equal(lines[7], 'OK little');
});

t.test('runs of spaces count as one only where QEMU would abort', async (t) => {
  t.equal(runQtest('writel  0x40200000  0x1234\nreadl 0x40200000\n'), 'OK\nOK 0x0000000000001234\n');
  t.equal(runQtest('write 0x40200000 0x4  0x11\n'), 'ERR invalid argument size\n', 'QEMU answers this one itself');
  t.equal(runQtest('  \n'), "FAIL Unknown command ''\n");
});

t.test('IRQ lines come before the reply of the command that caused them', async (t) => {
  const gic = '/machine/unattached/device[1]';
  const out = runQtest(`irq_intercept_in ${gic}\nset_irq_in ${gic} unnamed-gpio-in 4 1\nset_irq_in ${gic} unnamed-gpio-in 4 1\nset_irq_in ${gic} unnamed-gpio-in 4 0\nirq_intercept_in ${gic}\nirq_intercept_out /machine/unattached/device[5] sysbus-irq\nirq_intercept_in nope\nirq_intercept_in ${gic} x\n`);
  t.equal(out, 'OK\nIRQ raise 4\nOK\nOK\nIRQ lower 4\nOK\nOK\nFAIL IRQ intercept already enabled\nFAIL Unknown device\nFAIL Interception of named in-GPIOs not yet supported\n');
});

t.test('intercepting a device with no unnamed outputs fails', async (t) => {
  t.equal(runQtest('irq_intercept_out /machine/unattached/device[5]\n'), 'FAIL No intercepts installed\n');
  t.equal(runQtest('irq_intercept_in device[5]\n'), 'OK\n', 'partial QOM paths resolve like object_resolve_path');
});

t.test('stops reading requests while the peer does not read replies', async (t) => {
  const session = makeSession();
  const link = new RecordingLink();
  let budget = 3;
  link.accept = () => --budget > 0;
  const ep = session.attachQtest(link);
  // Each 32 KiB-plus reply is handed to the link on its own; small ones are gathered per input.
  ep.input(Buffer.from('read 0x40000000 0x4000\n'.repeat(10)));
  t.equal(link.out.split('\n').length - 1, 3, 'three replies, then it waits');
  t.ok(link.paused, 'asked the transport to pause');
  budget = 1000;
  ep.drained();
  t.equal(link.out.split('\n').length - 1, 10);
  t.notOk(link.paused);
});

t.test('small replies to one input are handed over together; a refusal pauses reading', async (t) => {
  const session = makeSession();
  const link = new RecordingLink();
  let writes = 0;
  link.accept = () => ++writes > 1;
  const ep = session.attachQtest(link);
  ep.input(Buffer.from('endianness\n'.repeat(10)));
  t.equal(writes, 1, 'one write for the whole input');
  t.equal(link.out, 'OK little\n'.repeat(10));
  t.ok(link.paused, 'the refused write paused reading');
  ep.input(Buffer.from('endianness\n'));
  t.equal(link.out.split('\n').length - 1, 10, 'nothing more runs until drained()');
  ep.drained();
  t.equal(link.out.split('\n').length - 1, 11);
  t.notOk(link.paused);
});

t.test('over-long lines get one FAIL and the session goes on', async (t) => {
  const session = makeSession(undefined, { maxLineBytes: 64 });
  const link = new RecordingLink();
  const ep = session.attachQtest(link);
  ep.input(Buffer.from('x'.repeat(100)));
  ep.input(Buffer.from('y'.repeat(100) + '\nendianness\n'));
  t.match(link.out, /^FAIL line longer than 64 bytes.*\nOK little\n$/);
});

t.test('NUL bytes get a FAIL instead of stalling the session', async (t) => {
  t.equal(runQtest('read\0b 0x0\nendianness\n'), 'FAIL NUL byte in command line\nOK little\n');
});
