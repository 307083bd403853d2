/**
 * Where the golden QEMU 10.2.2 captures live: in the repository, `protocol/captures/qemu-10.2.2/`
 * (its README.md gives the launch line and the file conventions). Tests read them, so they need no oracle.
 */
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

export const CAPTURES_DIR = join(REPO_ROOT, 'protocol', 'captures');
export const QEMU_CAPTURES = join(CAPTURES_DIR, 'qemu-10.2.2');
