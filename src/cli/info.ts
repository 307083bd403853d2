/**
 * Answers to -version, -help, -machine help and -device help. These go to stdout, as QEMU's do:
 * they are explicit requests for text and no protocol is running.
 */

import { deviceHelpLines } from '../devices/registry.js';

/** `-device help`: our user-creatable types grouped by category, in QEMU's line format. */
function deviceHelpText(): string {
  let out = '';
  for (const [category, lines] of deviceHelpLines()) out += `${out ? '\n' : ''}${category}:\n${lines.join('\n')}\n`;
  return out;
}

const VERSION =
  'QEMU emulator version 10.2.2 (qtestd)\nCopyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers\n';

export function printInfo(what: 'version' | 'help' | 'machine-help' | 'device-help' | 'cpu-help'): void {
  let text: string;
  switch (what) {
    case 'version':
      text = VERSION;
      break;
    case 'machine-help':
      text =
        'Supported machines are:\nnone                 empty machine\nvirt                 QEMU 10.2 ARM Virtual Machine (alias of virt-10.2)\nvirt-10.2            QEMU 10.2 ARM Virtual Machine\n';
      break;
    case 'device-help':
      text = deviceHelpText();
      break;
    default:
      text = `usage: qemu-system-aarch64 [options]\n\nqtestd: a stand-in for qemu-system-aarch64 under qtest.\nSee README.md for the options it understands.\n`;
  }
  process.stdout.write(text);
}
