/**
 * Replays the QEMU 10.2.2 root-port hot-plug captures (qemu-10.2.2/qmp/device-add-del-root-port-*.txt
 * and device-del-on-pcie-root-bus.txt) against a real in-process Session: the QMP side through
 * attachQmp with a recording link, the "qtest:" steps of the captures (Slot Control writes, Slot
 * Control/Status reads) through the session's qtest endpoint. Byte-exact except event timestamps.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import type { Test } from 'tap';
import { parseArgv } from '../../../src/config/argv.js';
import { attachQmp } from '../../../src/session/qmp-attach.js';
import { makeSession, RecordingLink } from '../../helpers/session.js';
import { QEMU_CAPTURES } from '../../helpers/reference.js';
import { normaliseTimestamps } from './replay.js';

const ECAM = 0x40_1000_0000n;

interface Step {
  kind: 'qmp' | 'qtest-write' | 'qtest-read';
  send?: string;
  value?: number;
  expectRead?: string;
  expect: string[];
}

function parseCapture(text: string): { argv: string[]; steps: Step[] } {
  let argv: string[] = [];
  const steps: Step[] = [];
  let last: Step | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    let m: RegExpExecArray | null;
    if ((m = /^# args: (.*)$/.exec(line))) argv = m[1].split(' ');
    else if (line.startsWith('-> ')) steps.push((last = { kind: 'qmp', send: line.slice(3), expect: [] }));
    else if (line.startsWith('<- ')) last!.expect.push(line.slice(3));
    else if ((m = /^## qtest: .*Slot Control = (0x[0-9a-f]+)/.exec(line))) steps.push((last = { kind: 'qtest-write', value: Number(m[1]), expect: [] }));
    else if ((m = /^## sltctl\/sta \['(.*)'\]$/.exec(line))) steps.push((last = { kind: 'qtest-read', expectRead: m[1], expect: [] }));
  }
  return { argv, steps };
}

function replay(t: Test, file: string): void {
  const { argv, steps } = parseCapture(readFileSync(`${QEMU_CAPTURES}/qmp/${file}`, 'utf8'));
  t.ok(parseArgv(argv), 'capture argv parses');
  const session = makeSession(argv);
  const qmpLink = new RecordingLink();
  const monitor = attachQmp(session, qmpLink, () => {});
  const qtestLink = new RecordingLink();
  const qtest = session.attachQtest(qtestLink);
  monitor.input(Buffer.from('{"execute": "qmp_capabilities"}\n'));
  // The root port's config space: slot 2 on pcie.0 (edu took slot 1).
  const rp = session.machine.pci!.devices().find((d) => d.typeName === 'pcie-root-port');
  const sltctl = ECAM + (BigInt(rp?.devfn ?? 0) << 12n) + 0x6cn;
  let seen = qmpLink.out.length;
  const newLines = (): string[] => {
    const text = qmpLink.out.slice(seen);
    seen = qmpLink.out.length;
    const lines = text.split('\r\n');
    t.equal(lines.pop(), '', 'output ends with CRLF');
    return lines.map(normaliseTimestamps);
  };
  newLines();
  for (const step of steps) {
    if (step.kind === 'qmp') {
      monitor.input(Buffer.from(step.send! + '\n'));
      t.same(newLines(), step.expect.map(normaliseTimestamps), step.send ?? '');
    } else if (step.kind === 'qtest-write') {
      const before = qtestLink.out.length;
      qtest.input(Buffer.from(`writew 0x${sltctl.toString(16)} 0x${step.value!.toString(16)}\n`));
      t.equal(qtestLink.out.slice(before), 'OK\n', `Slot Control = 0x${step.value!.toString(16)}`);
      t.same(newLines(), step.expect.map(normaliseTimestamps), 'events after the Slot Control write');
    } else {
      const before = qtestLink.out.length;
      qtest.input(Buffer.from(`readl 0x${sltctl.toString(16)}\n`));
      t.equal(qtestLink.out.slice(before), `${step.expectRead}\n`, 'Slot Control/Status');
      t.same(newLines(), [], 'no events');
    }
  }
  session.dispose();
}

for (const file of [
  'device-add-del-root-port-slot-off.txt',
  'device-add-del-root-port-slot-on-guest-ack.txt',
  'device-add-del-root-port-slot-on-reset.txt',
  'device-del-on-pcie-root-bus.txt',
]) {
  t.test(file, (t) => {
    replay(t, file);
    t.end();
  });
}

t.test('slot on: DEVICE_DELETED is not sent before the guest acts; a repeat after 5 s presses again', (t) => {
  const session = makeSession([...argvOf('device-add-del-root-port-slot-on-reset.txt')]);
  const link = new RecordingLink();
  const monitor = attachQmp(session, link, () => {});
  const qtest = session.attachQtest(new RecordingLink());
  monitor.input(Buffer.from('{"execute": "qmp_capabilities"}\n'));
  const rp = session.machine.pci!.devices().find((d) => d.typeName === 'pcie-root-port')!;
  const sltctl = ECAM + (BigInt(rp.devfn) << 12n) + 0x6cn;
  qtest.input(Buffer.from(`writew 0x${sltctl.toString(16)} 0x1c0\n`));
  monitor.input(Buffer.from('{"execute": "device_add", "arguments": {"driver": "edu", "id": "edu1", "bus": "rp0"}}\n'));
  monitor.input(Buffer.from('{"execute": "device_del", "arguments": {"id": "edu1"}}\n'));
  qtest.input(Buffer.from('clock_step 5000000000\n'));
  const before = link.out.length;
  monitor.input(Buffer.from('{"execute": "device_del", "arguments": {"id": "edu1"}}\n'));
  t.equal(link.out.slice(before), '{"return": {}}\r\n', 'accepted again once the 5 s expired');
  // Blinking power indicator: refused.
  qtest.input(Buffer.from(`writew 0x${sltctl.toString(16)} 0x2c0\n`));
  const b2 = link.out.length;
  qtest.input(Buffer.from('clock_step 5000000000\n'));
  monitor.input(Buffer.from('{"execute": "device_del", "arguments": {"id": "edu1"}}\n'));
  t.equal(link.out.slice(b2), '{"error": {"class": "GenericError", "desc": "Hot-unplug failed: guest is busy (power indicator blinking)"}}\r\n');
  session.dispose();
  t.end();
});

function argvOf(file: string): string[] {
  return parseCapture(readFileSync(`${QEMU_CAPTURES}/qmp/${file}`, 'utf8')).argv;
}
