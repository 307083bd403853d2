'use strict';
/* global require, process, Buffer */
/*
 * The floor of the benchmark: a bare Node process that does what a qtest target must do at the
 * least. Started with the same argv as qtestd, it dials the -qtest socket and the QMP chardev and
 * answers every request line with a fixed line as long as a readl reply, without parsing it; on
 * the QMP socket it sends a greeting and answers every line with an empty return (libqtest's
 * qtest_init reads the greeting and sends qmp_capabilities).
 */
// CommonJS on purpose: the cheapest way node starts a script.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const net = require('net');
const a = process.argv;
const qtest = a[a.indexOf('-qtest') + 1].replace(/^unix:/, '');
const qmp = /path=([^,]+)/.exec(a[a.indexOf('-chardev') + 1])[1];
const reply = Buffer.from('OK 0x0000000000000000\n');
const s = net.connect(qtest);
s.setNoDelay(true);
const ret = Buffer.from('{"return": {}}\r\n');
const m = net.connect(qmp, () =>
  m.write(
    '{"QMP": {"version": {"qemu": {"micro": 2, "minor": 2, "major": 10}, "package": ""}, "capabilities": ["oob"]}}\r\n',
  ),
);
m.on('data', (d) => {
  for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) m.write(ret);
});
s.on('data', (d) => {
  let n = 0;
  for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) n++;
  if (n === 1) s.write(reply);
  else if (n > 1) s.write(Buffer.concat(Array(n).fill(reply)));
});
process.on('SIGTERM', () => process.exit(0));
