#!/usr/bin/env node
/**
 * Captures QMP goldens from the real QEMU 10.2.2 (QTEST_ORACLE_PREFIX) into
 * protocol/captures/qemu-10.2.2/qmp/:
 *   query-qmp-schema.reply  the raw reply line to query-qmp-schema (identical for virt and none)
 *   fixed-replies.json      command -> raw reply line to `{"execute": CMD}` for every command that
 *                           may be called without arguments and whose reply is the same on
 *                           `-nodefaults -machine none` and on the virt board qtestd models
 *                           (an answer about a subsystem qtestd does not have either: jobs, NBD,
 *                           migration state, SEV, ...). Commands in COMPUTED are answered by code.
 *   type-properties.json    {"device-list-properties": {type: reply line}, "qom-list-properties":
 *                           {type: reply line}} for every QOM type qtestd lists (dist/ must be built);
 *                           types the oracle lacks are left out (qtestd answers them from declarations)
 * Usage: QTEST_ORACLE_PREFIX=/var/tmp/qemu-oracle node scripts/capture-qmp-oracle.mjs [types]
 *        (`types` captures type-properties.json only)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const prefix = process.env.QTEST_ORACLE_PREFIX;
if (!prefix) throw new Error('QTEST_ORACLE_PREFIX is not set');
const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'protocol', 'captures', 'qemu-10.2.2', 'qmp');

/** Answered by qtestd's code (depend on the machine, the command line or state), not from the table. */
const COMPUTED = new Set([
  'query-status',
  'stop',
  'cont',
  'system_reset',
  'system_powerdown',
  'quit',
  'query-version',
  'query-commands',
  'query-qmp-schema',
  'query-cpus-fast',
  'query-machines',
  'query-target',
  'query-pci',
  'query-chardev',
  'query-memdev',
  'query-memory-size-summary',
  'x-query-ramblock',
  'x-query-roms',
  'query-yank',
  'query-name',
  'query-uuid',
  'query-cpu-definitions',
  'query-block',
  'query-blockstats',
  'x-debug-query-block-graph',
  'qom-list-types',
  'qmp_capabilities',
  'x-exit-preconfig',
  'query-hotpluggable-cpus',
  'x-query-numa',
  'query-acpi-ospm-status',
  'query-named-block-nodes',
  'query-rx-filter',
  'add-fd',
  // catalogues: qtestd lists only what it models (catalogue.ts filters these captures)
  'query-cpu-definitions',
  'query-machines',
]);
/** Captured whole for the code that filters or computes from them. */
const CATALOGUES = ['query-machines', 'query-cpu-definitions'];

export class Oracle {
  static async start(args) {
    const dir = mkdtempSync(join(tmpdir(), 'qmp-cap-'));
    const qt = join(dir, 'qt.sock');
    const qmp = join(dir, 'qmp.sock');
    const server = createServer();
    await new Promise((r) => server.listen(qt, r));
    const accepted = new Promise((r) => server.once('connection', r));
    const proc = spawn(
      join(prefix, 'bin', 'qemu-system-aarch64'),
      ['-qtest', `unix:${qt}`, '-qmp', `unix:${qmp},server=on,wait=off`, '-display', 'none', ...args],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const qtSock = await accepted;
    server.close();
    let sock;
    for (;;) {
      try {
        sock = await new Promise((res, rej) => {
          const s = connect(qmp);
          s.once('connect', () => res(s));
          s.once('error', rej);
        });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const o = new Oracle(proc, sock, qtSock);
    o.greeting = await o.line();
    return o;
  }
  constructor(proc, sock, qtSock) {
    this.proc = proc;
    this.sock = sock;
    this.qtSock = qtSock;
    this.buf = '';
    this.waiters = [];
    sock.setEncoding('latin1');
    sock.on('data', (d) => {
      this.buf += d;
      this.pump();
    });
  }
  pump() {
    for (;;) {
      const i = this.buf.indexOf('\n');
      if (i < 0 || this.waiters.length === 0) return;
      const l = this.buf.slice(0, i + 1);
      this.buf = this.buf.slice(i + 1);
      this.waiters.shift()(l);
    }
  }
  line() {
    return new Promise((r) => {
      this.waiters.push(r);
      this.pump();
    });
  }
  /** Send one request; the reply line (events before it are dropped). */
  async call(text) {
    this.sock.write(text + '\n');
    for (;;) {
      const l = await this.line();
      if (l.startsWith('{"return"') || l.startsWith('{"error"')) return l;
    }
  }
  stop() {
    this.proc.kill('SIGKILL');
    this.sock.destroy();
    this.qtSock.destroy();
  }
}

async function main() {
  const norm = (s) => s.replace(/\/tmp\/qmp-cap-\w+/g, 'TMP');
  const none = await Oracle.start(['-nodefaults', '-machine', 'none', '-accel', 'qtest']);
  const virt = await Oracle.start([
    '-nodefaults',
    '-machine',
    'virt,acpi=off,gic-version=3,iommu=smmuv3',
    '-cpu',
    'max',
    '-m',
    '512',
    '-accel',
    'qtest',
  ]);
  for (const o of [none, virt]) await o.call('{"execute": "qmp_capabilities"}');
  const schemaReply = await virt.call('{"execute": "query-qmp-schema"}');
  if ((await none.call('{"execute": "query-qmp-schema"}')) !== schemaReply)
    throw new Error('schema differs between none and virt');
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'query-qmp-schema.reply'), schemaReply, 'latin1');
  const schema = JSON.parse(schemaReply).return;
  // Argument types whose members are all optional: the command can be called without arguments.
  const noArgs = new Set(
    schema
      .filter((e) => e['meta-type'] === 'object' && !e.variants && e.members.every((m) => 'default' in m))
      .map((e) => e.name),
  );
  const fixed = {};
  for (const e of schema) {
    if (e['meta-type'] !== 'command' || COMPUTED.has(e.name) || !noArgs.has(e['arg-type'])) continue;
    const req = JSON.stringify({ execute: e.name });
    const a = await none.call(req);
    const b = await virt.call(req);
    if (norm(a) !== norm(b)) {
      process.stderr.write(`machine-dependent, skipped: ${e.name}\n`);
      continue;
    }
    fixed[e.name] = b;
  }
  writeFileSync(join(OUT, 'fixed-replies.json'), JSON.stringify(fixed, null, 1) + '\n');
  for (const name of CATALOGUES)
    writeFileSync(join(OUT, `${name}.reply`), await virt.call(JSON.stringify({ execute: name })), 'latin1');
  process.stderr.write(`${Object.keys(fixed).length} fixed replies, schema ${schemaReply.length} bytes\n`);
  none.stop();
  virt.stop();
}

/** device-list-properties / qom-list-properties of every type qtestd lists, from the oracle. */
async function captureTypes() {
  const { QOM_TYPES } = await import(join(OUT, '..', '..', '..', '..', 'dist', 'src', 'machine', 'qom-types.js'));
  const none = await Oracle.start(['-nodefaults', '-machine', 'none', '-accel', 'qtest']);
  const virt = await Oracle.start(['-nodefaults', '-machine', 'virt', '-accel', 'qtest']);
  for (const o of [none, virt]) await o.call('{"execute": "qmp_capabilities"}');
  const out = { 'device-list-properties': {}, 'qom-list-properties': {} };
  for (const cmd of Object.keys(out)) {
    for (const t of QOM_TYPES) {
      const req = JSON.stringify({ execute: cmd, arguments: { typename: t.name } });
      const a = await none.call(req);
      if (a.startsWith('{"error"')) {
        process.stderr.write(`${cmd} ${t.name}: ${a}`);
        continue;
      }
      if ((await virt.call(req)) !== a) throw new Error(`${cmd} ${t.name} differs between none and virt`);
      out[cmd][t.name] = a;
    }
  }
  writeFileSync(join(OUT, 'type-properties.json'), JSON.stringify(out, null, 1) + '\n');
  none.stop();
  virt.stop();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await (process.argv[2] === 'types' ? captureTypes() : main());
