/** Regenerate protocol/bad-input.md from tests/hardening/bad-input-table.ts. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../launch.js';
import { renderBadInputMarkdown } from '../../hardening/bad-input-table.js';

const path = join(REPO_ROOT, 'protocol', 'bad-input.md');
writeFileSync(path, renderBadInputMarkdown());
process.stdout.write(`wrote ${path}\n`);
