/**
 * The commands QEMU 10.2.2 runs before machine initialization (`--preconfig`): those its QAPI schema
 * source marks `'allow-preconfig': true` (query-qmp-schema does not show the flag). Any other command
 * answers `The command 'X' is permitted only after machine initialization has completed`.
 */
export const PRECONFIG_COMMANDS: ReadonlySet<string> = new Set([
  'block-commit', 'block-dirty-bitmap-add', 'block-dirty-bitmap-clear', 'block-dirty-bitmap-disable',
  'block-dirty-bitmap-enable', 'block-dirty-bitmap-merge', 'block-dirty-bitmap-remove', 'block-export-add',
  'block-export-del', 'block-job-cancel', 'block-job-complete', 'block-job-dismiss', 'block-job-finalize',
  'block-job-pause', 'block-job-resume', 'block-job-set-speed', 'block-latency-histogram-set',
  'block-set-write-threshold', 'block-stream', 'block_resize', 'block_set_io_throttle', 'blockdev-add',
  'blockdev-backup', 'blockdev-create', 'blockdev-del', 'blockdev-mirror', 'blockdev-reopen',
  'blockdev-set-active', 'blockdev-snapshot', 'blockdev-snapshot-delete-internal-sync',
  'blockdev-snapshot-internal-sync', 'blockdev-snapshot-sync', 'change-backing-file', 'drive-backup',
  'drive-mirror', 'nbd-server-add', 'nbd-server-remove', 'nbd-server-start', 'nbd-server-stop', 'netdev_add',
  'netdev_del', 'object-add', 'object-del', 'qmp_capabilities', 'qom-get', 'qom-list', 'qom-list-get',
  'qom-list-properties', 'qom-list-types', 'qom-set', 'query-block', 'query-block-exports', 'query-block-jobs',
  'query-blockstats', 'query-chardev', 'query-command-line-options', 'query-commands', 'query-hotpluggable-cpus',
  'query-iothreads', 'query-memdev', 'query-name', 'query-named-block-nodes', 'query-pr-managers',
  'query-qmp-schema', 'query-status', 'query-uuid', 'query-version', 'quit', 'set-action', 'set-numa-node',
  'x-blockdev-amend', 'x-blockdev-change', 'x-blockdev-set-iothread', 'x-debug-block-dirty-bitmap-sha256',
  'x-debug-query-block-graph', 'x-exit-preconfig',
]);
