/**
 * Dry-run translations (x-qtestd-smmu-translate): a recorder handed to the SMMU's own translation
 * path (smmu-v3.ts translateOrFault) that turns its config decode, IOTLB lookups, stage-1 and
 * stage-2 walks (page-table-walk.ts WalkObserver), the entry it would insert and the event it would
 * queue into one JSON tree. With a recorder the path changes nothing: no counters, no config-cache
 * or IOTLB fill (inserts go to a scratch IOTLB only this run sees), no event, no log line.
 */
import { extract64, hex, wordsOf } from './bits.js';
import type { SmmuBank } from './bank.js';
import type { ConfigCache } from './config-cache.js';
import { describeConfig, describeTrace, permName, toJson } from './debug-json.js';
import type { JsonValue } from './debug-json.js';
import { encodeEventRecord } from './event-queue.js';
import type { SmmuEvent } from './faults.js';
import { Iotlb } from './iotlb.js';
import { descriptorKind } from './page-table-walk.js';
import type { TlbEntry, WalkDescriptor, WalkResult, WalkStart } from './page-table-walk.js';
import { entryAddress, EVT_ENTRY_BYTES, isFull } from './queue-index.js';
import type { ConfigDecodeTrace, Stage, TransCfg } from './translation-config.js';
import type { TranslationContext, TranslationObserver } from './translation.js';

type Json = { [k: string]: unknown };

/** GERROR.EVENTQ_ABT_ERR (IHI 0070 6.3.14). */
const EVENTQ_ABT_ERR = 1n << 2n;

/** One IOTLB lookup and what followed it (walks, nested lookups, the insert, the outcome). */
interface LookupFrame {
  lookup: Json;
  walks: Array<{ walk: Json; granuleShift: number; levels: Json[] }>;
  /** Lookups made outside a walk (the config decode's CD and TTB IPAs). */
  lookups: LookupFrame[];
  insert?: Json;
  result?: Json;
}

export function entryJson(e: TlbEntry): Json {
  return {
    iova: e.iova,
    translatedAddr: e.translatedAddr,
    addrMask: e.addrMask,
    size: e.addrMask + 1n,
    perm: permName(e.perm),
    parentPerm: permName(e.parentPerm),
    level: e.level,
    granule: `${(1 << e.granuleShift) / 1024}K`,
    ...(e.secureOut ? { secureOut: true } : {}),
  };
}

function resultJson(r: WalkResult): Json {
  return r.ok ? { ok: true, entry: entryJson(r.entry) } : { ok: false, fault: r.fault };
}

/** A descriptor's fields by kind (stage 1: AP[2:1], APTable, NS; stage 2: S2AP). */
export function describeDescriptor(stage: 1 | 2, level: number, pte: bigint, granuleShift: number): Json {
  const kind = descriptorKind(pte, level);
  if (kind === 'invalid') return { kind };
  if (kind === 'table') {
    const next = extract64(pte, granuleShift, 48 - granuleShift) << BigInt(granuleShift);
    return stage === 1
      ? { kind, next, apTable: Number(extract64(pte, 61, 2)), nsTable: Number(extract64(pte, 63, 1)) }
      : { kind, next };
  }
  const shift = granuleShift + (3 - level) * (granuleShift - 3);
  const out = extract64(pte, shift, 48 - shift) << BigInt(shift);
  const common = { kind, out, af: Number(extract64(pte, 10, 1)), sh: Number(extract64(pte, 8, 2)) };
  return stage === 1
    ? {
        ...common,
        ap: Number(extract64(pte, 6, 2)),
        ns: Number(extract64(pte, 5, 1)),
        attrIndx: Number(extract64(pte, 2, 3)),
      }
    : { ...common, s2ap: Number(extract64(pte, 6, 2)), memAttr: Number(extract64(pte, 2, 4)) };
}

export class DryRunRecorder implements TranslationObserver {
  private readonly root: LookupFrame = { lookup: {}, walks: [], lookups: [] };
  private readonly stack: LookupFrame[] = [this.root];
  private readonly scratch = new Iotlb();
  private config: Json = {};
  private event?: Json;
  private readonly notes: string[] = [];
  private phase: 'config' | 'translation' = 'config';
  private readonly configLookups: LookupFrame[] = [];

  constructor(private readonly input: Json) {}

  /** The context translations of this run use: the world's IOTLB and reader, the scratch IOTLB. */
  context(real: TranslationContext): TranslationContext {
    return { iotlb: real.iotlb, read: real.read, dryRun: { scratch: this.scratch, observer: this } };
  }

  note(text: string): void {
    this.notes.push(text);
  }

  /** The cached configuration, without counting a hit or a miss. */
  cachedConfig(cache: ConfigCache, sid: number): TransCfg | undefined {
    const hit = cache.entries().find(([s]) => s === sid)?.[1];
    this.config = hit ? { source: 'config-cache', ...describeConfig(hit) } : { source: 'decode' };
    return hit;
  }

  decoded(r: { ok: boolean; reason?: string; trace: ConfigDecodeTrace; cfg: TransCfg }): void {
    this.config = {
      source: 'decode',
      wouldCache: r.ok,
      ...describeTrace(r.trace),
      ...(r.ok ? describeConfig(r.cfg) : { error: r.reason }),
    };
  }

  startTranslation(): void {
    this.phase = 'translation';
  }

  // ---- TranslationObserver

  lookup(l: {
    stage: Stage;
    asid: number;
    vmid: number;
    addr: bigint;
    perm: number;
    hit?: TlbEntry;
    from?: string;
  }): void {
    const frame: LookupFrame = {
      lookup: {
        stage: l.stage,
        asid: l.asid,
        vmid: l.vmid,
        input: l.addr,
        perm: permName(l.perm),
        iotlb: l.hit ? `hit (${l.from})` : 'miss',
        ...(l.hit ? { entry: entryJson(l.hit) } : {}),
      },
      walks: [],
      lookups: [],
    };
    const top = this.stack[this.stack.length - 1];
    const walk = top.walks[top.walks.length - 1];
    const level = walk?.levels[walk.levels.length - 1];
    if (level) level.tableIpaTranslation = frame;
    else if (top === this.root && this.phase === 'config') this.configLookups.push(frame);
    else top.lookups.push(frame);
    this.stack.push(frame);
  }

  insert(asid: number, vmid: number, entry: TlbEntry): void {
    this.stack[this.stack.length - 1].insert = { asid, vmid, ...entryJson(entry) };
  }

  done(r: WalkResult): void {
    const f = this.stack.pop()!;
    f.result = resultJson(r);
  }

  walk(w: WalkStart): void {
    const top = this.stack[this.stack.length - 1];
    const role = w.stage === 1 ? 'stage 1' : top.walks.length ? 'stage 2 of the stage-1 output' : 'stage 2';
    const { granuleShift, ...rest } = w;
    top.walks.push({ walk: { role, ...rest, granule: `${(1 << granuleShift) / 1024}K` }, granuleShift, levels: [] });
  }

  descriptor(d: WalkDescriptor): void {
    const top = this.stack[this.stack.length - 1];
    const walk = top.walks[top.walks.length - 1];
    walk.levels.push({
      level: d.level,
      tableBase: d.tableBase,
      index: d.index,
      pteAddr: d.pteAddr,
      pte: d.pte,
      decoded:
        d.pte === null ? { kind: 'external abort' } : describeDescriptor(d.stage, d.level, d.pte, walk.granuleShift),
    });
  }

  /** The event the failed translation would record, and where the queue would put it. */
  wouldRecord(ev: SmmuEvent, bank: SmmuBank): void {
    const record = wordsOf(encodeEventRecord(ev)).map((w) => hex(w));
    let queue: Json;
    if (!bank.cr0('EVENTQEN')) queue = { outcome: 'dropped', reason: 'CR0.EVENTQEN = 0' };
    else {
      const regs = bank.registerValues();
      const prod = Number(regs.EVENTQ_PROD);
      const cons = Number(regs.EVENTQ_CONS);
      const log2 = bank.eventqLog2size;
      const abtPending = ((regs.GERROR ^ regs.GERRORN) & EVENTQ_ABT_ERR) !== 0n;
      queue = isFull(prod, cons, log2)
        ? {
            outcome: 'queue full',
            gerror: abtPending ? 'EVENTQ_ABT_ERR already pending' : 'EVENTQ_ABT_ERR would be raised',
          }
        : { outcome: 'written', addr: entryAddress(regs.EVENTQ_BASE, prod, log2, EVT_ENTRY_BYTES), prod };
    }
    this.event = { ...ev, record, queue };
  }

  /** The whole run as JSON (bigints as hex strings). */
  toJson(
    bank: string,
    smmuEnabled: boolean,
    out: { ok: boolean; pa?: bigint; mask?: bigint; secure?: boolean },
  ): JsonValue {
    const strip = (f: LookupFrame): Json => ({
      ...f.lookup,
      walks: f.walks.map((w) => ({ ...w.walk, levels: w.levels.map((l) => this.stripLevel(l, strip)) })),
      ...(f.lookups.length ? { lookups: f.lookups.map(strip) } : {}),
      ...(f.insert ? { wouldInsert: f.insert } : {}),
      ...f.result,
    });
    return toJson({
      input: this.input,
      bank,
      smmuEnabled,
      config: { ...this.config, ...(this.configLookups.length ? { lookups: this.configLookups.map(strip) } : {}) },
      translation: this.root.lookups.map(strip),
      result: out.ok
        ? { ok: true, pa: out.pa, mask: out.mask, ...(out.secure ? { secure: true } : {}) }
        : { ok: false, ...(this.event ? { event: this.event } : { event: null }) },
      notes: this.notes,
    });
  }

  private stripLevel(l: Json, strip: (f: LookupFrame) => Json): Json {
    const t = l.tableIpaTranslation as LookupFrame | undefined;
    return t ? { ...l, tableIpaTranslation: strip(t) } : l;
  }
}
