/**
 * query-chardev and query-yank over the launch's character devices (the host's table, in creation
 * order). QEMU keeps chardevs as children of the /chardevs container, a GLib hash table, and
 * query-chardev prepends while iterating it: the table's order reversed (base/ghash-order.ts).
 * Socket chardevs register a yank instance each, listed in creation order. A host without a
 * chardev table (a service session) answers `not supported by qtestd`.
 */
import { GHashOrder } from '../../../base/ghash-order.js';
import type { ChardevInfo, QmpHost } from '../host.js';
import type { JsonObject } from '../json-value.js';
import { defineCommand } from '../registry.js';
import { notSupported } from './fixed.js';

function table(host: QmpHost, command: string): readonly ChardevInfo[] {
  if (host.chardevs === undefined) throw notSupported(command);
  return host.chardevs();
}

export const chardevCommands = [
  defineCommand({
    name: 'query-chardev',
    args: {},
    run(_args, { host }) {
      const devs = table(host, 'query-chardev');
      const byLabel = new Map(devs.map((d) => [d.label, d] as const));
      const order = new GHashOrder(devs.map((d) => d.label)).keysInOrder().reverse();
      return order.map((label): JsonObject => {
        const d = byLabel.get(label)!;
        return { label, filename: d.filename, 'frontend-open': d.frontendOpen };
      });
    },
  }),
  defineCommand({
    name: 'query-yank',
    args: {},
    run(_args, { host }) {
      return table(host, 'query-yank')
        .filter((d) => d.yank)
        .map((d): JsonObject => ({ type: 'chardev', id: d.label }));
    },
  }),
];
