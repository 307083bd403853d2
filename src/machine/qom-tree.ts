/**
 * The part of QEMU's QOM composition tree that clients can see: /machine, its unattached board
 * devices, peripheral(-anon) user devices, each with a type name, properties and its GPIO lists
 * (for qtest irq_intercept_*). Path resolution follows object_resolve_path(): absolute paths, or a
 * partial path that matches exactly one object by its trailing components.
 */
import type { IrqLine } from '../sim/irq.js';

export interface QomProperty {
  name: string;
  /** QOM property type as qom-list shows it (`str`, `uint64`, `bool`, `child<edu>`, `link<...>`). */
  type: string;
  get?: () => unknown;
  set?: (value: unknown) => void;
  description?: string;
}

export class QomNode {
  readonly children = new Map<string, QomNode>();
  readonly properties: QomProperty[] = [];
  /** Named GPIO input lists; the unnamed list has the key ''. */
  readonly gpioIn = new Map<string, IrqLine[]>();
  /** Named GPIO output lists (e.g. `sysbus-irq`); the unnamed list has the key ''. */
  readonly gpioOut = new Map<string, IrqLine[]>();
  parent?: QomNode;

  constructor(
    readonly name: string,
    readonly typeName: string,
  ) {}

  get path(): string {
    if (!this.parent) return '';
    return `${this.parent.path}/${this.name}`;
  }

  add(child: QomNode): QomNode {
    child.parent = this;
    this.children.set(child.name, child);
    return child;
  }

  remove(child: QomNode): void {
    if (this.children.get(child.name) === child) this.children.delete(child.name);
    child.parent = undefined;
  }

  /** Append as `device[N]` with the next free N (QEMU's unattached/peripheral-anon naming). */
  addIndexed(child: { typeName: string }, prefix = 'device'): QomNode {
    let n = 0;
    while (this.children.has(`${prefix}[${n}]`)) n++;
    return this.add(new QomNode(`${prefix}[${n}]`, child.typeName));
  }

  property(name: string): QomProperty | undefined {
    return this.properties.find((p) => p.name === name);
  }
}

export class QomTree {
  readonly root = new QomNode('', 'container');

  /** Resolve an absolute or partial path; ambiguous or unknown partial paths give undefined. */
  resolve(path: string): QomNode | undefined {
    if (path.startsWith('/')) {
      let node: QomNode | undefined = this.root;
      for (const part of path.split('/').filter((p) => p !== '')) {
        node = node.children.get(part);
        if (!node) return undefined;
      }
      return node;
    }
    const parts = path.split('/').filter((p) => p !== '');
    if (parts.length === 0) return undefined;
    let found: QomNode | undefined;
    let count = 0;
    const visit = (n: QomNode): void => {
      if (matchesTail(n, parts)) {
        found = n;
        count++;
      }
      for (const c of n.children.values()) visit(c);
    };
    visit(this.root);
    return count === 1 ? found : undefined;
  }
}

function matchesTail(node: QomNode, parts: string[]): boolean {
  let n: QomNode | undefined = node;
  for (let i = parts.length - 1; i >= 0; i--) {
    if (!n || n.name !== parts[i]) return false;
    n = n.parent;
  }
  return true;
}
