/**
 * Per-session machine selection for the service: the options of a `#!qtestd` first line or of a
 * WebSocket URL query, in QEMU's syntax (-machine, -m, -smp, -cpu, -device, -net, -nodefaults,
 * -accel) plus `id=NAME` to name the session. Anything that would open sockets or files is refused.
 */
import { parse as parseShellWords } from 'shell-quote';
import { parseArgv, ArgvError } from './argv.js';
import type { MachineConfig } from '../machine/config.js';
import { parseKeyVal } from '../base/keyval.js';
import type { TraceOptions } from '../base/trace.js';

/** A session's -trace may name patterns only: events= and file= would open files on the server. */
function refuseTraceFiles(value: string | undefined): void {
  if (value === undefined) return;
  for (const [k] of parseKeyVal(value, 'enable').pairs)
    if (k === 'events' || k === 'file') throw new Error(`-trace ${value}: '${k}=' is not allowed in a session`);
}
import type { Limits } from '../base/limits.js';

export interface SessionRequest {
  config: MachineConfig;
  /** `-trace PATTERN` (patterns only: no files); records go to the session's log. */
  trace?: TraceOptions;
  /** Client-chosen session id (for the QMP path), if any. */
  id?: string;
  /** `work-budget=UNITS` / `request-time=SECONDS`: a smaller per-request budget than the service's. */
  budget?: { requestWorkUnits?: number; requestWallMs?: number };
}

/** Words of a session line that set its budget, and the Limits field each sets (and its scale). */
const BUDGET_WORDS = {
  'work-budget': { field: 'requestWorkUnits', scale: 1 },
  'request-time': { field: 'requestWallMs', scale: 1000 },
} as const;

/**
 * The service's limits with a session's budget applied: a session may only lower the budget (0
 * or a missing value keeps the service's).
 */
export function sessionLimits(service: Limits, budget: SessionRequest['budget']): Limits {
  const narrow = (own: number | undefined, max: number): number => (!own ? max : !max ? own : Math.min(own, max));
  return {
    ...service,
    requestWorkUnits: narrow(budget?.requestWorkUnits, service.requestWorkUnits),
    requestWallMs: narrow(budget?.requestWallMs, service.requestWallMs),
  };
}

const MACHINE_OPTIONS = new Set([
  '-machine',
  '-M',
  '-m',
  '-smp',
  '-cpu',
  '-device',
  '-net',
  '-nic',
  '-nodefaults',
  '-accel',
  '-display',
  '-audio',
  '-name',
  '-trace',
]);

/**
 * Split into words as a POSIX shell does (quotes, backslashes), with shell-quote, but without
 * expansion: `$NAME` and glob characters stay as written. A shell operator (`;`, `|`, `&`, `<`,
 * `>`, parentheses) or a `#` comment has no meaning here and is refused (Error: quote it).
 */
export function splitWords(text: string): string[] {
  const out: string[] = [];
  for (const entry of parseShellWords(text, (name) => `$${name}`)) {
    if (typeof entry === 'string') out.push(entry);
    else if ('pattern' in entry) out.push(entry.pattern);
    else if ('op' in entry) throw new Error(`unexpected '${entry.op}' in the options (quote it)`);
    else throw new Error(`unexpected '#${entry.comment}' in the options (quote the '#')`);
  }
  return out;
}

export const SESSION_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Parse session options; `defaults` are applied first and may be overridden (a -machine given
 * here replaces the default machine and its devices). Throws Error with a one-line reason.
 */
export function parseSessionOptions(words: string[], defaults: string[]): SessionRequest {
  let id: string | undefined;
  const budget: NonNullable<SessionRequest['budget']> = {};
  const opts: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const eq = w.indexOf('=');
    const budgetWord = eq > 0 ? BUDGET_WORDS[w.slice(0, eq) as keyof typeof BUDGET_WORDS] : undefined;
    if (budgetWord) {
      const text = w.slice(eq + 1);
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n) || n < 0)
        throw new Error(`${w.slice(0, eq)}: expected a non-negative number, got '${text}'`);
      budget[budgetWord.field] = n * budgetWord.scale;
      continue;
    }
    if (w.startsWith('id=')) {
      id = w.slice(3);
      if (!SESSION_ID_RE.test(id))
        throw new Error(`invalid session id '${id}' (letters, digits, '_', '.', '-'; at most 64)`);
      continue;
    }
    const flag = w.startsWith('--') ? w.slice(1) : w;
    if (!MACHINE_OPTIONS.has(flag))
      throw new Error(
        `option '${w}' is not allowed here (allowed: ${[...MACHINE_OPTIONS].join(' ')}, id=NAME, work-budget=UNITS, request-time=SECONDS)`,
      );
    opts.push(flag);
    if (flag === '-trace') refuseTraceFiles(words[i + 1]);
    if (flag !== '-nodefaults') {
      const v = words[++i];
      if (v === undefined) throw new Error(`${w}: requires an argument`);
      opts.push(v);
    }
  }
  // A machine given by the client replaces the default machine *and* its default devices.
  const base = opts.some((o) => o === '-machine' || o === '-M') ? [] : defaults;
  try {
    const parsed = parseArgv([...base, ...opts], { defaultMachine: true });
    const request: SessionRequest = { config: parsed.machine, id, trace: parsed.trace };
    if (Object.keys(budget).length) request.budget = budget;
    return request;
  } catch (e) {
    if (e instanceof ArgvError)
      throw new Error(e.hint ? `${e.message} (${e.hint.split('\n')[0]})` : e.message, { cause: e });
    throw e;
  }
}

/** `?machine=virt,iommu=smmuv3&device=edu&device=pci-testdev&m=1G&id=job1` → option words. */
export function queryToWords(q: URLSearchParams): string[] {
  const words: string[] = [];
  for (const [k, v] of q) {
    if (k === 'id' || k in BUDGET_WORDS) words.push(`${k}=${v}`);
    else if (SESSION_ID_RE.test(k)) words.push(`-${k}`, v);
  }
  return words;
}
