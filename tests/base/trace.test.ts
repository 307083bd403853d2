/**
 * Trace events: the printf formatter (C argument widths, %d of unsigned values, %02x, %zx, 64-bit
 * conversions), QEMU's glob patterns with `-` to disable, the log-backend line, and the -trace /
 * -D / -msg argv rows. Expected texts are QEMU 10.2.2's (trace differential: tests/differential).
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyTracePatterns, formatTraceEvent, Tracer } from '../../src/base/trace.js';
import { TRACE_EVENTS, TRACE_IDS } from '../../src/base/trace-events.js';
import { parseLaunchArgv } from '../../src/config/argv.js';
import { eventsFileLines } from '../../src/config/trace-options.js';

t.test('formatter', async (t) => {
  t.equal(
    formatTraceEvent(TRACE_IDS.pci_cfg_read, ['gpex-root', 0, 0, 0, 0, 0x81b36]),
    'gpex-root 00:00.0 @0x0 -> 0x81b36',
  );
  t.equal(
    formatTraceEvent(TRACE_IDS.smmuv3_read_mmio, [0x10n, 0xffff_ffff_ffff_fffen, 8, 0]),
    'addr: 0x10 val:0xfffffffffffffffe size: 0x8(0)',
  );
  // uint32 printed with %d reads as int (C varargs)
  t.equal(
    formatTraceEvent(TRACE_IDS.smmuv3_config_cache_hit, [8, 0xffff_ffff, 1, 50]),
    'Config cache HIT for sid=0x8 (hits=-1, misses=1, hit rate=50)',
  );
  t.equal(formatTraceEvent(TRACE_IDS.smmuv3_find_ste, [0x12345, 0, 0]), 'sid=0x2345 features:0x0, sid_split:0x0');
  t.equal(formatTraceEvent(TRACE_IDS.iommu_testdev_dma_armed, [true]), 'armed=1');
  t.equal(
    formatTraceEvent(TRACE_IDS.smmu_ptw_level, [1, 3, 0x1000n, 0x1000, 0x40000000n, 8, 0x3n]).includes(
      'subpage_sz=0x1000',
    ),
    true,
  );
  t.equal(formatTraceEvent(TRACE_IDS.smmuv3_cmdq_tlbi_nsnh, []), '');
});

t.test('patterns', async (t) => {
  const on = new Uint8Array(TRACE_EVENTS.length);
  t.same(applyTracePatterns(on, ['smmu*', '-smmuv3_*_mmio', 'nope']), ['nope']);
  t.equal(on[TRACE_IDS.smmu_add_mr], 1);
  t.equal(on[TRACE_IDS.smmuv3_cmdq_opcode], 1);
  t.equal(on[TRACE_IDS.smmuv3_read_mmio], 0);
  t.equal(on[TRACE_IDS.pci_cfg_read], 0);
  applyTracePatterns(on, ['pci_cfg_?ead']);
  t.equal(on[TRACE_IDS.pci_cfg_read], 1);
  t.equal(on[TRACE_IDS.pci_cfg_write], 0);
});

t.test('log backend line and structured records', async (t) => {
  const lines: string[] = [];
  const tr = Tracer.fromPatterns(['smmu_reset_exit', 'smmu_add_mr'], { write: (s) => lines.push(s) });
  t.equal(tr.on[TRACE_IDS.pci_cfg_read], 0);
  tr.emit(TRACE_IDS.smmu_reset_exit);
  tr.emit(TRACE_IDS.smmu_add_mr, 'smmuv3-iommu-memory-region-0-0');
  t.same(lines, ['smmu_reset_exit \n', 'smmu_add_mr smmuv3-iommu-memory-region-0-0\n']);
  const stamped: string[] = [];
  Tracer.fromPatterns(['smmu_reset_exit'], { write: (s) => stamped.push(s), timestamp: true }).emit(
    TRACE_IDS.smmu_reset_exit,
  );
  t.match(stamped[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z smmu_reset_exit \n$/);
  const records: unknown[] = [];
  const log = { info: (obj: unknown, msg: string) => records.push({ obj, msg }) };
  Tracer.fromPatterns(['smmuv3_get_ste'], { log: log as never }).emit(TRACE_IDS.smmuv3_get_ste, 0x4000n);
  t.same(records, [{ obj: { trace: 'smmuv3_get_ste', args: ['0x4000'] }, msg: 'smmuv3_get_ste STE addr: 0x4000' }]);
});

t.test('argv: -trace, -D, -msg', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-trace-'));
  const ev = join(dir, 'events');
  writeFileSync(ev, 'smmu_add_mr\n\n#pci_cfg_read\n-smmu*\nx');
  t.same(eventsFileLines('a\n\n#b\nc\nxy'), ['a', 'c', 'x']);
  const o = parseLaunchArgv(['-machine', 'virt', '-D', '/tmp/d.log', '-trace', 'smmu*', '-trace', `events=${ev}`]);
  t.same(o.trace?.patterns, ['smmu*', 'smmu_add_mr', '-smmu*']);
  t.equal(o.trace?.file, '/tmp/d.log');
  const f = parseLaunchArgv(['-machine', 'virt', '-trace', 'enable=pci*,file=/tmp/t.log', '-D', '/tmp/d.log']);
  t.equal(f.trace?.file, '/tmp/t.log');
  t.equal(parseLaunchArgv(['-machine', 'virt', '-msg', 'timestamp=on']).trace?.timestamp, true);
  t.throws(() => parseLaunchArgv(['-machine', 'virt', '-trace', 'foo=bar']), {
    message: "-trace foo=bar: Invalid parameter 'foo'",
  });
  t.equal(parseLaunchArgv(['-machine', 'virt']).trace, undefined);
});
