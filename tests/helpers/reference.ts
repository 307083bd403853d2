/** Where the shared reference captures live: `../shared/reference` beside the clone (as CI lays it out). */
import { resolve } from 'node:path';

export const REFERENCE_DIR = resolve(process.env.QTESTD_SHARED_DIR ?? resolve(process.cwd(), '../shared'), 'reference');
export const QEMU_CAPTURES = resolve(REFERENCE_DIR, 'qemu-10.2.2');
