/**
 * x-qtestd-smmu-queues through a real in-process Session: a command queue programmed with
 * CFGI_STE, TLBI_NH_VA and CMD_SYNC left pending (CMDQEN off), decoded; the same after the SMMU
 * consumed them; an event queue holding a C_BAD_STE fault; a queue base outside RAM; and that the
 * query changes nothing (the whole x-qtestd-smmu-state snapshot, counters included).
 */
import t from 'tap';
import { attachQmp } from '../../src/session/qmp-attach.js';
import { encodeCommand, CMD_OPCODES } from '../../src/smmu/command-queue.js';
import type { SmmuV3 } from '../../src/smmu/smmu-v3.js';
import { makeSession, RecordingLink } from '../helpers/session.js';

const SMMU_VIRT = ['-machine', 'virt,acpi=off,gic-version=3,iommu=smmuv3', '-cpu', 'max', '-m', '512', '-net', 'none'];
const SMMU = 0x0905_0000;
const CMDQ = 0x4010_0000n;
const EVTQ = 0x4020_0000n;
const STRTAB = 0x4030_0000n;

type Entry = { index: number; state: string; name: string; words: string[]; fields: Record<string, unknown> };
type Queue = { pending: number; entries: Entry[]; note?: string };
type Reply = { return?: { cmdq: Queue; eventq: Queue }; error?: { desc: string } };

function rig() {
  const session = makeSession(SMMU_VIRT);
  const qlink = new RecordingLink();
  const qt = session.attachQtest(qlink);
  const qtest = (line: string) => qt.input(Buffer.from(`${line}\n`, 'latin1'));
  const writel = (off: number, v: bigint | number) =>
    qtest(`writel 0x${(SMMU + off).toString(16)} 0x${v.toString(16)}`);
  const writeq = (off: number, v: bigint) => qtest(`writeq 0x${(SMMU + off).toString(16)} 0x${v.toString(16)}`);
  const mlink = new RecordingLink();
  const m = attachQmp(session, mlink, () => {});
  const qmp = (cmd: string): Reply => {
    const seen = mlink.out.length;
    m.input(Buffer.from(`${cmd}\n`));
    return JSON.parse(mlink.out.slice(seen).split('\r\n')[0]) as Reply;
  };
  qmp('{"execute": "qmp_capabilities"}');
  const state = () => JSON.stringify(qmp('{"execute": "x-qtestd-smmu-state"}'));
  return { session, qtest, writel, writeq, qmp, state };
}

t.test('command queue: pending, then consumed', async (t) => {
  const r = rig();
  r.writeq(0x90, CMDQ | 3n); // CMDQ_BASE, 8 entries
  const cmds = [
    encodeCommand({ Opcode: CMD_OPCODES.CMD_CFGI_STE, SID: 5, Leaf: 1 }),
    encodeCommand({ Opcode: CMD_OPCODES.CMD_TLBI_NH_VA, ASID: 7, VMID: 0, Address: 0x12345000n, Leaf: 1 }),
    encodeCommand({ Opcode: CMD_OPCODES.CMD_SYNC }),
  ];
  cmds.forEach((c, i) =>
    r.qtest(`write 0x${(CMDQ + BigInt(16 * i)).toString(16)} 16 0x${Buffer.from(c).toString('hex')}`),
  );
  r.writel(0x98, 3); // CMDQ_PROD, CMDQEN off: nothing runs
  const before = r.state();
  const q = r.qmp('{"execute": "x-qtestd-smmu-queues"}').return!;
  t.equal(r.state(), before, 'the query changes nothing observable');
  t.equal(q.cmdq.pending, 3);
  t.same(
    q.cmdq.entries.map((e) => [e.index, e.state, e.name]),
    [
      [0, 'pending', 'CMD_CFGI_STE'],
      [1, 'pending', 'CMD_TLBI_NH_VA'],
      [2, 'pending', 'CMD_SYNC'],
    ],
  );
  t.match(q.cmdq.entries[0].fields, { SID: 5, Leaf: 1 });
  t.match(q.cmdq.entries[1].fields, { ASID: 7, Address: '0x12345000', Leaf: 1 });
  t.equal(q.cmdq.entries[0].words.length, 4);
  t.equal(q.cmdq.entries[1].words[3], '0x0');
  t.same(q.eventq.entries, [], 'an empty event queue at 0 shows nothing');

  r.writel(0x20, 0x8); // CR0.CMDQEN
  r.writel(0x98, 3); // CMDQ_PROD again: now consumed
  const after = r.qmp('{"execute": "x-qtestd-smmu-queues", "arguments": {"max": 2}}').return!;
  t.equal(after.cmdq.pending, 0);
  t.same(
    after.cmdq.entries.map((e) => [e.index, e.state, e.name]),
    [
      [0, 'consumed', 'CMD_CFGI_STE'],
      [1, 'consumed', 'CMD_TLBI_NH_VA'],
      [2, 'consumed', 'CMD_SYNC'],
    ],
  );
});

t.test('event queue: a fault event, decoded', async (t) => {
  const r = rig();
  r.writeq(0x90, CMDQ | 3n);
  r.writeq(0xa0, EVTQ | 3n); // EVENTQ_BASE
  r.writeq(0x80, STRTAB); // STRTAB_BASE
  r.writel(0x88, 5); // STRTAB_BASE_CFG: linear, 32 STEs (all zero: invalid)
  r.writel(0x20, 0xd); // CR0: SMMUEN | EVENTQEN | CMDQEN
  const smmu = r.session.machine.smmu as unknown as SmmuV3;
  t.equal(smmu.translate(0x10, 0x1000n, false, {}).ok, false);
  const q = r.qmp('{"execute": "x-qtestd-smmu-queues"}').return!;
  t.equal(q.eventq.pending, 1);
  t.match(q.eventq.entries, [{ index: 0, state: 'pending', name: 'C_BAD_STE', fields: { sid: 16 } }]);
  t.equal(q.eventq.entries[0].words.length, 8);
});

t.test('a queue outside RAM, bad arguments', async (t) => {
  const r = rig();
  r.writeq(0x90, 0x0900_0000n | 2n); // CMDQ_BASE on the UART
  r.writel(0x98, 1);
  const q = r.qmp('{"execute": "x-qtestd-smmu-queues"}').return!;
  t.match(q.cmdq.note, /not in RAM/);
  t.match(q.cmdq.entries, [{ state: 'pending', unread: true }]);
  t.match(r.qmp('{"execute": "x-qtestd-smmu-queues", "arguments": {"bank": "secure"}}').error!.desc, /no Secure bank/);
  t.match(r.qmp('{"execute": "x-qtestd-smmu-queues", "arguments": {"max": -1}}').error!.desc, /'max'/);
  t.match(r.qmp('{"execute": "x-qtestd-smmu-queues", "arguments": {"bank": 3}}').error!.desc, /'bank'/);
});
