/**
 * The part of QEMU's QOM composition tree that clients can see: /machine, its unattached board
 * devices, peripheral(-anon) user devices, each with a type name, properties and its GPIO lists
 * (for qtest irq_intercept_*). Path resolution is base/qom-path.ts's (QEMU's object_resolve_path()):
 * absolute paths, or a partial path that matches exactly one object by its trailing components.
 */
import { resolveQomPath, type QomPathNav } from '../base/qom-path.js';
import type { IrqLine } from '../sim/irq.js';
import { GHashOrder } from '../base/ghash-order.js';

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
  /**
   * Property and child names in QEMU's qom-list order (`type` first), when known; names not in it
   * come after, in insertion order.
   */
  order?: readonly string[];

  constructor(
    readonly name: string,
    readonly typeName: string,
  ) {}

  get path(): string {
    if (!this.parent) return '';
    return `${this.parent.path}/${this.name}`;
  }

  /** A container QEMU keeps as a GLib hash table (/objects): qom-list shows that table's order. */
  private hash?: GHashOrder;

  hashOrdered(): this {
    this.hash = new GHashOrder(this.children.keys());
    this.syncHashOrder();
    return this;
  }

  private syncHashOrder(): void {
    // qom-list prepends while it iterates: the table's order reversed, `type` (a class property) first.
    if (this.hash) this.order = ['type', ...this.hash.keysInOrder().reverse()];
  }

  add(child: QomNode): QomNode {
    child.parent = this;
    this.children.set(child.name, child);
    this.hash?.insert(child.name);
    this.syncHashOrder();
    return child;
  }

  remove(child: QomNode): void {
    if (this.children.get(child.name) === child) {
      this.children.delete(child.name);
      this.hash?.remove(child.name);
      this.syncHashOrder();
    }
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

  /**
   * Resolve an absolute or partial path (base/qom-path.ts, stepping along children only); ambiguous,
   * unknown and empty partial paths give undefined.
   */
  resolve(path: string): QomNode | undefined {
    if (!path.startsWith('/') && path.split('/').every((p) => p === '')) return undefined;
    return resolveQomPath(this.root, path, NAV).node;
  }
}

const NAV: QomPathNav<QomNode> = {
  step: (node, name) => node.children.get(name),
  children: (node) => node.children.values(),
};
