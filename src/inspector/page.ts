// Over 400 lines: the whole page is one import-free module that the browser loads as tsc emits it.
/// <reference lib="dom" />
/**
 * The inspector page (served by src/service/inspector.ts, see docs/inspector.md): plain DOM, no
 * framework, no imports (tsc emits it as one ES module the browser loads as is). It lists the
 * service's sessions (/sessions) and, for the chosen one, opens a QMP monitor over the service's
 * WebSocket (/qmp?session=ID) and polls read-only commands only: query-pci, x-qtestd-session,
 * x-qtestd-smmu-state, x-qtestd-smmu-decode-stream, x-qtestd-smmu-queues (the queues' entries),
 * x-qtestd-smmu-translate (a dry run) and
 * x-qtestd-traffic (the live feed of the session's qtest lines).
 */

type Obj = { [k: string]: unknown };
type Layout = {
  registers: Record<string, { offset: number; width: number; fields: Record<string, [number, number]> }>;
};

const $ = (id: string): HTMLElement => document.getElementById(id)!;

/** Build an element: el('td', {class: 'x'}, 'text', child). */
function el(
  tag: string,
  attrs: Record<string, string> = {},
  ...kids: Array<Node | string | null | undefined>
): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

const hex = (v: unknown): string =>
  typeof v === 'number'
    ? '0x' + v.toString(16)
    : typeof v === 'string'
      ? v
      : v === null || v === undefined
        ? ''
        : JSON.stringify(v);
const big = (v: unknown): bigint => (typeof v === 'string' || typeof v === 'number' ? BigInt(v) : 0n);

function table(head: string[], rows: Array<Array<Node | string>>, attrs: Record<string, string> = {}): HTMLElement {
  return el(
    'table',
    attrs,
    el('tr', {}, ...head.map((h) => el('th', {}, h))),
    ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c)))),
  );
}

/** An object's members as a two-column table (nested objects inline as JSON). */
function kv(o: unknown, attrs: Record<string, string> = {}): HTMLElement {
  if (!o || typeof o !== 'object') return el('span', { class: 'dim' }, String(o));
  return table(
    ['field', 'value'],
    Object.entries(o as Obj).map(([k, v]) => [k, typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)]),
    attrs,
  );
}

// ---- QMP over the service's WebSocket

class Qmp {
  private ws: WebSocket;
  private pending: Array<(r: Obj) => void> = [];
  readonly ready: Promise<void>;
  closed = false;

  constructor(session: string) {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/qmp?session=${encodeURIComponent(session)}&inspect=1`;
    this.ws = new WebSocket(url);
    let greeted: () => void;
    const greeting = new Promise<void>((r) => (greeted = r));
    this.ws.onmessage = (m) => {
      for (const line of String(m.data).split(/\r?\n/)) {
        if (!line.trim()) continue;
        const msg = JSON.parse(line) as Obj;
        if ('QMP' in msg) greeted();
        else if ('return' in msg || 'error' in msg) this.pending.shift()?.(msg);
        else if ('event' in msg) onQmpEvent(msg);
      }
    };
    this.ws.onclose = () => {
      this.closed = true;
      for (const p of this.pending.splice(0)) p({ error: { desc: 'connection closed' } });
    };
    this.ready = greeting.then(() => this.call('qmp_capabilities').then(() => undefined));
  }

  /** One command; `args` is JSON text so that 64-bit integers go out exactly. */
  call(cmd: string, args?: string): Promise<Obj> {
    if (this.closed) return Promise.resolve({ error: { desc: 'connection closed' } });
    return new Promise((res) => {
      this.pending.push(res);
      this.ws.send(`{"execute": "${cmd}"${args ? `, "arguments": ${args}` : ''}}\n`);
    });
  }

  close(): void {
    this.ws.close();
  }
}

// ---- state

let layout: Layout | undefined;
let qmp: Qmp | undefined;
let current: string | undefined;
const extraSids: number[] = [];
let seenEvents = 0;
let trafficSeq = 0;
let lastTranslate: { sid: string; iova: string; access: string } | undefined;
const feedLines: string[] = [];

function feed(line: string): void {
  feedLines.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
  if (feedLines.length > 500) feedLines.shift();
  const f = document.getElementById('feed');
  if (f) {
    f.textContent = feedLines.join('\n');
    f.scrollTop = f.scrollHeight;
  }
}

function onQmpEvent(msg: Obj): void {
  feed(`QMP event ${String(msg.event)} ${msg.data ? JSON.stringify(msg.data) : ''}`);
}

async function loadSessions(): Promise<void> {
  let list: Array<{ id: string; transport: string; peer: string; createdAt: string }> = [];
  try {
    list = (await (await fetch('/sessions')).json()) as typeof list;
    $('status').textContent = `${list.length} session(s)`;
  } catch (e) {
    $('status').textContent = `cannot list sessions: ${(e as Error).message}`;
  }
  const ul = $('sessions');
  ul.replaceChildren(
    ...list.map((s) => {
      const li = el(
        'li',
        { 'data-session': s.id, class: s.id === current ? 'sel' : '' },
        s.id,
        el('br'),
        el('span', { class: 'dim' }, `${s.transport} ${s.peer}`),
      );
      li.onclick = () => select(s.id);
      return li;
    }),
  );
}

function select(id: string): void {
  if (id === current) return;
  qmp?.close();
  current = id;
  seenEvents = 0;
  trafficSeq = 0;
  feedLines.length = 0;
  lastTranslate = undefined;
  qmp = new Qmp(id);
  for (const li of Array.from($('sessions').children))
    li.className = li.getAttribute('data-session') === id ? 'sel' : '';
  $('view').replaceChildren(el('p', { class: 'dim' }, `connecting to ${id}…`));
  void qmp.ready.then(() => render());
}

// ---- rendering

function decodeRegister(name: string, value: string): Node {
  const spec = layout?.registers[name];
  if (!spec || !Object.keys(spec.fields).length) return el('span', { class: 'dim' }, '');
  const v = big(value);
  return el(
    'span',
    {},
    Object.entries(spec.fields)
      .map(([f, [lsb, width]]) => `${f}=${hex(Number((v >> BigInt(lsb)) & ((1n << BigInt(width)) - 1n)))}`)
      .join(' '),
  );
}

function pciRows(bus: { devices: Obj[] }[], out: Array<Array<Node | string>>, session: Obj): void {
  const devs = (session.devices as Obj[] | undefined) ?? [];
  for (const b of bus) {
    for (const d of b.devices) {
      const id = d.id as Obj;
      const cls = d.class_info as Obj;
      const bars = ((d.regions as Obj[]) ?? [])
        .map(
          (r) =>
            `BAR${r.bar} ${r.type === 'io' ? 'io' : `mem${r.mem_type_64 ? '64' : '32'}${r.prefetch ? 'p' : ''}`} ${Number(r.address) < 0 ? 'unmapped' : hex(r.address)} size ${hex(r.size)}`,
        )
        .join('\n');
      const devfn = Number(d.slot) * 8 + Number(d.function);
      const user = devs.find((x) => x.devfn === devfn && Number(d.bus) === 0);
      const cmd = user?.command as number | undefined;
      const cmdText =
        cmd === undefined
          ? ''
          : `${hex(cmd)} ${['IO', 'MEM', 'MASTER'].filter((_, i) => cmd & (1 << i)).join('|') || '-'}${cmd & 0x400 ? ' INTX-DIS' : ''}`;
      out.push([
        `${String(d.bus).padStart(2, '0')}:${String(d.slot).padStart(2, '0')}.${d.function}`,
        `${hex(id.vendor)}:${hex(id.device)}`,
        String(cls.desc ?? hex(cls.class)),
        (user?.type as string) ?? '',
        cmdText,
        el('span', { style: 'white-space:pre' }, bars),
        d.irq === undefined ? '' : `${d.irq} (pin ${String.fromCharCode(64 + Number(d.irq_pin))})`,
      ]);
      const br = d.pci_bridge as Obj | undefined;
      if (br?.devices) pciRows([{ devices: br.devices as Obj[] }], out, session);
    }
  }
}

async function render(): Promise<void> {
  const q = qmp;
  if (!q || q.closed) return;
  const [traffic, pci, session, state, queues] = await Promise.all([
    q.call('x-qtestd-traffic', `{"after": ${trafficSeq}}`),
    q.call('query-pci'),
    q.call('x-qtestd-session'),
    q.call('x-qtestd-smmu-state'),
    q.call('x-qtestd-smmu-queues'),
  ]);
  if (q !== qmp) return;
  const tr = traffic.return as { next: number; lines: Array<{ dir: string; text: string }> } | undefined;
  if (tr) {
    for (const l of tr.lines) feed(`qtest ${l.dir} ${l.text}`);
    trafficSeq = tr.next;
  }
  const view = $('view');
  const sections: HTMLElement[] = [];
  const sess = (session.return as Obj) ?? {};
  const rows: Array<Array<Node | string>> = [];
  pciRows((pci.return as { devices: Obj[] }[]) ?? [], rows, sess);
  sections.push(
    el(
      'section',
      { id: 'machine' },
      el('h2', {}, `Machine ${String(sess.machine ?? '')}`),
      el(
        'div',
        { class: 'dim' },
        `clock ${String(sess['clock-ns'] ?? '')} ns, RAM touched ${String(sess['ram-touched-bytes'] ?? '')} B`,
      ),
      table(['bdf', 'id', 'class', 'device', 'command', 'BARs', 'IRQ'], rows, { id: 'pci' }),
    ),
  );
  if (state.error) {
    sections.push(
      el('section', { id: 'smmu' }, el('h2', {}, 'SMMU'), el('p', { class: 'dim' }, String((state.error as Obj).desc))),
    );
  } else {
    const s = state.return as Obj;
    const regs = s.registers as Record<string, string>;
    const st = s.state as Obj;
    sections.push(
      el(
        'section',
        { id: 'smmu' },
        el('h2', {}, `SMMU registers (${String(s.model)}, stage ${String(s.stage)})`),
        table(
          ['register', 'offset', 'value', 'fields'],
          Object.entries(regs).map(([n, v]) => [n, hex(layout?.registers[n]?.offset ?? ''), v, decodeRegister(n, v)]),
          { id: 'registers' },
        ),
        el(
          'p',
          { id: 'gerror', class: big(st.gerrorPending) ? 'fault' : 'dim' },
          `GERROR pending: ${String(st.gerrorPending)} ${decodeRegister('GERROR', String(st.gerrorPending)).textContent}`,
        ),
      ),
    );
    sections.push(await streamSection(q, sess, st));
    const cc = s.configCache as Obj;
    const tlb = s.iotlb as Obj;
    sections.push(
      el(
        'section',
        { id: 'caches' },
        el('h2', {}, `Config cache (${String(cc.size)} entries, ${String(cc.hits)} hits, ${String(cc.misses)} misses)`),
        table(
          ['sid', 'hits', 'misses', 'config'],
          ((cc.entries as Obj[]) ?? []).map((e) => [
            String(e.sid),
            String(e.hits ?? ''),
            String(e.misses ?? ''),
            JSON.stringify(e.config),
          ]),
        ),
        el(
          'h2',
          {},
          `IOTLB (${String(tlb.size)}/${String(tlb.capacity)}, ${String(tlb.hits)} hits, ${String(tlb.misses)} misses)`,
        ),
        table(
          ['asid', 'vmid', 'iova', 'tg', 'level', 'translated', 'mask', 'perm', 'parent'],
          ((tlb.entries as Obj[]) ?? []).map((e) =>
            [e.asid, e.vmid, e.iova, e.tg, e.level, e.translatedAddr, e.addrMask, e.perm, e.parentPerm].map((x) =>
              hex(x),
            ),
          ),
          { id: 'iotlb' },
        ),
      ),
    );
    const qs = s.queues as Obj;
    const qe = (queues.return as Obj | undefined) ?? {};
    const events = (s.recentEvents as Obj[]) ?? [];
    for (const e of events.slice(seenEvents))
      feed(`SMMU event ${String(e.type)} sid ${hex(e.sid)} ${e.inputAddr ? `input ${String(e.inputAddr)}` : ''}`);
    seenEvents = events.length;
    sections.push(
      el(
        'section',
        { id: 'queues' },
        el('h2', {}, 'Command queue'),
        kv(qs.cmdq, { id: 'cmdq' }),
        queueEntries(qe.cmdq, 'cmdq-entries'),
        el('h2', {}, 'Event queue'),
        kv(qs.eventq),
        queueEntries(qe.eventq, 'eventq-entries'),
        el('h3', {}, 'Recorded events (decoded)'),
        table(
          ['#', 'type', 'code', 'sid', 'class', 'S2', 'RnW', 'input', 'addr2 / fetch'],
          events.map((e, i) => [
            String(i),
            String(e.type),
            hex(e.code),
            hex(e.sid),
            String(e.cls ?? ''),
            String(e.s2 ?? ''),
            String(e.rnw ?? ''),
            hex(e.inputAddr),
            hex(e.addr2 ?? e.fetchAddr),
          ]),
          { id: 'events' },
        ),
        el('p', { class: 'dim' }, `counters: ${JSON.stringify(s.counters)}`),
      ),
    );
  }
  sections.push(
    translateSection(),
    el(
      'section',
      {},
      el('h2', {}, 'Live feed (qtest traffic, SMMU events, QMP events)'),
      el('div', { id: 'feed' }, feedLines.join('\n')),
    ),
  );
  // The translate form and its drawing stay where they are across refreshes: the sections around
  // them are replaced, the form itself is never taken out of the page (a focused input taken out
  // and put back loses its focus, and the keys typed meanwhile went nowhere).
  const old = document.getElementById('translate');
  const slot = sections.length - 2;
  if (old && old.parentElement === view) {
    for (const c of Array.from(view.children)) if (c !== old) c.remove();
    old.before(...sections.slice(0, slot));
    old.after(...sections.slice(slot + 1));
  } else view.replaceChildren(...sections);
}

/** The entries of one queue (x-qtestd-smmu-queues): consumed ones dimmed, pending ones plain. */
function queueEntries(qv: unknown, id: string): HTMLElement {
  const v = (qv as Obj | undefined) ?? {};
  const t = table(
    ['#', 'state', 'raw words', 'name', 'fields'],
    ((v.entries as Obj[]) ?? []).map((e) => [
      String(e.index),
      String(e.state),
      e.unread ? 'not RAM' : ((e.words as string[]) ?? []).join(' '),
      String(e.name ?? ''),
      Object.entries((e.fields as Obj) ?? {})
        .map(([k, x]) => `${k}=${hex(x)}`)
        .join(' '),
    ]),
    { id },
  );
  ((v.entries as Obj[]) ?? []).forEach((e, i) => {
    if (e.state === 'consumed') (t as HTMLTableElement).rows[i + 1]?.setAttribute('class', 'dim');
  });
  return el(
    'div',
    {},
    t,
    v.note ? el('p', { class: 'fault' }, String(v.note)) : null,
    v.truncated ? el('p', { class: 'dim' }, '… more pending') : null,
  );
}

async function streamSection(q: Qmp, sess: Obj, st: Obj): Promise<HTMLElement> {
  const sids = new Set<number>(extraSids);
  for (const d of (sess.devices as Obj[]) ?? []) sids.add(Number(d.devfn));
  const sec = el('section', { id: 'streams' }, el('h2', {}, 'Stream table'), kv(st.streamTable));
  for (const sid of [...sids].sort((a, b) => a - b)) {
    const r = await q.call('x-qtestd-smmu-decode-stream', `{"sid": ${sid}}`);
    const d = (r.return as Obj) ?? {};
    const res = d.result as Obj | undefined;
    sec.append(
      el(
        'h3',
        {},
        `StreamID ${sid} (${hex(sid)}) `,
        el(
          'span',
          { class: res?.ok ? 'ok' : 'fault' },
          res?.ok ? String((res.config as Obj).kind) : `${String(res?.reason ?? (r.error as Obj)?.desc ?? '')}`,
        ),
        d.cached ? ' · cached' : '',
      ),
      el(
        'div',
        { class: 'dim' },
        `STE at ${hex(d.steAddr)}${d.cdAddr ? `, CD at ${hex(d.cdAddr)} (IPA ${hex(d.cdIpa)})` : ''}`,
      ),
      el(
        'div',
        { style: 'display:flex;gap:12px;flex-wrap:wrap' },
        d.ste ? el('div', {}, el('b', {}, 'STE'), kv(d.ste, { 'data-ste': String(sid) })) : null,
        d.cd ? el('div', {}, el('b', {}, 'CD'), kv(d.cd, { 'data-cd': String(sid) })) : null,
        res?.ok ? el('div', {}, el('b', {}, 'config'), kv(res.config)) : null,
      ),
    );
  }
  const add = el('input', { id: 'add-sid', placeholder: 'add StreamID', size: '10' }) as HTMLInputElement;
  add.onchange = () => {
    const v = Number(add.value);
    if (Number.isInteger(v) && v >= 0) extraSids.push(v);
    void render();
  };
  sec.append(add);
  return sec;
}

// ---- the dry-run translation

function translateSection(): HTMLElement {
  const form = el(
    'form',
    { id: 'translate-form' },
    'StreamID ',
    el('input', { name: 'sid', size: '6', value: lastTranslate?.sid ?? '8' }),
    ' IOVA ',
    el('input', { name: 'iova', size: '20', value: lastTranslate?.iova ?? '0x0' }),
    ' ',
    el(
      'select',
      { name: 'access' },
      el('option', { value: 'read' }, 'read'),
      el('option', { value: 'write' }, 'write'),
    ),
    el('button', { type: 'submit' }, 'translate (dry run)'),
  ) as HTMLFormElement;
  const out = el('div', { id: 'walk' });
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    lastTranslate = { sid: String(f.get('sid')), iova: String(f.get('iova')), access: String(f.get('access')) };
    void runTranslate(lastTranslate, out);
  };
  return el('section', { id: 'translate' }, el('h2', {}, 'Translate (dry run: changes nothing)'), form, out);
}

async function runTranslate(t: { sid: string; iova: string; access: string }, out: HTMLElement): Promise<void> {
  let sid: bigint;
  let iova: bigint;
  try {
    sid = BigInt(t.sid.trim());
    iova = BigInt(t.iova.trim());
  } catch {
    out.replaceChildren(el('p', { class: 'fault' }, 'StreamID and IOVA must be integers (0x… for hex)'));
    return;
  }
  const r = await qmp!.call(
    'x-qtestd-smmu-translate',
    `{"sid": ${sid}, "iova": ${iova}, "access": "${t.access === 'write' ? 'write' : 'read'}"}`,
  );
  if (r.error) {
    out.replaceChildren(el('p', { class: 'fault' }, String((r.error as Obj).desc)));
    return;
  }
  out.replaceChildren(drawDryRun(r.return as Obj));
}

function drawDryRun(d: Obj): HTMLElement {
  const res = d.result as Obj;
  const cfg = d.config as Obj;
  const root = el('div', { class: 'dry-run' });
  const cfgBox = el(
    'div',
    { class: 'walk', id: 'dry-config' },
    el(
      'b',
      {},
      `Config (${String(d.bank)} bank, SMMU ${d.smmuEnabled ? 'enabled' : 'disabled'}): ${String(cfg.source ?? '')}${cfg.kind ? ` → ${String(cfg.kind)}` : ''}${cfg.error ? ` → ${String(cfg.error)}` : ''}`,
    ),
  );
  if (cfg.steAddr) cfgBox.append(el('div', {}, `STE at ${String(cfg.steAddr)}`), kv(cfg.ste));
  if (cfg.cdAddr) cfgBox.append(el('div', {}, `CD at ${String(cfg.cdAddr)} (IPA ${String(cfg.cdIpa)})`), kv(cfg.cd));
  for (const l of (cfg.lookups as Obj[]) ?? []) cfgBox.append(drawLookup(l));
  root.append(cfgBox);
  for (const l of (d.translation as Obj[]) ?? []) root.append(drawLookup(l));
  for (const n of (d.notes as string[]) ?? []) root.append(el('p', { class: 'dim' }, n));
  if (res.ok)
    root.append(
      el(
        'p',
        { class: 'ok', id: 'dry-result' },
        `→ PA ${String(res.pa)} (mask ${String(res.mask)})${res.secure ? ' Secure' : ''}`,
      ),
    );
  else {
    const ev = res.event as Obj | null;
    root.append(
      el('p', { class: 'fault', id: 'dry-result' }, `→ fault${ev ? `: ${String(ev.type)}` : ' (no event recorded)'}`),
    );
    if (ev)
      root.append(
        el(
          'div',
          { id: 'dry-event' },
          kv({ ...ev, record: (ev.record as string[]).join(' '), queue: JSON.stringify(ev.queue) }),
        ),
      );
  }
  return root;
}

function drawLookup(l: Obj): HTMLElement {
  const box = el(
    'div',
    { class: 'lookup', 'data-stage': String(l.stage) },
    el(
      'div',
      {},
      el('b', {}, `${String(l.stage)} lookup`),
      ` ASID ${String(l.asid)} VMID ${String(l.vmid)} input ${String(l.input)} (${String(l.perm)}): IOTLB ${String(l.iotlb)}`,
    ),
  );
  for (const w of (l.walks as Obj[]) ?? []) {
    const wb = el(
      'div',
      { class: `walk s${String(w.stage)}`, 'data-walk-stage': String(w.stage) },
      el('b', {}, `${String(w.role)} walk`),
      ` of ${String(w.input)}: ${String(w.granule)} granule, ${String(w.inputBits)}-bit input, start level ${String(w.startLevel)}${w.tt !== undefined ? `, TTB${String(w.tt)}` : ''}`,
    );
    for (const lv of (w.levels as Obj[]) ?? []) {
      const dec = lv.decoded as Obj;
      const fields = Object.entries(dec)
        .filter(([k]) => k !== 'kind')
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' ');
      const lb = el(
        'div',
        { class: 'level', 'data-level': String(lv.level), 'data-pte': String(lv.pte) },
        `L${String(lv.level)}: table ${String(lv.tableBase)} [${String(lv.index)}] → descriptor at ${String(lv.pteAddr)} = ${String(lv.pte)} `,
        el('b', {}, String(dec.kind)),
        ` ${fields}`,
      );
      if (lv.tableIpaTranslation)
        lb.append(
          el('div', { class: 'dim' }, 'next-level table IPA through stage 2:'),
          drawLookup(lv.tableIpaTranslation as Obj),
        );
      wb.append(lb);
    }
    box.append(wb);
  }
  for (const sub of (l.lookups as Obj[]) ?? []) box.append(drawLookup(sub));
  if (l.entry) box.append(el('div', {}, `entry: ${JSON.stringify(l.entry)}`));
  if (l.wouldInsert) box.append(el('div', {}, `would insert: ${JSON.stringify(l.wouldInsert)}`));
  if (l.fault) box.append(el('div', { class: 'fault' }, `fault: ${JSON.stringify(l.fault)}`));
  return box;
}

// ---- start

async function main(): Promise<void> {
  try {
    layout = (await (await fetch('/inspector/layout.json')).json()) as Layout;
  } catch {
    layout = undefined;
  }
  await loadSessions();
  setInterval(() => void loadSessions(), 2000);
  setInterval(() => {
    if (qmp && !qmp.closed && !busy) {
      busy = true;
      void render().finally(() => (busy = false));
    }
  }, 1000);
  const want = new URLSearchParams(location.search).get('session');
  if (want) select(want);
}
let busy = false;

void main();
