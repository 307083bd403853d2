/**
 * QOM path resolution with QEMU's rules (object_resolve_path), over any tree: an absolute path
 * steps from the root one component at a time, skipping empty components (`//machine/` is
 * `/machine`); a partial path must lead, stepping down from exactly one object of the composition
 * (child<>) tree, to an object — otherwise it is not found, or ambiguous if several objects match
 * (the empty partial path matches every object). Observed on 10.2.2: `device[0]` ambiguous,
 * `peripheral-anon` unique. The QMP layer and the machine's QOM tree both resolve through here.
 */

/** How to move around a tree of `N`s. */
export interface QomPathNav<N> {
  /** Where the component `name` leads from `node` (a child, or for QMP also a link), if anywhere. */
  step(node: N, name: string): N | undefined;
  /** `node`'s children in the composition tree: the objects a partial path is tried from. */
  children(node: N): Iterable<N>;
}

export type QomResolution<N> = { node: N } | { node: undefined; ambiguous: boolean };

/** The most objects a partial-path search visits before giving up (a bound on hostile trees). */
const MAX_VISITED = 1_000_000;

function walk<N>(from: N, parts: readonly string[], nav: QomPathNav<N>): N | undefined {
  let node: N | undefined = from;
  for (const part of parts) {
    node = nav.step(node, part);
    if (node === undefined) return undefined;
  }
  return node;
}

export function resolveQomPath<N>(root: N, path: string, nav: QomPathNav<N>): QomResolution<N> {
  const parts = path.split('/').filter((p) => p !== '');
  if (path.startsWith('/')) {
    const node = walk(root, parts, nav);
    return node !== undefined ? { node } : { node: undefined, ambiguous: false };
  }

  let found: N | undefined;
  const pending: N[] = [root];
  let visited = 0;
  while (pending.length > 0) {
    const base = pending.pop() as N;
    if (++visited > MAX_VISITED) break;
    const match = parts.length === 0 ? base : walk(base, parts, nav);
    if (match !== undefined) {
      if (found !== undefined) return { node: undefined, ambiguous: true };
      found = match;
    }
    for (const child of nav.children(base)) pending.push(child);
  }
  return found !== undefined ? { node: found } : { node: undefined, ambiguous: false };
}
