// Expected behaviour from docs/devices.md#iommu-testdev and the upstream test flow (IOVA 0x8080604567 →
// PA 0x4ECBA567, LEN 4, ATTRS 0xA, result 0, memory 78 56 34 12).
import t from 'tap';
import { IommuTestdev } from '../../src/devices/iommu-testdev.js';
import type { Iommu } from '../../src/memory/dma-view.js';
import type { MemTxAttrs } from '../../src/memory/types.js';
import { Tracer } from '../../src/base/trace.js';
import { deviceRig, registryDevice } from './rig.js';

const IOVA = 0x8080604567n;
const PA = 0x4ecba567n;

function setup(trace?: Tracer) {
  const seen: Array<{ sid: number; iova: bigint; write: boolean; attrs: MemTxAttrs }> = [];
  let mapTo = PA & ~0xfffn;
  const iommu: Iommu = {
    translate: (sid, iova, write, attrs) => {
      seen.push({ sid, iova, write, attrs });
      if ((iova & ~0xfffn) !== (IOVA & ~0xfffn)) return { ok: false };
      return { ok: true, pa: mapTo | (iova & 0xfffn), mask: 0xfffn };
    },
  };
  const dev = registryDevice('iommu-testdev', IommuTestdev);
  const { rd, wr, hex: ram } = deviceRig(dev, { iommu, iommuView: true, ...(trace ? { trace } : {}) });
  const program = (len: bigint, attrs = 0xan, gpa = PA) => {
    wr(0x04, IOVA & 0xffffffffn);
    wr(0x08, IOVA >> 32n);
    wr(0x1c, gpa & 0xffffffffn);
    wr(0x20, gpa >> 32n);
    wr(0x0c, len);
    wr(0x18, attrs);
  };
  return { dev, rd, wr, ram, seen, program, setMap: (pa: bigint) => (mapTo = pa) };
}

t.test('identity and reset values', async (t) => {
  const { dev, rd } = setup();
  t.equal(dev.configRead(0, 4), 0x00051b36);
  t.equal(dev.configRead(8, 4), 0x00ff0000);
  t.equal(dev.configRead(0x3c, 4), 0, 'no interrupt pin');
  t.equal(rd(0x10), 0xffffffffn, 'RESULT idle');
  t.equal(rd(0x18), 0x2n, 'ATTRS: space NS, not valid');
  t.equal(rd(0x14), 0n, 'DBELL reads 0');
  t.equal(rd(0x100), 0n, 'unknown offsets read 0');
  t.equal(rd(0x04, 2), 0n, '2-byte access rejected');
});

t.test('runs the §9.5 translation test: result 0 and the pattern at the PA', async (t) => {
  const { rd, wr, ram, seen, program } = setup();
  program(4n);
  wr(0x14, 1n);
  t.equal(rd(0x10), 0xfffffffen, 'armed: BUSY');
  t.equal(rd(0x00), 0n, 'trigger reads 0');
  t.equal(rd(0x10), 0n);
  t.equal(ram(PA, 4), '78563412');
  t.equal(seen.length, 1);
  t.equal(seen[0].iova, IOVA);
  t.equal(seen[0].write, true);
  t.equal(seen[0].sid, 8);
  t.same(seen[0].attrs, { secure: false, space: 1 });
  t.equal(rd(0x00), 0n);
  t.equal(rd(0x10), 0xdead0005n, 'disarmed after the run: NOT_ARMED');
});

t.test('pattern repeats every 4 bytes, partial last group compared', async (t) => {
  const { rd, wr, ram, program } = setup();
  program(7n);
  wr(0x14, 1n);
  rd(0x00);
  t.equal(rd(0x10), 0n);
  t.equal(ram(PA, 8), '78563412785634' + '00');
});

t.test('result codes: BAD_LEN, BAD_ATTRS, TX_FAIL, RD_FAIL, MISMATCH, IDLE', async (t) => {
  const { rd, wr, program, setMap } = setup();
  const run = () => {
    wr(0x14, 1n);
    rd(0x00);
    return rd(0x10);
  };
  program(0n);
  t.equal(run(), 0xdead0001n);
  program(4n, 0x9n);
  t.not(run(), 0xdead0006n, 'secure=1 with space=Secure is consistent');
  program(4n, 0xbn);
  t.equal(run(), 0xdead0006n, 'secure=1 with space=NS is inconsistent');
  program(4n, 0x8n);
  t.equal(run(), 0xdead0006n, 'space=Secure without the secure bit');
  program(4n, 0xdn);
  t.not(run(), 0xdead0006n, 'space 2 (Root) is not checked');
  program(4n, 0x1n);
  t.not(run(), 0xdead0006n, 'space not valid: no check');
  program(0x2000n);
  t.equal(run(), 0xdead0002n, 'a chunk outside the mapped page faults');
  program(4n, 0xan, 0x70000000n);
  t.equal(run(), 0xdead0003n, 'GPA outside RAM');
  setMap(0x4ecbb000n);
  program(4n, 0xan, PA - 0x100n);
  t.equal(run(), 0xdead0004n);
  wr(0x14, 0n);
  t.equal(rd(0x10), 0xffffffffn, 'disarm: IDLE');
  wr(0x10, 0x1234n);
  t.equal(rd(0x10), 0x1234n, 'RESULT is writable');
});

t.test('uses the IOMMU address space without the bus-master gate', async (t) => {
  const { dev, rd, wr, program } = setup();
  t.equal(dev.busMasterEnabled, false);
  program(4n);
  wr(0x14, 1n);
  rd(0x00);
  t.equal(rd(0x10), 0n);
});

t.test('device reset restores the realize values', async (t) => {
  const { dev, rd, wr, program } = setup();
  program(4n, 0x3n);
  wr(0x14, 1n);
  dev.reset();
  t.equal(rd(0x04), 0n);
  t.equal(rd(0x0c), 0n);
  t.equal(rd(0x18), 2n);
  t.equal(rd(0x10), 0xffffffffn);
  rd(0x00);
  t.equal(rd(0x10), 0xdead0005n, 'not armed after reset');
});

t.test('trace events: mmio writes before, mmio reads after the access, one verify line per word', async (t) => {
  const lines: string[] = [];
  const tr = Tracer.fromPatterns(['iommu_testdev_*'], { write: (l) => lines.push(l.trimEnd()) });
  const { rd, wr, program, setMap } = setup(tr);
  program(6n);
  wr(0x14, 1n);
  lines.length = 0;
  t.equal(rd(0x00), 0n);
  t.same(lines, [
    'iommu_testdev_dma_start DMA operation started',
    'iommu_testdev_dma_write gva=0x8080604567 len=6',
    'iommu_testdev_dma_read gva=0x8080604567 len=6',
    'iommu_testdev_dma_verify expected=0x12345678 actual=0x12345678',
    'iommu_testdev_dma_verify expected=0x5678 actual=0x5678',
    'iommu_testdev_dma_result DMA completed result=0x0',
    'iommu_testdev_mmio_read addr=0x0 value=0x0 size=4',
  ]);
  lines.length = 0;
  wr(0x0c, 8n);
  t.same(lines, ['iommu_testdev_mmio_write addr=0xc value=0x8 size=4']);
  rd(0x04, 2);
  t.same(lines.length, 1, 'a rejected 2-byte access prints nothing');
  // GPA reads back other memory: the first word differs, and the lines stop there.
  program(8n, 0xan, PA + 0x100n);
  setMap(PA & ~0xfffn);
  wr(0x14, 1n);
  lines.length = 0;
  rd(0x00);
  t.same(
    lines.filter((l) => l.startsWith('iommu_testdev_dma_verify') || l.startsWith('iommu_testdev_dma_result')),
    [
      'iommu_testdev_dma_verify expected=0x12345678 actual=0x0',
      'iommu_testdev_dma_result DMA completed result=0xdead0004',
    ],
  );
});
