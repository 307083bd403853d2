/**
 * The browser inspector's HTTP routes (docs/inspector.md): `/` (the page), `/inspector/page.js`
 * (src/inspector/page.ts as tsc compiled it: one self-contained ES module, no imports) and
 * `/inspector/layout.json` (the SMMU register offsets and fields, from src/smmu/registers.ts, so
 * that the page decodes registers from the same data the model uses). Everything is local: the
 * page loads nothing from elsewhere and talks to a session only over the service's own
 * WebSocket QMP endpoint (`/qmp?session=ID`), with read-only commands. GET/HEAD only.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { SMMU_FIELDS, SMMU_REGISTERS } from '../smmu/registers.js';

/**
 * The commands the page may run on a session's monitor. The page attaches with
 * `/qmp?session=ID&inspect=1`, which needs no QMP token because such a monitor runs these
 * read-only commands only (the Host/Origin checks of http.ts still apply).
 */
export const INSPECTOR_COMMANDS: ReadonlySet<string> = new Set([
  'query-pci',
  'query-status',
  'x-qtestd-session',
  'x-qtestd-smmu-state',
  'x-qtestd-smmu-decode-stream',
  'x-qtestd-smmu-translate',
  'x-qtestd-smmu-queues',
  'x-qtestd-traffic',
]);

const PAGE_JS = fileURLToPath(new URL('../inspector/page.js', import.meta.url));

/** Register fields the model does not name but a reader wants split (IHI 0070 6.3). */
const EXTRA_FIELDS: Record<string, Record<string, readonly [number, number]>> = {
  STRTAB_BASE: { ADDR: [6, 46], RA: [62, 1] },
  CMDQ_BASE: { LOG2SIZE: [0, 5], ADDR: [5, 47], RA: [62, 1] },
  EVENTQ_BASE: { LOG2SIZE: [0, 5], ADDR: [5, 47], WA: [62, 1] },
  CR1: { QUEUE_IC: [0, 2], QUEUE_OC: [2, 2], QUEUE_SH: [4, 2], TABLE_IC: [6, 2], TABLE_OC: [8, 2], TABLE_SH: [10, 2] },
  CR2: { E2H: [0, 1], RECINVSID: [1, 1], PTM: [2, 1] },
  GERRORN: SMMU_FIELDS.GERROR,
  CR0ACK: SMMU_FIELDS.CR0,
  IRQ_CTRLACK: SMMU_FIELDS.IRQ_CTRL,
};

const HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>qtestd inspector</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>
body{font:13px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#234;color:#fff;padding:6px 12px;display:flex;gap:12px;align-items:center}
header h1{font-size:15px;margin:0}
main{display:grid;grid-template-columns:260px 1fr;gap:0}
nav{border-right:1px solid #ccc;padding:8px;min-height:calc(100vh - 34px);background:#fff}
nav li{cursor:pointer;padding:3px 4px;list-style:none}nav ul{padding:0;margin:0}
nav li.sel{background:#dde8f5;font-weight:600}
section{padding:6px 12px;border-bottom:1px solid #ddd}
h2{font-size:14px;margin:6px 0}
table{border-collapse:collapse;margin:2px 0 6px}td,th{border:1px solid #ddd;padding:1px 5px;text-align:left;vertical-align:top}
th{background:#eef}.mono,td{font-family:ui-monospace,monospace;font-size:12px}
.fault{color:#b00;font-weight:600}.ok{color:#070;font-weight:600}.dim{color:#888}
.walk{border:1px solid #99b;margin:4px 0;padding:4px;background:#f4f6ff}
.walk.s2{background:#f4fff4;border-color:#9b9}.lookup{border-left:3px solid #557;margin:4px 0 4px 4px;padding-left:6px}
.level{margin:3px 0;padding:2px 4px;border:1px dashed #aab;background:#fff}
#feed{max-height:240px;overflow:auto;font-family:ui-monospace,monospace;font-size:12px;white-space:pre}
form input,form select{font:inherit;margin-right:6px}
</style></head>
<body><header><h1>qtestd inspector</h1><span id="status" class="dim">loading…</span></header>
<main><nav><h2>Sessions</h2><ul id="sessions"></ul></nav><div id="view"><p class="dim">Pick a session.</p></div></main>
<script type="module" src="/inspector/page.js"></script></body></html>
`;

let pageJs: Buffer | undefined;
let layoutJson: string | undefined;

function layout(): string {
  if (layoutJson) return layoutJson;
  const regs: Record<string, { offset: number; width: number; fields: Record<string, readonly [number, number]> }> = {};
  for (const [name, spec] of Object.entries(SMMU_REGISTERS)) {
    if (name.startsWith('ID_')) continue;
    const fields = {
      ...(SMMU_FIELDS as Record<string, Record<string, readonly [number, number]>>)[name],
      ...EXTRA_FIELDS[name],
    };
    regs[name] = { offset: spec.offset, width: spec.width, fields };
  }
  layoutJson = JSON.stringify({ registers: regs });
  return layoutJson;
}

/** One inspector route: its path, content type and body (built on first use). */
export interface InspectorRoute {
  readonly path: string;
  readonly type: string;
  body(): string | Buffer;
}

/** The inspector's routes; http.ts registers them (GET and HEAD) with the service's router. */
export const INSPECTOR_ROUTES: readonly InspectorRoute[] = [
  { path: '/', type: 'text/html; charset=utf-8', body: () => HTML },
  { path: '/inspector', type: 'text/html; charset=utf-8', body: () => HTML },
  {
    path: '/inspector/page.js',
    type: 'text/javascript; charset=utf-8',
    body: () => (pageJs ??= readFileSync(PAGE_JS)),
  },
  { path: '/inspector/layout.json', type: 'application/json', body: layout },
];

/** Answer `req` with an inspector route (the method is already checked by the router). */
export function serveInspector(route: InspectorRoute, req: IncomingMessage, res: ServerResponse): void {
  if (res.destroyed) return;
  const body = route.body();
  res.writeHead(200, {
    'content-type': route.type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-cache',
    // the page may talk only to this origin (its own WebSocket QMP endpoint)
    'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'",
    'x-content-type-options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
