/**
 * Answers to -version, -help, -machine help, -machine TYPE,help, -cpu help, -device help and
 * -device TYPE,help, in QEMU 10.2.2's format, listing only what qtestd accepts (the texts are the
 * oracle's, filtered). They go to stdout, as QEMU's do: explicit requests for text, no protocol
 * is running. `-device X,help` for a type we do not have goes to stderr, as QEMU's "not found".
 */
import { devicePropertyHelp, deviceHelpLines, findDeviceType } from '../devices/registry.js';
import { ConfigError, VALID_CPUS, applyMachineOption, defaultMachineConfig } from '../machine/config.js';
import { acceptsOption } from '../config/argv.js';
import type { InfoRequest } from '../config/argv.js';
import { QEMU_HELP_LINES } from './qemu-help-text.js';

const VERSION =
  'QEMU emulator version 10.2.2\nCopyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers\n';

/** `-machine help`: our machine types, as QEMU lists them. */
const MACHINE_LIST =
  'Supported machines are:\nnone                 empty machine\nvirt                 QEMU 10.2 ARM Virtual Machine (alias of virt-10.2)\nvirt-10.2            QEMU 10.2 ARM Virtual Machine\n';

/** `-machine virt,help` / `-machine none,help` of the oracle (filtered by what applyMachineOption takes). */
const MACHINE_PROP_LINES: Record<'virt' | 'none', readonly string[]> = {
  virt: [
    '  acpi=<OnOffAuto>       - Enable ACPI',
    '  append=<string>        - Linux kernel command line',
    '  aux-ram-share=<bool>   - Use anonymous shared memory for auxiliary guest RAMs',
    '  boot=<BootConfiguration> - Boot configuration',
    '  compact-highmem=<bool> - Set on/off to enable/disable compact layout for high memory regions',
    '  confidential-guest-support=<link<confidential-guest-support>> - Set confidential guest scheme to support',
    '  default-bus-bypass-iommu=<bool> - Set on/off to enable/disable bypass_iommu for default root bus',
    '  dt-compatible=<string> - Overrides the "compatible" property of the dt root node',
    '  dtb-kaslr-seed=<bool>  - Deprecated synonym of dtb-randomness',
    '  dtb-randomness=<bool>  - Set off to disable passing random or non-deterministic dtb nodes to guest',
    '  dtb=<string>           - Linux kernel device tree file',
    '  dump-guest-core=<bool> - Include guest memory in a core dump',
    '  dumpdtb=<string>       - Dump current dtb to a file and quit',
    '  firmware=<string>      - Firmware image',
    '  gic-version=<string>   - Set GIC version. Valid values are 2, 3, 4, host and max',
    '  graphics=<bool>        - Set on/off to enable/disable graphics emulation',
    '  highmem-ecam=<bool>    - Set on/off to enable/disable high memory region for PCI ECAM',
    '  highmem-mmio-size=<size> - Set the high memory region size for PCI MMIO',
    '  highmem-mmio=<bool>    - Set on/off to enable/disable high memory region for PCI MMIO',
    '  highmem-redists=<bool> - Set on/off to enable/disable high memory region for GICv3 or GICv4 redistributor',
    '  highmem=<bool>         - Set on/off to enable/disable using physical address space above 32 bits',
    '  initrd=<string>        - Linux initial ramdisk file',
    '  iommu=<string>         - Set the IOMMU type. Valid values are none and smmuv3',
    '  its=<bool>             - Set on/off to enable/disable ITS instantiation',
    '  kernel=<string>        - Linux kernel image file',
    '  mem-merge=<bool>       - Enable/disable memory merge support',
    '  memory-backend=<link<memory-backend>> - Set RAM backendValid value is ID of hostmem based backend',
    '  memory-encryption=<string> - Set memory encryption object to use',
    '  memory=<MemorySizeConfiguration> - Memory size configuration',
    '  mte=<bool>             - Set on/off to enable/disable emulating a guest CPU which implements the ARM Memory Tagging Extension',
    '  phandle-start=<int>    - The first phandle ID we may generate dynamically',
    '  ras=<bool>             - Set on/off to enable/disable reporting host memory errors to a KVM guest using ACPI and guest external abort exceptions',
    '  secure=<bool>          - Set on/off to enable/disable the ARM Security Extensions (TrustZone)',
    '  shim=<string>          - shim.efi file',
    '  smp-cache=<SmpCachePropertiesWrapper> - Cache properties list for SMP machine',
    '  smp=<SMPConfiguration> - CPU topology',
    '  suppress-vmdesc=<bool> - Set on to disable self-describing migration',
    '  usb=<bool>             - Set on/off to enable/disable usb',
    '  virtualization=<bool>  - Set on/off to enable/disable emulating a guest CPU which implements the ARM Virtualization Extensions',
    '  x-oem-id=<string>      - Override the default value of field OEMID in ACPI table header.The string may be up to 6 bytes in size',
    '  x-oem-table-id=<string> - Override the default value of field OEM Table ID in ACPI table header.The string may be up to 8 bytes in size',
  ],
  none: [
    '  append=<string>        - Linux kernel command line',
    '  aux-ram-share=<bool>   - Use anonymous shared memory for auxiliary guest RAMs',
    '  boot=<BootConfiguration> - Boot configuration',
    '  confidential-guest-support=<link<confidential-guest-support>> - Set confidential guest scheme to support',
    '  dt-compatible=<string> - Overrides the "compatible" property of the dt root node',
    '  dtb=<string>           - Linux kernel device tree file',
    '  dump-guest-core=<bool> - Include guest memory in a core dump',
    '  dumpdtb=<string>       - Dump current dtb to a file and quit',
    '  firmware=<string>      - Firmware image',
    '  graphics=<bool>        - Set on/off to enable/disable graphics emulation',
    '  initrd=<string>        - Linux initial ramdisk file',
    '  kernel=<string>        - Linux kernel image file',
    '  mem-merge=<bool>       - Enable/disable memory merge support',
    '  memory-backend=<link<memory-backend>> - Set RAM backendValid value is ID of hostmem based backend',
    '  memory-encryption=<string> - Set memory encryption object to use',
    '  memory=<MemorySizeConfiguration> - Memory size configuration',
    '  phandle-start=<int>    - The first phandle ID we may generate dynamically',
    '  shim=<string>          - shim.efi file',
    '  smp-cache=<SmpCachePropertiesWrapper> - Cache properties list for SMP machine',
    '  smp=<SMPConfiguration> - CPU topology',
    '  suppress-vmdesc=<bool> - Set on to disable self-describing migration',
    '  usb=<bool>             - Set on/off to enable/disable usb',
  ],
};

/** Whether -machine accepts property `name` on `machine` (an unknown one fails with "not found"). */
function acceptsMachineProp(machine: 'virt' | 'none', name: string): boolean {
  try {
    applyMachineOption(defaultMachineConfig(), `${machine},${name}=x`, () => {});
    return true;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return !/^Property '.*' not found$/.test(e.message);
  }
}

function machinePropsText(machine: 'virt' | 'none'): string {
  const lines = MACHINE_PROP_LINES[machine].filter((l) => acceptsMachineProp(machine, l.trim().split('=')[0]));
  return `${machine === 'virt' ? 'virt-10.2' : 'none'}-machine options:\n${lines.map((l) => l + '\n').join('')}`;
}

/** The -chardev backends config/argv.ts opens (an entry line per backend in QEMU's help). */
const CHARDEV_BACKENDS = new Set(['null', 'socket', 'stdio']);

function acceptsEntry(line: string): boolean {
  const name = line.slice(1).split(/[ =]/)[0];
  if (name === 'chardev') return CHARDEV_BACKENDS.has(line.slice('-chardev '.length).split(',')[0]);
  return acceptsOption(name);
}

/**
 * QEMU's --help with only the options the drop-in accepts: an option's entry is its first line
 * (`-name …`) and the indented lines after it; a section heading stays when an entry under it does.
 */
export function helpText(): string {
  const isEntry = (l: string): boolean => l.startsWith('-');
  const isHeading = (l: string): boolean => /^[A-Z][^:]*:$/.test(l);
  const firstSection = QEMU_HELP_LINES.findIndex(isHeading);
  const trailer = QEMU_HELP_LINES.findIndex((l) => l.startsWith('During emulation'));
  const out = QEMU_HELP_LINES.slice(0, firstSection);
  let heading: string[] = [];
  let keep = false;
  for (const l of QEMU_HELP_LINES.slice(firstSection, trailer)) {
    if (isHeading(l)) heading = [l];
    else if (l === '') {
      if (heading.length === 0) out.push(l);
      heading = [];
      keep = false;
    } else {
      if (isEntry(l)) keep = acceptsEntry(l);
      if (keep) {
        out.push(...heading);
        heading = [];
        out.push(l);
      }
    }
  }
  // a section that kept nothing must not leave its blank line behind
  const body = out.filter((l, i) => l !== '' || (i > 0 && out[i - 1] !== ''));
  return [...body, ...QEMU_HELP_LINES.slice(trailer)].map((l) => l + '\n').join('');
}

/** `-device help`: our user-creatable types grouped by category, in QEMU's line format. */
function deviceHelpText(): string {
  let out = '';
  for (const [category, lines] of deviceHelpLines()) out += `${out ? '\n' : ''}${category}:\n${lines.join('\n')}\n`;
  return out;
}

/** The text for `info`, and which stream QEMU prints it on. */
export function infoText(info: InfoRequest): { stdout?: string; stderr?: string } {
  switch (info.what) {
    case 'version':
      return { stdout: VERSION };
    case 'help':
      return { stdout: helpText() };
    case 'machine-help':
      return { stdout: MACHINE_LIST };
    case 'machine-props':
      return { stdout: machinePropsText(info.machine) };
    case 'cpu-help':
      return { stdout: `Available CPUs:\n${VALID_CPUS.map((c) => `  ${c}\n`).join('')}` };
    case 'device-help':
      return { stdout: deviceHelpText() };
    case 'device-props': {
      const type = findDeviceType(info.driver);
      if (!type) return { stderr: `qemu-system-aarch64: ${info.where}: Device '${info.driver}' not found\n` };
      return {
        stdout: devicePropertyHelp(type)
          .map((l) => l + '\n')
          .join(''),
      };
    }
  }
}

export function printInfo(info: InfoRequest): void {
  const { stdout, stderr } = infoText(info);
  if (stdout) process.stdout.write(stdout);
  if (stderr) process.stderr.write(stderr);
}
