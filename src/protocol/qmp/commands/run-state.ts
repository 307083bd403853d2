/**
 * Run-state commands: query-status, stop, cont, system_reset, quit. The host emits the events
 * (STOP, RESUME, RESET, SHUTDOWN) synchronously, so they precede the reply (observed on 10.2.2:
 * system-reset.txt, quit.txt; STOP/RESUME only when the state changes).
 */
import { emptyJsonObject } from '../json-value.js';
import { QmpError } from '../messages.js';
import { defineCommand } from '../registry.js';

export const runStateCommands = [
  defineCommand({
    name: 'query-status',
    args: {},
    run(_args, { host }) {
      const status = host.runState();
      return { running: status === 'running', status };
    },
  }),
  defineCommand({
    name: 'stop',
    args: {},
    run(_args, { host }) {
      host.stop();
      return emptyJsonObject();
    },
  }),
  defineCommand({
    name: 'cont',
    args: {},
    run(_args, { host }) {
      const outcome = host.cont();
      if (!outcome.ok) throw QmpError.from(outcome.error);
      return emptyJsonObject();
    },
  }),
  defineCommand({
    name: 'system_reset',
    args: {},
    run(_args, { host }) {
      host.systemReset('host-qmp-system-reset');
      return emptyJsonObject();
    },
  }),
  defineCommand({
    name: 'quit',
    args: {},
    run(_args, { host }) {
      host.requestQuit('host-qmp-quit');
      return emptyJsonObject();
    },
  }),
];
