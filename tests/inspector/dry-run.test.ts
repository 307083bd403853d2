/**
 * x-qtestd-smmu-translate against real DMA: every seeded SMMU program of the differential generator
 * (tests/helpers/smmu-programs.ts) runs in an in-process session; before each translation the edu
 * DMAs make, the dry run for the same transaction is taken and must (1) change nothing observable
 * (the whole x-qtestd-smmu-state snapshot, counters included, and the event queue memory), and
 * (2) predict the real translation: same success, output address and mask, or the same event
 * record written at the predicted queue slot (or the predicted drop / queue-full).
 *
 *   QTESTD_SMMU_SEED, QTESTD_SMMU_COUNT (default 400, as the differential): as in the differential test.
 */
import t from 'tap';
import {
  SMMU_PROGRAM_ARGS,
  generateSmmuProgram,
  gerrornAck,
  processHeader,
  programSeed,
  MAX_SLOTS,
} from '../helpers/smmu-programs.js';
import { makeSession, RecordingLink } from '../helpers/session.js';
import type { SmmuV3 } from '../../src/smmu/smmu-v3.js';
import type { MemTxAttrs } from '../../src/memory/types.js';
import type { IommuResult } from '../../src/memory/dma-view.js';

const env = process.env;
const num = (s: string | undefined, d: number): number => (s && /^(0x[0-9a-f]+|\d+)$/i.test(s) ? Number(s) : d);
const BASE_SEED = num(env.QTESTD_SMMU_SEED, 0x5eed5a11) >>> 0;
const COUNT = num(env.QTESTD_SMMU_COUNT, 400);

type Dry = {
  result: {
    ok: boolean;
    pa?: string;
    mask?: string;
    event?: null | { record: string[]; queue: { outcome: string; addr?: string } };
  };
  translation: unknown[];
  config: { kind?: string };
};

interface Tally {
  translations: number;
  ok: number;
  faults: number;
  events: number;
  mismatches: string[];
  /** successful translations by configuration kind (s1, s2, nested, bypass) */
  okBy: Record<string, number>;
}

function readEvent(session: ReturnType<typeof makeSession>, addr: bigint): string[] {
  const buf = Buffer.alloc(32);
  session.machine.system.readBytes(addr, buf);
  return Array.from({ length: 8 }, (_, i) => '0x' + buf.readUInt32LE(i * 4).toString(16));
}

function instrument(session: ReturnType<typeof makeSession>, tally: Tally, label: () => string): void {
  const smmu = session.machine.smmu as unknown as SmmuV3;
  const real = smmu.translate.bind(smmu);
  const evq = () => {
    const regs = (smmu.debugSnapshot() as { registers: Record<string, string> }).registers;
    return { prod: regs.EVENTQ_PROD, gerror: BigInt(regs.GERROR) ^ BigInt(regs.GERRORN) };
  };
  smmu.translate = (rid: number, iova: bigint, isWrite: boolean, attrs: MemTxAttrs): IommuResult => {
    const before = JSON.stringify(smmu.debugSnapshot());
    const dry = smmu.dryRunTranslate(rid, iova, isWrite, attrs) as unknown as Dry;
    const after = JSON.stringify(smmu.debugSnapshot());
    const where = `${label()} sid ${rid & 0xffff} iova 0x${iova.toString(16)} ${isWrite ? 'write' : 'read'}`;
    if (before !== after) tally.mismatches.push(`${where}: the dry run changed the SMMU state`);
    const q0 = evq();
    const r = real(rid, iova, isWrite, attrs);
    const q1 = evq();
    tally.translations++;
    const d = dry.result;
    if (d.ok !== r.ok) tally.mismatches.push(`${where}: dry ok=${d.ok}, real ok=${r.ok}`);
    else if (r.ok) {
      tally.ok++;
      const k = dry.config.kind ?? 'smmu disabled';
      tally.okBy[k] = (tally.okBy[k] ?? 0) + 1;
      if (BigInt(d.pa!) !== r.pa || BigInt(d.mask!) !== r.mask)
        tally.mismatches.push(`${where}: dry ${d.pa}/${d.mask}, real 0x${r.pa.toString(16)}/0x${r.mask.toString(16)}`);
    } else tally.faults++;
    const ev = d.event;
    if (ev && ev.queue.outcome === 'written') {
      tally.events++;
      if (q1.prod === q0.prod) tally.mismatches.push(`${where}: predicted an event, none was written`);
      else {
        const got = readEvent(session, BigInt(ev.queue.addr!));
        if (got.join() !== ev.record.join())
          tally.mismatches.push(`${where}: event ${got.join(' ')} written, ${ev.record.join(' ')} predicted`);
      }
    } else if (ev && ev.queue.outcome === 'queue full') {
      if ((BigInt(q1.gerror) & 4n) === 0n || q1.prod !== q0.prod)
        tally.mismatches.push(`${where}: predicted a full queue, GERROR ${q1.gerror}, PROD ${q0.prod} → ${q1.prod}`);
    } else if (q1.prod !== q0.prod) tally.mismatches.push(`${where}: an event was written, none predicted`);
    return r;
  };
}

t.setTimeout(15 * 60_000); // safety net: 400 programs on a loaded machine

t.test('dry-run translations predict every DMA translation of the seeded SMMU programs', async (t) => {
  const tally: Tally = { translations: 0, ok: 0, faults: 0, events: 0, mismatches: [], okBy: {} };
  const programs = [];
  for (let i = 0; i < COUNT; i++) programs.push(await generateSmmuProgram(programSeed(BASE_SEED, i), i, i % MAX_SLOTS));
  // Linear stream tables before 2-level ones (FMT is sticky until reset), one session per slot batch.
  programs.sort((a, b) => Number(a.twoLevel) - Number(b.twoLevel) || a.index - b.index);
  let current = -1;
  for (let start = 0; start < programs.length; start += MAX_SLOTS) {
    const batch = programs.slice(start, start + MAX_SLOTS);
    const session = makeSession([...SMMU_PROGRAM_ARGS]);
    const link = new RecordingLink();
    const ep = session.attachQtest(link);
    instrument(session, tally, () => `program ${current} (seed ${BASE_SEED})`);
    ep.input(Buffer.from(processHeader().join('\n') + '\n', 'latin1'));
    let gerror: bigint | null = null;
    for (const p of batch) {
      current = p.index;
      for (const seg of p.segments) {
        const req = gerror === null ? seg : [gerrornAck(gerror), ...seg];
        link.out = '';
        ep.input(Buffer.from(req.join('\n') + '\n', 'latin1'));
        const lines = link.out.trimEnd().split('\n');
        const m = /^OK (0x[0-9a-f]+)$/.exec(lines[lines.length - 1] ?? '');
        gerror = m ? BigInt(m[1]!) : 0n;
      }
    }
    session.dispose();
  }
  t.comment(
    `${COUNT} programs: ${tally.translations} translations, ${tally.ok} ok, ${tally.faults} failed, ${tally.events} events`,
  );
  t.ok(tally.translations > COUNT, 'the programs translated');
  t.ok(tally.events > 0 && tally.ok > 0, 'both successes and recorded faults occurred');
  t.comment(`successful translations by configuration: ${JSON.stringify(tally.okBy)}`);
  for (const k of ['s1', 's2', 'nested']) t.ok((tally.okBy[k] ?? 0) > 0, `${k} translations succeeded`);
  t.same(tally.mismatches.slice(0, 10), [], `no mismatch (${tally.mismatches.length} in all)`);
});
