/**
 * QOM path resolution for qom-list/qom-get/qom-set: base/qom-path.ts's rules over the host's QOM
 * view, where a component steps along a child<> or link<> property and partial paths are tried
 * from every object of the child<> tree.
 */
import { resolveQomPath as resolveIn, type QomPathNav, type QomResolution as Resolution } from '../../base/qom-path.js';
import type { QomNode } from './host.js';

export type QomResolution = Resolution<QomNode>;

const NAV: QomPathNav<QomNode> = {
  step: (node, name) => node.properties().find((p) => p.name === name)?.target?.(),
  *children(node) {
    for (const p of node.properties()) {
      if (!p.type.startsWith('child<')) continue;
      const child = p.target?.();
      if (child !== undefined) yield child;
    }
  },
};

export function resolveQomPath(root: QomNode, path: string): QomResolution {
  return resolveIn(root, path, NAV);
}
