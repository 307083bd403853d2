/**
 * Run one qtest session on qtestd and on the oracle (concurrently, same argv) and compare every
 * reply line byte for byte.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeExit, launch, LaunchError, NOT_A_DEVICE } from '../launch.js';
import type { Instance, TargetName } from '../launch.js';
import { escapeLine, serializeTranscript } from './transcript.js';

export interface SessionResult {
  target: TargetName;
  replies: string[][];
  done: boolean;
  exit: string;
  exitOk: boolean;
  stderr: string;
}

export interface Mismatch {
  index: number;
  request: string;
  qtestd: string[];
  oracle: string[];
}

/** Run `requests` on one target. */
export async function runSession(
  target: TargetName,
  args: readonly string[],
  requests: readonly string[],
  timeoutMs = 60000,
): Promise<SessionResult> {
  const inst: Instance = await launch({ target, args });
  const { replies, done } = await inst.qtest.batch(requests, timeoutMs);
  const st = await inst.teardown();
  return {
    target,
    replies,
    done,
    exit: describeExit(st),
    exitOk: st.code === 0 && !st.signal && !st.killed,
    stderr: inst.stderr(),
  };
}

/** Why qtestd cannot run `args` at all (a missing device/feature), or null if it starts. */
export async function qtestdMissingFeature(args: readonly string[]): Promise<string | null> {
  try {
    const i = await launch({ target: 'qtestd', args, qmp: false });
    await i.teardown();
    return null;
  } catch (e) {
    if (e instanceof LaunchError && (NOT_A_DEVICE.test(e.stderr) || /is not available in this build/.test(e.stderr))) {
      return `qtestd lacks it: "${e.stderr.trim().split('\n')[0]}"`;
    }
    throw e;
  }
}

export interface DiffOutcome {
  qtestd: SessionResult;
  oracle: SessionResult;
  mismatches: Mismatch[];
  /** total number of differing requests (mismatches holds the first few) */
  mismatchCount: number;
}

export async function diffSession(
  args: readonly string[],
  requests: readonly string[],
  keep = 8,
): Promise<DiffOutcome> {
  const [q, o] = await Promise.all([runSession('qtestd', args, requests), runSession('oracle', args, requests)]);
  const mismatches: Mismatch[] = [];
  let mismatchCount = 0;
  for (let i = 0; i < requests.length; i++) {
    const a = q.replies[i]!;
    const b = o.replies[i]!;
    if (a.length !== b.length || a.some((l, k) => l !== b[k])) {
      mismatchCount++;
      if (mismatches.length < keep) mismatches.push({ index: i, request: requests[i]!, qtestd: a, oracle: b });
    }
  }
  return { qtestd: q, oracle: o, mismatches, mismatchCount };
}

const show = (ls: string[]) => (ls.length ? ls.map((l) => JSON.stringify(l)).join(' + ') : '(no reply)');

/** Human-readable report of a failed comparison; writes the session (with oracle replies) to a file. */
export function describeOutcome(
  label: string,
  seed: number | null,
  args: readonly string[],
  requests: readonly string[],
  d: DiffOutcome,
): string {
  const lines: string[] = [];
  lines.push(
    `${label}${seed !== null ? ` seed=${seed} (0x${seed.toString(16)})` : ''}: ${d.mismatchCount} of ${requests.length} requests differ`,
  );
  for (const m of d.mismatches) {
    lines.push(`  request #${m.index}: ${JSON.stringify(m.request)}`);
    const ctx = requests
      .slice(Math.max(0, m.index - 3), m.index)
      .map((r) => JSON.stringify(r))
      .join(', ');
    if (ctx) lines.push(`    after: ${ctx}`);
    lines.push(`    qtestd: ${show(m.qtestd)}`);
    lines.push(`    oracle: ${show(m.oracle)}`);
  }
  for (const r of [d.qtestd, d.oracle]) {
    if (!r.done) lines.push(`  ${r.target} stopped answering (${r.exit}); stderr: ${r.stderr.trim().slice(-600)}`);
    else if (!r.exitOk) lines.push(`  ${r.target} teardown: ${r.exit}; stderr: ${r.stderr.trim().slice(-600)}`);
  }
  try {
    const file = join(
      tmpdir(),
      `qtestd-diff-${label.replace(/[^A-Za-z0-9_.-]+/g, '_')}${seed !== null ? '-' + seed : ''}.txt`,
    );
    const ex = requests.map((req, i) => ({
      request: req,
      replies: d.oracle.replies[i] ?? [],
      comment: d.mismatches.some((m) => m.index === i)
        ? `MISMATCH qtestd: ${escapeLine(show(d.qtestd.replies[i] ?? []))}`
        : undefined,
    }));
    writeFileSync(
      file,
      serializeTranscript([`differential session ${label}, seed ${seed}; replies are the ORACLE's`], args, [], ex),
      'latin1',
    );
    lines.push(`  full session (oracle replies, mismatches annotated): ${file}`);
  } catch {
    /* best effort */
  }
  return lines.join('\n');
}
