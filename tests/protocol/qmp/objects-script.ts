/**
 * The object-add / object-del requests the differential test (tests/differential/qmp-objects.test.ts)
 * and the capture replay (tests/protocol/qmp/objects-capture.test.ts) send, and the argvs they run on.
 */
import { BASE_ARGS } from '../../helpers/launch.js';

const add = (args: string): string => `{"execute": "object-add", "arguments": {${args}}}`;
const del = (id: string): string => `{"execute": "object-del", "arguments": {"id": "${id}"}}`;
const RAM = '"qom-type": "memory-backend-ram"';
const RNG = '"qom-type": "rng-builtin"';
const LIST = '{"execute": "qom-list", "arguments": {"path": "/objects"}}';
const MEMDEV = '{"execute": "query-memdev"}';

export const OBJECT_SCRIPT: readonly string[] = [
  // qmp-cmd-test object-add-failure-modes, in its order
  add(`${RAM}, "id": "ram1"`),
  add('"id": "ram1"'),
  del('ram1'),
  add(`${RAM}, "id": "ram1", "size": 1048576`),
  add(`${RAM}, "id": "ram1", "size": 1048576`),
  del('ram1'),
  add(`${RAM}, "id": "ram1", "size": "1048576"`),
  add(`${RAM}, "size": 1048576`),
  add(`${RAM}, "id": "ram1", "sized": 1048576`),
  '{"execute": "object-del", "arguments": {"ida": "ram1"}}',
  '{"execute": "object-del"}',
  '{"execute": "object-del", "arguments": {"id": 1}}',
  // argument visitor: enum, identifiers, C integer types
  add(`${RAM}, "id": "r9", "size": 4096, "bogus": 1, "other": 2`),
  add('"qom-type": "nosuch", "id": "x"'),
  add('"qom-type": "edu", "id": "x"'),
  add('"qom-type": "memory-backend", "id": "x", "size": 1'),
  add('"qom-type": "qtest", "id": "q1"'),
  add('"qom-type": 1, "id": "x"'),
  add(`${RAM}, "id": 5, "size": 1`),
  add(`${RAM}, "id": "1bad", "size": 1`),
  add(`${RAM}, "id": "a7", "size": 1.5`),
  add(`${RAM}, "id": "a2", "size": 4096, "prealloc-threads": 8589934592`),
  add(`${RAM}, "id": "a9", "size": 4096, "prealloc-threads": -1`),
  add(`${RAM}, "id": "a3", "size": 4096, "host-nodes": ["a"]`),
  add(`${RAM}, "id": "a4", "size": 4096, "host-nodes": [70000]`),
  add(`${RAM}, "id": "a5", "size": 4096, "policy": "bogus"`),
  add(`${RNG}, "id": "b2", "size": 1`),
  // property setters
  add(`${RAM}, "id": "r2", "size": 0`),
  add(`${RAM}, "id": "a1", "size": 4096, "prealloc-threads": 0`),
  add(`${RAM}, "id": "r6", "size": 4096, "host-nodes": [0]`),
  add(`${RAM}, "id": "a5", "size": 4096, "policy": "bind"`),
  add(`${RAM}, "id": "a6", "size": 4096, "prealloc": true, "reserve": false`),
  add(`${RNG}, "id": "rng1", "opened": true`),
  // created objects, in the container's order
  add(
    `${RAM}, "id": "r3", "size": 4096, "share": true, "prealloc": false, "merge": true, "dump": true, "policy": "default", "x-use-canonical-path-for-ramblock-id": false`,
  ),
  add(`${RNG}, "id": "rng0"`),
  add(`${RAM}, "id": "b1", "size": 4096, "prealloc-threads": 3, "prealloc": true`),
  '{"execute": "qom-get", "arguments": {"path": "/objects/b1", "property": "prealloc-threads"}}',
  add(`${RAM}, "id": "b3", "size": 4096, "dump": false, "merge": false, "share": true`),
  add(`${RAM}, "id": "b5", "size": 4097`),
  add(`${RNG}, "id": "b1"`),
  LIST,
  '{"execute": "qom-list", "arguments": {"path": "/objects/r3"}}',
  MEMDEV,
  del('r3'),
  del('rng0'),
  del('mach-virt.ram'),
  del('ram'),
  LIST,
  ...['x1', 'bb', 'aa', 'zz', 'm1', 'q7', 'k', 'long-object-name.1'].map((id) => add(`${RNG}, "id": "${id}"`)),
  LIST,
  del('bb'),
  del('zz'),
  add(`${RNG}, "id": "c9"`),
  LIST,
  MEMDEV,
];

export const OBJECT_VARIANTS: Array<[string, string[]]> = [
  ['virt', ['-nodefaults', ...BASE_ARGS]],
  ['none', ['-nodefaults', '-machine', 'none']],
  [
    'virt with -object',
    [
      '-nodefaults',
      ...BASE_ARGS,
      '-object',
      'memory-backend-ram,id=a,size=1M',
      '-object',
      'rng-builtin,id=zz2',
      '-object',
      'memory-backend-ram,id=m1,size=1M',
    ],
  ],
];

