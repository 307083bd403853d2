/**
 * The layer rule, checked: imports in src/ go one way, bottom to top, and no two files import each
 * other through any chain. The table below is the whole rule; README's "Where things live" states it
 * in one sentence. Every relative import counts, `import type` included.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '../helpers/launch.js';

/** Bottom to top. A folder may import only folders listed before it (and itself). */
export const LAYERS = [
  'base', // logging, limits, QEMU's key=value syntax: no knowledge of anything emulated
  'sim', // virtual clock, IRQ lines
  'memory', // address spaces, RAM, DMA views, register files
  'pci', // config space, host bridge, bridges, MSI
  'smmu', // the SMMUv3
  'devices', // PCI devices and their registry
  'machine', // the virt board
  'config', // QEMU-syntax command lines -> plain option records
  'protocol', // qtest and QMP wire protocols
  'session', // one machine + its protocol endpoints
  'transport', // sockets, chardevs
  'service', // the multi-session server
  'inspector', // the browser page the service serves (imports nothing)
  'cli', // entry points
] as const;

/** Narrower than the rank order: what these layers may NOT import although it sits below them. */
const FORBIDDEN: Record<string, readonly string[]> = {
  protocol: ['pci', 'smmu', 'devices', 'machine'], // the protocol layer knows nothing of devices
};
/**
 * The client library stands beside the stack: it may use only these plain-data layers, and from
 * 'protocol' only the QMP wire types (src/protocol/qmp/wire-types.ts, type-only, no runtime code).
 */
const CLIENT_MAY_IMPORT = ['base', 'memory', 'pci', 'smmu', 'protocol'];

const SRC = join(REPO_ROOT, 'src');
function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}
const IMPORT_RE =
  /(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = (m[1] ?? m[2])!;
    out.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
  }
  return out;
}
const layerOf = (file: string): string => {
  const rel = relative(SRC, file).split('/');
  return rel.length === 1 ? '(root)' : rel[0]!;
};

const files = tsFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

t.test('every folder of src/ is a known layer', async (t) => {
  const folders = new Set(files.map(layerOf));
  for (const f of folders) {
    t.ok(
      f === '(root)' || f === 'client' || (LAYERS as readonly string[]).includes(f),
      `src/${f} has a place in LAYERS`,
    );
  }
});

t.test('imports go from higher layers to lower ones only', async (t) => {
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    const from = layerOf(file);
    for (const dep of deps) {
      const to = layerOf(dep);
      if (from === to || from === '(root)') continue;
      const ok =
        from === 'client'
          ? CLIENT_MAY_IMPORT.includes(to)
          : to !== '(root)' &&
            to !== 'client' &&
            LAYERS.indexOf(to as never) < LAYERS.indexOf(from as never) &&
            !(FORBIDDEN[from] ?? []).includes(to);
      if (!ok) bad.push(`${relative(REPO_ROOT, file)} -> ${relative(REPO_ROOT, dep)}`);
    }
  }
  t.same(bad, [], 'no import points up, sideways into a forbidden layer, or into the client');
});

t.test('protocol/qtest and protocol/qmp do not import each other', async (t) => {
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    const a = relative(SRC, file).split('/')[1];
    if (layerOf(file) !== 'protocol') continue;
    for (const dep of deps) {
      const b = relative(SRC, dep).split('/')[1];
      if ((a === 'qtest' && b === 'qmp') || (a === 'qmp' && b === 'qtest'))
        bad.push(`${relative(REPO_ROOT, file)} -> ${relative(REPO_ROOT, dep)}`);
    }
  }
  t.same(bad, []);
});

t.test('no import cycle between files', async (t) => {
  // Tarjan's strongly connected components over the file graph.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(relative(REPO_ROOT, w));
      } while (w !== v);
      if (comp.length > 1) cycles.push(comp.sort());
    }
  };
  for (const f of graph.keys()) if (!idx.has(f)) visit(f);
  t.same(cycles, [], 'no strongly connected component of more than one file');
});

t.test('a source file over 400 lines says why on its first line', async (t) => {
  const long = files
    .filter((f) => readFileSync(f, 'utf8').split('\n').length > 401)
    .filter((f) => !/^\/\/ Over 400 lines: \S/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(REPO_ROOT, f));
  t.same(long, [], 'each starts with "// Over 400 lines: <reason>"');
});
