/**
 * base/qom-path.ts, as both users see it: the machine's QomTree.resolve (qtest irq_intercept_*)
 * agrees with a by-the-definition reference (a partial path names the objects whose trailing
 * components it spells; exactly one must match) on every absolute path and every suffix of the
 * tree of a session with user devices; the generic resolver reports ambiguity and respects `step`.
 */
import t from 'tap';
import { resolveQomPath, type QomPathNav } from '../../src/base/qom-path.js';
import type { QomNode } from '../../src/machine/qom-tree.js';
import { makeSession } from '../helpers/session.js';

const ARGV = [
  '-machine',
  'virt,acpi=off,gic-version=3,iommu=smmuv3',
  '-cpu',
  'max',
  '-smp',
  '1',
  '-m',
  '512',
  '-net',
  'none',
  '-device',
  'edu',
  '-device',
  'pcie-root-port,id=rp0,chassis=1',
  '-device',
  'edu,id=e1,bus=rp0',
];

function reference(root: QomNode, path: string): QomNode | undefined {
  const parts = path.split('/').filter((p) => p !== '');
  if (path.startsWith('/')) {
    let node: QomNode | undefined = root;
    for (const p of parts) if (!(node = node.children.get(p))) return undefined;
    return node;
  }
  if (parts.length === 0) return undefined;
  const hits: QomNode[] = [];
  const visit = (n: QomNode): void => {
    let m: QomNode | undefined = n;
    let ok = true;
    for (let i = parts.length - 1; i >= 0 && ok; i--) {
      if (!m || m.name !== parts[i]) ok = false;
      else m = m.parent;
    }
    if (ok) hits.push(n);
    for (const c of n.children.values()) visit(c);
  };
  visit(root);
  return hits.length === 1 ? hits[0] : undefined;
}

t.test('QomTree.resolve agrees with the reference on the whole tree', async (t) => {
  const qom = makeSession(ARGV).machine.qom;
  const paths = new Set<string>([
    '',
    '/',
    '//',
    'device[0]',
    'nope',
    '/nope',
    'machine/',
    '//machine//peripheral-anon',
  ]);
  const collect = (n: QomNode): void => {
    const parts = n.path.split('/').filter((p) => p !== '');
    paths.add(n.path);
    for (let i = 0; i < parts.length; i++) paths.add(parts.slice(i).join('/'));
    for (const c of n.children.values()) collect(c);
  };
  collect(qom.root);
  t.ok(paths.size > 20, `${paths.size} paths`);
  for (const p of paths) t.equal(qom.resolve(p), reference(qom.root, p), `'${p}'`);
  t.equal(qom.resolve('peripheral/e1')?.typeName, 'edu');
  t.equal(qom.resolve('device[0]'), undefined, 'ambiguous');
});

t.test('the generic resolver', async (t) => {
  interface N {
    name: string;
    kids: N[];
    link?: N;
  }
  const leaf = (name: string): N => ({ name, kids: [] });
  const a = leaf('x');
  const b = leaf('x');
  const root: N = {
    name: '',
    kids: [
      { name: 'p', kids: [a] },
      { name: 'q', kids: [b] },
    ],
  };
  root.kids[0]!.link = b;
  const nav: QomPathNav<N> = {
    step: (n, name) => n.kids.find((k) => k.name === name) ?? (name === 'link' ? n.link : undefined),
    children: (n) => n.kids,
  };
  t.same(resolveQomPath(root, 'x', nav), { node: undefined, ambiguous: true });
  t.same(resolveQomPath(root, 'nope', nav), { node: undefined, ambiguous: false });
  t.same(resolveQomPath(root, '/nope', nav), { node: undefined, ambiguous: false });
  t.equal(resolveQomPath(root, 'p/x', nav).node, a);
  t.equal(resolveQomPath(root, '/p/link', nav).node, b, 'steps follow links');
  t.equal(resolveQomPath(root, 'link', nav).node, b, 'partial paths too');
  t.same(resolveQomPath(root, '', nav), { node: undefined, ambiguous: true });
  t.equal(resolveQomPath(leaf('only'), '', nav).node?.name, 'only', 'the empty path names a lone root');
});
