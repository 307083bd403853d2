/**
 * human-monitor-command: a small HMP with QEMU 10.2.2's texts (all observed): `info mtree|pci|qtree`
 * (rendered by the host), `info status|version`, `stop|s`, `cont|c`, `system_reset`, `quit|q`,
 * `help|?`. Unknown commands answer `unknown command: '<name>'`, surplus arguments
 * `<name>: extraneous characters at the end of line` + `Try "help ..."`. Output LFs become CRLF.
 */
import { arg } from '../args.js';
import type { HmpInfoTopic, QmpHost } from '../host.js';
import { QmpError } from '../messages.js';
import { defineCommand } from '../registry.js';
import { QEMU_VERSION } from '../data/version.js';

interface HmpCommand {
  /** Name as QEMU prints it in errors and help, aliases included (`stop|s`). */
  readonly display: string;
  readonly help: string;
  run(host: QmpHost): string;
}

interface InfoTopic {
  readonly help: string;
  /** Flags QEMU accepts, in the order it requires them. */
  readonly flags: readonly string[];
  /** The flags qtestd renders (others answer that qtestd does not support them). */
  readonly rendered?: readonly string[];
  render(host: QmpHost, flags: readonly string[]): string;
}

const hostInfo = (topic: HmpInfoTopic) => (host: QmpHost, flags: readonly string[]) => host.hmpInfo(topic, flags);

const INFO_TOPICS: Readonly<Record<string, InfoTopic>> = {
  mtree: {
    help: 'info mtree [-f][-d][-o][-D] -- show memory tree (-f: dump flat view for address spaces;-d: dump dispatch tree, valid with -f only);-o: dump region owners/parents;-D: dump disabled regions',
    flags: ['f', 'd', 'o', 'D'],
    render: hostInfo('mtree'),
  },
  numa: { help: 'info numa  -- show NUMA information', flags: [], render: hostInfo('numa') },
  pci: { help: 'info pci  -- show PCI info', flags: [], render: hostInfo('pci') },
  qtree: {
    help: 'info qtree [-b] -- show device tree (-b: brief, omit properties)',
    flags: ['b'],
    rendered: ['b'],
    render: hostInfo('qtree'),
  },
  status: {
    help: 'info status  -- show the current VM status (running|paused)',
    flags: [],
    render: (host) => `VM status: ${host.runState()}\n`,
  },
  version: {
    help: 'info version  -- show the version of QEMU',
    flags: [],
    render: () => `${QEMU_VERSION.major}.${QEMU_VERSION.minor}.${QEMU_VERSION.micro}${QEMU_VERSION.package}\n`,
  },
};

function errorText(message: string): string {
  return `Error: ${message}\n`;
}

const COMMANDS: readonly HmpCommand[] = [
  {
    display: 'cont|c',
    help: 'cont|c  -- resume emulation',
    run(host) {
      const r = host.cont();
      return r.ok ? '' : errorText(r.error.desc);
    },
  },
  { display: 'help|?', help: 'help|? [cmd] -- show the help', run: () => '' },
  { display: 'info', help: 'info [subcommand] -- show various information about the system state', run: () => '' },
  {
    display: 'quit|q',
    help: 'quit|q  -- quit the emulator',
    run(host) {
      host.requestQuit('host-qmp-quit');
      return '';
    },
  },
  {
    display: 'stop|s',
    help: 'stop|s  -- stop emulation',
    run(host) {
      host.stop();
      return '';
    },
  },
  {
    display: 'system_reset',
    help: 'system_reset  -- reset the system',
    run(host) {
      host.systemReset('host-qmp-system-reset');
      return '';
    },
  },
];

function findCommand(name: string): HmpCommand | undefined {
  return COMMANDS.find((c) => c.display.split('|').includes(name));
}

const isSpace = (ch: string): boolean => ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\v' || ch === '\f';

/** Split off the next word: [word, rest, index where the word ends]. */
function nextWord(text: string, from: number): { word: string; start: number; end: number } {
  let start = from;
  while (start < text.length && isSpace(text[start])) start++;
  let end = start;
  while (end < text.length && !isSpace(text[end])) end++;
  return { word: text.slice(start, end), start, end };
}

function extraneous(name: string, helpName: string): string {
  return `${name}: extraneous characters at the end of line\nTry "help ${helpName}" for more information\n`;
}

function infoHelp(): string {
  return Object.keys(INFO_TOPICS)
    .sort()
    .map((k) => INFO_TOPICS[k].help + '\n')
    .join('');
}

function runInfo(host: QmpHost, line: string, infoStart: number, from: number): string {
  const sub = nextWord(line, from);
  if (sub.word === '') return infoHelp();
  const topic = INFO_TOPICS[sub.word];
  if (topic === undefined) return `unknown command: '${line.slice(infoStart, sub.end)}'\n`;
  // Flags: each at most once and in the declared order; then nothing else.
  let at = sub.end;
  let nextFlag = 0;
  const given: string[] = [];
  for (;;) {
    const w = nextWord(line, at);
    if (w.word === '') break;
    if (!w.word.startsWith('-')) return extraneous(sub.word, `info ${sub.word}`);
    const flag = w.word.slice(1, 2);
    const index = topic.flags.indexOf(flag, nextFlag);
    if (index < 0 || w.word.length > 2) {
      return `${sub.word}: unsupported option -${flag}\nTry "help info ${sub.word}" for more information\n`;
    }
    given.push(flag);
    nextFlag = index + 1;
    at = w.end;
  }
  // Deviation (documented): the flags qtestd does not render answer so.
  const unsupported = given.find((f) => !topic.rendered?.includes(f));
  if (unsupported !== undefined) return `${sub.word}: option -${unsupported} is not supported by qtestd\n`;
  return topic.render(host, given);
}

function runHelp(line: string, from: number): string {
  const first = nextWord(line, from);
  if (first.word === '') return COMMANDS.map((c) => c.help + '\n').join('');
  if (first.word === 'info') {
    const sub = nextWord(line, first.end);
    if (sub.word === '') return infoHelp();
    const topic = INFO_TOPICS[sub.word];
    return topic === undefined ? `unknown command: '${line.slice(first.start, sub.end)}'\n` : topic.help + '\n';
  }
  const cmd = findCommand(first.word);
  return cmd === undefined ? `unknown command: '${first.word}'\n` : cmd.help + '\n';
}

/** Run one HMP command line; returns the text with LF line ends. */
export function runHmp(host: QmpHost, line: string): string {
  const head = nextWord(line, 0);
  if (head.word === '') return '';
  const cmd = findCommand(head.word);
  if (cmd === undefined) return `unknown command: '${head.word}'\n`;
  if (cmd.display === 'info') return runInfo(host, line, head.start, head.end);
  if (cmd.display === 'help|?') return runHelp(line, head.end);
  if (nextWord(line, head.end).word !== '') return extraneous(cmd.display, head.word);
  return cmd.run(host);
}

/** HMP output as QEMU's monitor sends it: every bare LF becomes CRLF. */
export function toCrlf(text: string): string {
  return text.replace(/\r?\n/g, '\r\n');
}

export const hmpCommands = [
  defineCommand({
    name: 'human-monitor-command',
    args: { 'command-line': arg.str(), 'cpu-index': arg.optInt() },
    run(args, { host }) {
      const cpuIndex = args['cpu-index'];
      if (cpuIndex !== undefined && !host.cpus().some((c) => BigInt(c.cpuIndex) === cpuIndex)) {
        throw QmpError.generic("Parameter 'cpu-index' expects a CPU number");
      }
      return toCrlf(runHmp(host, args['command-line']));
    },
  }),
];
