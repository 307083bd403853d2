/**
 * The launcher bundle in two parts (scripts/bundle.mjs): the first file holds what a launch's first
 * reply needs; the modules behind lazy boundaries (`NAME.lazy.ts`) are in a second file, read and
 * run on the first call through a boundary. Checked here on real launches of
 * bin/qemu-system-aarch64 (libqtest's way: the launcher dials our sockets), with a preload that logs
 * every read of a dist/bundle file (synchronously, so a read before a reply is in the log when the
 * reply arrives):
 *   - an `endianness`-only launch, its QMP greeting included, never reads the second part;
 *   - a request that builds the machine, or a QMP command, reads it, once per process;
 *   - no module is in both parts (a module instantiated twice would give two copies of its classes
 *     and singletons), and the second part reaches first-part modules only through the registry.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, QTESTD_BINARY } from '../helpers/paths.js';
import { startDialIn } from '../helpers/processes.js';
import type { DialIn } from '../helpers/processes.js';

const SAFETY_NET_MS = 120_000; // not an assertion: a hung launch is killed and the test fails
const BUNDLE = join(DIST, 'bundle');
const FIRST = 'qemu-system-aarch64.code.cjs';
const SECOND = 'qemu-system-aarch64.lazy.code.cjs';

if (!existsSync(join(BUNDLE, SECOND))) {
  // No esbuild, no bundle (scripts/bundle.mjs says so): the launchers run dist/src. Under CI the
  // bundle is what ships, so its absence fails.
  const reason = `${join(BUNDLE, SECOND)} not built (node scripts/bundle.mjs): two-part bundle tests skipped`;
  if (process.env.CI === 'true') t.fail(reason);
  else {
    process.stderr.write(`# SKIP ${reason}\n`);
    void t.test('two-part launcher bundle', { skip: reason }, () => {});
  }
} else {
  const dir = mkdtempSync(join(tmpdir(), 'qtestd-lazy-part-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const preload = join(dir, 'log-reads.cjs');
  writeFileSync(
    preload,
    [
      "'use strict';",
      "const fs = require('fs');",
      'const log = process.env.QTESTD_TEST_READ_LOG;',
      'const read = fs.readFileSync;',
      'fs.readFileSync = function (p, ...rest) {',
      "  if (typeof p === 'string' && p.includes('/dist/bundle/')) fs.appendFileSync(log, p.slice(p.lastIndexOf('/') + 1) + '\\n');",
      '  return read.call(this, p, ...rest);',
      '};',
    ].join('\n'),
  );
  let n = 0;

  /** Launch with the preload; `reads()` lists the bundle files read so far. */
  async function launch(): Promise<{ d: DialIn; qtest: Socket; qmp: Socket; reads: () => string[] }> {
    const log = join(dir, `reads-${++n}.log`);
    writeFileSync(log, '');
    const d = await startDialIn({
      binary: QTESTD_BINARY,
      argv: (q, m) => [
        '-qtest',
        `unix:${q}`,
        '-qtest-log',
        '/dev/null',
        '-chardev',
        `socket,path=${m},id=char0`,
        '-mon',
        'chardev=char0,mode=control',
        '-display',
        'none',
        '-machine',
        'virt,acpi=off,gic-version=3,iommu=smmuv3',
        '-cpu',
        'max',
        '-m',
        '512',
        '-accel',
        'qtest',
      ],
      env: {
        ...process.env,
        QTESTD_NO_DAEMON: '1',
        QTESTD_TEST_READ_LOG: log,
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${preload}`,
      },
    });
    const qtest = await d.qtest;
    const qmp = await d.qmp;
    return { d, qtest, qmp, reads: () => readFileSync(log, 'utf8').split('\n').filter(Boolean) };
  }

  /** One line from `s` (the next one after what was read before). */
  function lines(s: Socket, encoding: BufferEncoding): () => Promise<string> {
    let buf = '';
    const ready: string[] = [];
    const waiting: Array<(l: string) => void> = [];
    s.setEncoding(encoding);
    s.on('data', (d: string) => {
      buf += d;
      for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        const w = waiting.shift();
        if (w) w(line);
        else ready.push(line);
      }
    });
    return () => {
      const l = ready.shift();
      return l !== undefined ? Promise.resolve(l) : new Promise((r) => waiting.push(r));
    };
  }

  async function request(s: Socket, next: () => Promise<string>, line: string): Promise<string> {
    s.write(line + '\n');
    return next();
  }

  const count = (reads: string[], file: string): number => reads.filter((r) => r === file).length;

  t.test('an endianness-only launch does not read the second part', { timeout: SAFETY_NET_MS }, async (t) => {
    const { d, qtest, qmp, reads } = await launch();
    t.teardown(() => d.cleanup());
    const q = lines(qtest, 'latin1');
    const m = lines(qmp, 'utf8');
    t.equal(await request(qtest, q, 'endianness'), 'OK little');
    t.match(await m(), /^\{"QMP": \{"version": \{"qemu": \{"micro": 2, "minor": 2, "major": 10\}/, 'QMP greeting');
    t.equal(count(reads(), FIRST), 1, 'the first part was read');
    t.equal(count(reads(), SECOND), 0, 'the second part was not read');
    const st = await d.child.stop();
    t.equal(st.code, 0, `exit 0 on SIGTERM (${d.child.stderr()})`);
  });

  t.test(
    'a request that builds the machine reads it, once; QMP then needs no second read',
    { timeout: SAFETY_NET_MS },
    async (t) => {
      const { d, qtest, qmp, reads } = await launch();
      t.teardown(() => d.cleanup());
      const q = lines(qtest, 'latin1');
      const m = lines(qmp, 'utf8');
      t.equal(await request(qtest, q, 'endianness'), 'OK little');
      t.equal(count(reads(), SECOND), 0, 'not read before the machine is needed');
      t.equal(await request(qtest, q, 'readl 0x4010000000'), 'OK 0x0000000000081b36', 'the PCIe host bridge');
      t.equal(count(reads(), SECOND), 1, 'read when the machine was built');
      await m(); // greeting
      t.equal(await request(qmp, m, '{"execute": "qmp_capabilities"}'), '{"return": {}}');
      t.match(
        await request(qmp, m, '{"execute": "query-status"}'),
        /^\{"return": \{"status": "running", "running": true\}\}$/,
      );
      t.equal(count(reads(), SECOND), 1, 'still read once');
      t.equal(count(reads(), FIRST), 1, 'the first part read once');
      const st = await d.child.stop();
      t.equal(st.code, 0, `exit 0 on SIGTERM (${d.child.stderr()})`);
    },
  );

  t.test(
    'a QMP command reads it, once; the machine then needs no second read',
    { timeout: SAFETY_NET_MS },
    async (t) => {
      const { d, qtest, qmp, reads } = await launch();
      t.teardown(() => d.cleanup());
      const q = lines(qtest, 'latin1');
      const m = lines(qmp, 'utf8');
      t.equal(await request(qtest, q, 'endianness'), 'OK little');
      await m(); // greeting
      t.equal(count(reads(), SECOND), 0, 'not read before the first QMP command');
      t.equal(await request(qmp, m, '{"execute": "qmp_capabilities"}'), '{"return": {}}');
      t.equal(count(reads(), SECOND), 1, 'read for the QMP command');
      t.equal(await request(qtest, q, 'writel 0x40001000 0xdeadbeef'), 'OK');
      t.equal(await request(qtest, q, 'read 0x40001000 0x4'), 'OK 0xefbeadde');
      t.equal(count(reads(), SECOND), 1, 'still read once');
      const st = await d.child.stop();
      t.equal(st.code, 0, `exit 0 on SIGTERM (${d.child.stderr()})`);
    },
  );

  t.test('no module is in both parts; the second reaches the first only through the registry', async (t) => {
    const parts = JSON.parse(readFileSync(join(BUNDLE, 'qemu-system-aarch64.parts.json'), 'utf8')) as {
      first: Record<string, number>;
      second: Record<string, number>;
      shared: string[];
    };
    const first = Object.keys(parts.first);
    const second = Object.keys(parts.second);
    t.same(
      first.filter((k) => second.includes(k)),
      [],
      'disjoint',
    );
    for (const k of ['src/cli/main.ts', 'src/cli/launch-session.ts', 'src/protocol/qtest/endpoint.ts'])
      t.ok(first.includes(k), `${k} in the first part`);
    for (const k of ['src/machine/machine.ts', 'src/smmu/smmu-v3.ts', 'src/protocol/qmp/endpoint.ts'])
      t.ok(second.includes(k), `${k} in the second part`);
    const code = readFileSync(join(BUNDLE, SECOND), 'utf8');
    const referenced = [...new Set([...code.matchAll(/require\("qtestd-shared:([^"]+)"\)/g)].map((x) => x[1]))].sort();
    t.same(referenced, [...parts.shared].sort(), 'the registry holds what the second part requires');
    t.same(
      referenced.filter((k) => !first.includes(k)),
      [],
      'every shared module is a first-part module',
    );
  });
}
