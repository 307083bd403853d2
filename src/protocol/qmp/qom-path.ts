/**
 * QOM path resolution with QEMU's rules (object_resolve_path): an absolute path walks child<> and
 * link<> properties from the root, skipping empty components (`//machine/` is `/machine`); a partial
 * path must match below exactly one object of the child<> tree, otherwise it is ambiguous (the empty
 * path is always ambiguous). Observed on 10.2.2: `device[0]` ambiguous, `peripheral-anon` unique.
 */
import type { QomNode, QomProperty } from './host.js';

export type QomResolution = { node: QomNode } | { node: undefined; ambiguous: boolean };

function walk(from: QomNode, parts: readonly string[]): QomNode | undefined {
  let node: QomNode | undefined = from;
  for (const part of parts) {
    const prop: QomProperty | undefined = node.properties().find((p) => p.name === part);
    node = prop?.target?.();
    if (node === undefined) return undefined;
  }
  return node;
}

function children(node: QomNode): QomNode[] {
  const out: QomNode[] = [];
  for (const p of node.properties()) {
    if (!p.type.startsWith('child<')) continue;
    const child = p.target?.();
    if (child !== undefined) out.push(child);
  }
  return out;
}

export function resolveQomPath(root: QomNode, path: string): QomResolution {
  const parts = path.split('/').filter((p) => p !== '');
  if (path.startsWith('/')) return { node: walk(root, parts) } as QomResolution;

  let found: QomNode | undefined;
  const pending: QomNode[] = [root];
  let visited = 0;
  while (pending.length > 0) {
    const base = pending.pop() as QomNode;
    if (++visited > 1_000_000) break;
    const match = parts.length === 0 ? base : walk(base, parts);
    if (match !== undefined) {
      if (found !== undefined) return { node: undefined, ambiguous: true };
      found = match;
    }
    pending.push(...children(base));
  }
  return found !== undefined ? { node: found } : { node: undefined, ambiguous: false };
}
