/**
 * The inspector in a real browser: Debian's chromium (CHROMIUM_PATH, else `chromium` on PATH)
 * driven by playwright-core. A session programmed through the typed client (streams.ts) with an
 * S1, an S2 and a nested stream; the page runs the translate form for each and must draw the walk
 * level by level with the descriptors in guest memory and the right result; an edu DMA that faults
 * must show up decoded in the event view; the page's total transfer stays small. Screenshots go to
 * tests/artifacts/inspector/ (gitignored). Without chromium or playwright-core (or PLAYWRIGHT_CORE_DIR):
 * one skip line, a failure under CI=true.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { QtestClient } from '../../src/client/qtest-client.js';
import { CMD } from '../../src/client/smmu-queues.js';
import { REPO_ROOT } from '../helpers/launch.js';
import { startQtestd } from '../helpers/service-process.js';
import { EDU, INSPECTOR_MACHINE, programStreams, STREAMS, walkDescriptors } from './streams.js';

const ARTIFACTS = join(REPO_ROOT, 'tests', 'artifacts', 'inspector');
/** The page's whole transfer (HTML, script, layout, JSON; not the WebSocket) must stay below this. */
const MAX_TRANSFER_BYTES = 300 * 1024;

function findChromium(): string | undefined {
  const env = process.env.CHROMIUM_PATH;
  if (env) return existsSync(env) ? env : undefined;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch (e) {
    void e; // not on PATH
    return undefined;
  }
}

/**
 * What this test uses of playwright-core (a devDependency), typed here so that the build does not
 * need the package: the import is dynamic and the test skips (fails under CI) without it.
 */
interface Locator {
  innerText(): Promise<string>;
  waitFor(): Promise<void>;
  count(): Promise<number>;
  first(): Locator;
}
interface Response {
  url(): string;
  body(): Promise<Buffer>;
  headers(): Record<string, string>;
}
interface Page {
  goto(url: string): Promise<unknown>;
  waitForSelector(selector: string): Promise<unknown>;
  waitForLoadState(state: 'networkidle'): Promise<void>;
  locator(selector: string, options?: { hasText?: string }): Locator;
  fill(selector: string, value: string): Promise<void>;
  selectOption(selector: string, value: string): Promise<unknown>;
  click(selector: string): Promise<void>;
  evaluate(fn: () => void): Promise<void>;
  $$eval<R>(selector: string, fn: (els: Element[]) => R): Promise<R>;
  screenshot(options: { path: string; fullPage?: boolean }): Promise<unknown>;
  on(event: 'response', handler: (r: Response) => void): void;
  setDefaultTimeout(ms: number): void;
}
interface Playwright {
  chromium: {
    launch(options: { executablePath: string; args?: string[] }): Promise<{
      newPage(options?: { viewport?: { width: number; height: number } }): Promise<Page>;
      close(): Promise<void>;
    }>;
  };
}

const chromiumPath = findChromium();
let playwright: Playwright | undefined;
try {
  // PLAYWRIGHT_CORE_DIR: a playwright-core installed elsewhere (e.g. outside a shared node_modules)
  const dir = process.env.PLAYWRIGHT_CORE_DIR;
  const name = dir ? pathToFileURL(join(dir, 'index.mjs')).href : 'playwright-core';
  playwright = (await import(name)) as Playwright;
} catch (e) {
  void e; // reported below
}
const missing = !chromiumPath
  ? 'chromium not found (apt-get install chromium, or set CHROMIUM_PATH)'
  : !playwright
    ? 'playwright-core not installed'
    : undefined;

if (missing && process.env.CI === 'true') {
  t.fail(`inspector browser tests: ${missing}`);
} else if (missing) {
  t.pass(`# SKIP inspector browser tests: ${missing}`, { skip: missing });
} else {
  await run(chromiumPath!, playwright!);
}

async function run(executablePath: string, pw: Playwright): Promise<void> {
  t.setTimeout(15 * 60_000);
  mkdirSync(ARTIFACTS, { recursive: true });
  const svc = await startQtestd({ machineArgs: INSPECTOR_MACHINE });
  t.teardown(() => svc.dispose());
  const q = await QtestClient.connectWebSocket(`ws://127.0.0.1:${svc.httpPort}/qtest?id=insp-browser`);
  t.teardown(() => q.close());
  const streams = await programStreams(q);
  const browser = await pw.chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  // safety net only (a loaded machine can be slow; nothing here asserts a duration)
  page.setDefaultTimeout(5 * 60_000);
  let transferred = 0;
  const urls: string[] = [];
  page.on('response', (r) => {
    urls.push(r.url());
    void r.body().then(
      (b) => (transferred += b.length + JSON.stringify(r.headers()).length),
      () => {},
    );
  });
  const base = `http://127.0.0.1:${svc.httpPort}`;
  let initialTransfer = 0;

  await t.test('the page lists the session and shows the machine and the SMMU', async (t) => {
    await page.goto(`${base}/?session=insp-browser`);
    await page.waitForSelector('li[data-session="insp-browser"]');
    await page.waitForSelector('#registers');
    const cr0 = await page.locator('#registers tr', { hasText: 'CR0ACK' }).innerText();
    t.match(cr0, /SMMUEN=0x1 .*EVENTQEN=0x1 CMDQEN=0x1/, 'CR0ACK decoded by field');
    const pci = await page.locator('#pci').innerText();
    t.match(pci, /1234:0x11e8/, 'edu in the PCI tree');
    t.match(pci, /MEM\|MASTER/, 'its command bits');
    await page.waitForSelector(`[data-ste="${EDU.sid}"]`);
    await page.waitForLoadState('networkidle');
    initialTransfer = transferred;
    await page.screenshot({ path: join(ARTIFACTS, 'overview.png'), fullPage: true });
  });

  const translate = async (sid: number, iova: bigint, access = 'read'): Promise<void> => {
    await page.fill('#translate-form input[name=sid]', String(sid));
    await page.fill('#translate-form input[name=iova]', '0x' + iova.toString(16));
    await page.selectOption('#translate-form select[name=access]', access);
    await page.evaluate(() => document.getElementById('walk')!.replaceChildren());
    await page.click('#translate-form button');
    await page.waitForSelector('#dry-result');
  };
  const levels = (walkStage: 1 | 2, scope = '#walk > .dry-run > .lookup') =>
    page.$$eval(`${scope} > .walk[data-walk-stage="${walkStage}"] > .level`, (els) =>
      els.map((e) => ({ level: Number(e.getAttribute('data-level')), pte: e.getAttribute('data-pte') ?? '' })),
    );

  await t.test('stage 1: the form draws four levels, the descriptors and the PA', async (t) => {
    await translate(STREAMS.s1.sid, STREAMS.s1.input + 0x10n);
    const drawn = await levels(1);
    const want = await walkDescriptors(q, streams.s1, STREAMS.s1.input);
    t.same(
      drawn.map((l) => l.level),
      [0, 1, 2, 3],
    );
    t.same(
      drawn.map((l) => BigInt(l.pte)),
      want,
      'descriptor values as in guest memory',
    );
    t.match(await page.locator('#walk').innerText(), /L3: .*\bpage\b/, 'the leaf decoded as a page');
    t.equal(
      await page.locator('#dry-result').innerText(),
      `→ PA 0x${(STREAMS.s1.output + 0x10n).toString(16)} (mask 0xfff)`,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'translate-s1.png'), fullPage: true });
  });

  await t.test('stage 2', async (t) => {
    await translate(STREAMS.s2.sid, STREAMS.s2.input + 0x20n, 'write');
    const drawn = await levels(2);
    t.same(
      drawn.map((l) => BigInt(l.pte)),
      await walkDescriptors(q, streams.s2, STREAMS.s2.input),
    );
    t.equal(
      await page.locator('#dry-result').innerText(),
      `→ PA 0x${(STREAMS.s2.output + 0x20n).toString(16)} (mask 0xfff)`,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'translate-s2.png'), fullPage: true });
  });

  await t.test('nested: stage-2 walks drawn inside the stage-1 levels', async (t) => {
    await translate(STREAMS.nested.sid, STREAMS.nested.input + 0x30n);
    const s1 = await levels(1);
    t.same(
      s1.map((l) => BigInt(l.pte)),
      await walkDescriptors(q, streams.nestedS1, STREAMS.nested.input),
      'stage-1 descriptors',
    );
    const inner = await page.$$eval('#walk > .dry-run > .lookup > .walk[data-walk-stage="1"] > .level', (els) =>
      els.map((e) => e.querySelectorAll(':scope > .lookup > .walk[data-walk-stage="2"]').length),
    );
    t.same(inner, [1, 1, 1, 0], 'a stage-2 walk for each next-level table IPA');
    const out = await levels(2);
    t.equal(out.length, 4, 'then the stage-1 output through stage 2');
    t.equal(
      await page.locator('#dry-config .lookup').count(),
      2,
      'CD and TTB0 IPAs through stage 2 in the config step',
    );
    t.equal(
      await page.locator('#dry-result').innerText(),
      `→ PA 0x${(STREAMS.nested.output + 0x30n).toString(16)} (mask 0xfff)`,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'translate-nested.png'), fullPage: true });
  });

  await t.test('a fault: the dry run predicts it, the DMA records it, the queue view decodes it', async (t) => {
    await translate(EDU.sid, EDU.faultIova);
    t.match(await page.locator('#dry-result').innerText(), /fault: F_TRANSLATION/);
    t.match(await page.locator('#dry-event').innerText(), /written/);
    await streams.eduDma(EDU.faultIova);
    const row = page.locator('#events tr', { hasText: 'F_TRANSLATION' }).first();
    await row.waitFor();
    const text = await row.innerText();
    t.match(text, /\b0x10\b/, 'type code');
    t.match(text, new RegExp(`0x${EDU.sid.toString(16)}\\b`), 'StreamID');
    t.match(text, new RegExp(`0x${EDU.faultIova.toString(16)}`), 'input address');
    const entry = page.locator('#eventq-entries tr', { hasText: 'F_TRANSLATION' }).first();
    await entry.waitFor();
    t.match(
      await entry.innerText(),
      new RegExp(`pending[\\s\\S]*inputAddr=0x${EDU.faultIova.toString(16)}`),
      'the event queue entry, decoded',
    );
    await page.locator('#feed', { hasText: 'SMMU event F_TRANSLATION' }).waitFor();
    await page.locator('#feed', { hasText: 'qtest > clock_step' }).waitFor();
    t.pass('the live feed shows the qtest traffic and the event');
    await page.screenshot({ path: join(ARTIFACTS, 'event.png'), fullPage: true });
  });

  await t.test('the command queue view decodes the commands software queued', async (t) => {
    await streams.smmu.cmdq.submit(
      CMD.CMD_CFGI_STE(EDU.sid),
      CMD.CMD_TLBI_NH_VA(0x11, { addr: EDU.faultIova }),
      CMD.CMD_SYNC(),
    );
    const row = page.locator('#cmdq-entries tr', { hasText: 'CMD_TLBI_NH_VA' }).first();
    await row.waitFor();
    const text = await row.innerText();
    t.match(text, /consumed/, 'consumed by the SMMU (CMDQEN is on)');
    t.match(text, /ASID=0x11/, 'the decoded ASID');
    t.match(text, new RegExp(`Address=0x${EDU.faultIova.toString(16)}`), 'the decoded address');
    await page.locator('#cmdq-entries tr', { hasText: 'CMD_CFGI_STE' }).first().waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'queues.png'), fullPage: true });
  });

  await t.test('the page is small and loads nothing from elsewhere', async (t) => {
    t.ok(
      urls.every((u) => u.startsWith(base)),
      'every request goes to the service',
    );
    t.ok(
      initialTransfer > 0 && initialTransfer < MAX_TRANSFER_BYTES,
      `first load: ${initialTransfer} bytes (limit ${MAX_TRANSFER_BYTES})`,
    );
    t.comment(
      `first load ${initialTransfer} bytes; ${transferred} bytes in ${urls.length} responses over the whole test (session-list polling)`,
    );
  });
}
