/**
 * splitWords: the words of a `#!qtestd` line or of `--machine-args`, split as a POSIX shell does
 * (shell-quote) without expansion; shell operators and comments are refused with a reason.
 */
import t from 'tap';
import { splitWords } from '../../src/config/session-options.js';

t.test('words, quotes and escapes as a shell splits them', async (t) => {
  t.same(splitWords('id=job1 -device edu -m 256'), ['id=job1', '-device', 'edu', '-m', '256']);
  t.same(splitWords(`-device "edu,dma_mask=0xff" -name 'a b'`), ['-device', 'edu,dma_mask=0xff', '-name', 'a b']);
  t.same(splitWords('a\\ b "c"d'), ['a b', 'cd'], 'a backslash escapes, adjacent quoted parts join');
  t.same(splitWords('  '), []);
});

t.test('no expansion: $NAME and glob characters stay as written', async (t) => {
  t.same(splitWords('-name $HOME -device edu,id=e*'), ['-name', '$HOME', '-device', 'edu,id=e*']);
});

t.test('shell operators and comments are refused with a reason', async (t) => {
  t.throws(() => splitWords('-device edu; rm x'), /unexpected ';' in the options \(quote it\)/);
  t.throws(() => splitWords('-device edu > out'), /unexpected '>'/);
  t.throws(() => splitWords('-device edu # note'), /unexpected '# note'/);
});
