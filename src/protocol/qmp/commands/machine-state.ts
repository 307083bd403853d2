/**
 * Queries whose QEMU 10.2.2 answer follows from the machine's configuration (RAM, board, ACPI,
 * guest name) or from what qtestd never has (block devices, NICs, NUMA nodes, preconfig state,
 * file descriptors passed over the monitor), with the oracle's texts and member sets.
 */
import { arg } from '../args.js';
import { emptyJsonObject, type JsonObject } from '../json-value.js';
import { QmpError } from '../messages.js';
import { defineCommand } from '../registry.js';
import { notSupported } from './fixed.js';

const RAMBLOCK_HEADER =
  '              Block Name    PSize              Offset               Used              Total                HVA  RO\n';

const empty = (name: string) => defineCommand({ name, args: {}, run: () => [] });

export const machineStateCommands = [
  defineCommand({
    name: 'query-name',
    args: {},
    run(_args, { host }) {
      const name = host.summary().guestName;
      return name === undefined ? emptyJsonObject() : { name };
    },
  }),
  defineCommand({
    name: 'query-uuid',
    args: {},
    // qtestd takes no -uuid: QEMU's answer without one.
    run: () => ({ UUID: '00000000-0000-0000-0000-000000000000' }),
  }),
  defineCommand({
    name: 'query-memdev',
    args: {},
    run(_args, { host }) {
      if (host.memdevs !== undefined) return host.memdevs().map((m) => ({ ...m }));
      const s = host.summary();
      if (s.board === 'none') return [];
      return [
        {
          id: 'mach-virt.ram',
          size: s.ramBytes,
          merge: true,
          dump: true,
          prealloc: false,
          share: false,
          reserve: true,
          'host-nodes': [],
          policy: 'default',
        },
      ];
    },
  }),
  // OOB-capable; qtestd never migrates, so postcopy is never paused (the oracle's text).
  defineCommand({
    name: 'migrate-recover',
    args: { uri: arg.str() },
    allowOob: true,
    run() {
      throw QmpError.generic('Migrate recover can only be run when postcopy is paused.');
    },
  }),
  defineCommand({
    name: 'query-memory-size-summary',
    args: {},
    run: (_args, { host }) => ({ 'base-memory': host.summary().ramBytes, 'plugged-memory': 0 }),
  }),
  defineCommand({
    name: 'query-hotpluggable-cpus',
    args: {},
    run() {
      throw QmpError.generic('machine does not support hot-plugging CPUs');
    },
  }),
  defineCommand({
    name: 'x-query-numa',
    args: {},
    run: () => ({ 'human-readable-text': '0 nodes\n' }),
  }),
  defineCommand({
    name: 'query-acpi-ospm-status',
    args: {},
    run(_args, { host }) {
      if (!host.summary().acpi) throw QmpError.generic('command is not supported, missing ACPI device');
      return [];
    },
  }),
  // qtestd has no block devices and no NICs (as QEMU with -nodefaults and -net none).
  empty('query-block'),
  empty('query-blockstats'),
  empty('query-rx-filter'),
  defineCommand({ name: 'query-named-block-nodes', args: { flat: arg.optBool() }, run: () => [] }),
  defineCommand({
    name: 'x-debug-query-block-graph',
    args: {},
    run: (): JsonObject => ({ nodes: [], edges: [] }),
  }),
  defineCommand({
    name: 'add-fd',
    args: { 'fdset-id': arg.optInt(), opaque: arg.optStr() },
    run() {
      // The monitor never receives descriptors over its socket.
      throw QmpError.generic('No file descriptor supplied via SCM_RIGHTS');
    },
  }),
  defineCommand({
    name: 'getfd',
    args: { fdname: arg.str() },
    run() {
      throw QmpError.generic('No file descriptor supplied via SCM_RIGHTS');
    },
  }),
  defineCommand({
    name: 'x-exit-preconfig',
    args: {},
    run(_args, { host }) {
      if (host.inPreconfig?.() !== true) throw QmpError.generic('The command is permitted only before machine initialization');
      host.exitPreconfig?.();
      return emptyJsonObject();
    },
  }),
  defineCommand({
    name: 'x-query-roms',
    args: {},
    run(_args, { host }) {
      // virt registers its device tree as a 1 MiB ROM at the start of RAM (its content is not built:
      // deviations.md, Machine); none has no ROMs.
      const text = host.summary().board === 'virt' ? 'addr=0000000040000000 size=0x100000 mem=ram name="dtb"\n' : '';
      return { 'human-readable-text': text };
    },
  }),
  defineCommand({
    name: 'x-query-ramblock',
    args: {},
    run(_args, { host }) {
      // The RAM block table prints host addresses (HVA); only the machine without RAM blocks is answered.
      if (host.summary().board !== 'none') throw notSupported('x-query-ramblock');
      return { 'human-readable-text': RAMBLOCK_HEADER };
    },
  }),
  defineCommand({
    name: 'system_powerdown',
    args: {},
    run(_args, { host }) {
      host.powerdown();
      return emptyJsonObject();
    },
  }),
];
