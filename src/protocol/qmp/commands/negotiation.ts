/** qmp_capabilities: leaves capabilities-negotiation mode, optionally enabling `oob`. */
import { arg } from '../args.js';
import { emptyJsonObject } from '../json-value.js';
import { QmpError } from '../messages.js';
import { defineCommand } from '../registry.js';

export const negotiationCommands = [
  defineCommand({
    name: 'qmp_capabilities',
    args: { enable: arg.optEnumList(['oob']) },
    run(args, ctx) {
      // In command mode QEMU keeps the command but refuses it (after checking its arguments).
      if (ctx.negotiation.complete) {
        throw new QmpError('CommandNotFound', 'Capabilities negotiation is already complete, command ignored');
      }
      ctx.negotiation.finish(args.enable ?? []);
      return emptyJsonObject();
    },
  }),
];
