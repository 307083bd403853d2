/**
 * `podman kube play deploy/kubernetes.yaml`, unchanged, as a cluster would run it: the pod comes
 * up from the image `localhost/qtestd:latest`; podman publishes the container ports, on loopback
 * only (the manifest's hostIP); a qtest session is driven through them; each probe of the manifest
 * (startup, readiness, liveness) is run the way the kubelet runs an exec probe — its command
 * inside the container, success = exit 0 within timeoutSeconds — and readiness also fails while
 * the pod is full; `podman kube down` removes everything, also when a check failed.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import { LineClient, REPO_ROOT, sleep } from '../service/fixtures/harness.js';

export const KUBE_IMAGE = 'localhost/qtestd:latest';
const MANIFEST = join(REPO_ROOT, 'deploy', 'kubernetes.yaml');

type Run = (
  cmd: string,
  args: string[],
  timeoutMs?: number,
) => Promise<{ code: number | null; stdout: string; stderr: string }>;

interface Probe {
  command: string[];
  timeoutSeconds: number;
}

/** The exec probes of the manifest's container (our manifest writes each command as a JSON-style flow list). */
export function manifestProbes(
  yaml: string,
): Record<'startupProbe' | 'readinessProbe' | 'livenessProbe', Probe | undefined> {
  const probe = (name: string): Probe | undefined => {
    const at = yaml.indexOf(`${name}:`);
    if (at < 0) return undefined;
    const block = yaml.slice(at).split(/\n {10}\w/)[0]; // up to the next key at the probe's indentation
    const list = /command:\s*\[([^\]]*)\]/.exec(block)?.[1] ?? '';
    // YAML flow-sequence scalars: "double" (backslash escapes) or 'single' ('' is a quote)
    const command = [...list.matchAll(/"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'/g)].map((m) =>
      m[1] !== undefined ? (JSON.parse(`"${m[1]}"`) as string) : m[2].replace(/''/g, "'"),
    );
    const timeout = /timeoutSeconds: (\d+)/.exec(block);
    return command.length ? { command, timeoutSeconds: Number(timeout?.[1] ?? 1) } : undefined;
  };
  return {
    startupProbe: probe('startupProbe'),
    readinessProbe: probe('readinessProbe'),
    livenessProbe: probe('livenessProbe'),
  };
}

export async function kubePlay(t: Test, run: Run): Promise<void> {
  const yaml = readFileSync(MANIFEST, 'utf8');
  const down = () => run('podman', ['kube', 'down', MANIFEST], 120000);
  await down(); // a pod left by an earlier, interrupted run
  t.teardown(down);

  const play = await run('podman', ['kube', 'play', MANIFEST], 180000);
  t.equal(play.code, 0, `podman kube play deploy/kubernetes.yaml${play.code ? `: ${play.stderr}` : ''}`);
  if (play.code !== 0) return;
  // podman names the Deployment's pod <name>-pod-0 and its container <pod>-<container>
  const ps = await run('podman', ['ps', '--filter', 'pod=qtestd-pod-0', '--format', '{{.Names}}']);
  const name = ps.stdout.split('\n').find((n) => n === 'qtestd-pod-0-qtestd');
  t.ok(name, `the qtestd container runs (${ps.stdout.trim().replace(/\n/g, ', ')})`);
  if (!name) return;

  const probes = manifestProbes(yaml);
  const exec = async (p: Probe) => (await run('podman', ['exec', name, ...p.command], p.timeoutSeconds * 1000)).code;
  // startup: the kubelet retries every periodSeconds until it passes (failureThreshold bounds it)
  let started = false;
  for (let k = 0; k < 120 && !started; k++) {
    started = (await exec(probes.startupProbe!)) === 0;
    if (!started) await sleep(1000);
  }
  t.ok(started, 'startupProbe passes once the service listens');
  t.equal(await exec(probes.livenessProbe!), 0, 'livenessProbe passes');
  t.equal(await exec(probes.readinessProbe!), 0, 'readinessProbe passes while there is room');

  // podman publishes every containerPort; the manifest's hostIP keeps them on loopback
  const pod = (await run('podman', ['inspect', '--format', '{{.Pod}}', name])).stdout.trim();
  const published = (await run('podman', ['port', name])).stdout.trim().split('\n').filter(Boolean);
  t.ok(published.length > 0, `published: ${published.join(', ')}`);
  t.ok(
    published.every((l) => / -> 127\.0\.0\.1:\d+$/.test(l)),
    'on 127.0.0.1 only',
  );
  const portOf = (p: number): number =>
    Number(
      published
        .find((l) => l.startsWith(`${p}/tcp`))
        ?.split(':')
        .pop() ?? 0,
    );
  const ip = '127.0.0.1';
  if (!portOf(3737)) return;
  const c = await LineClient.socket(connect(portOf(3737), ip));
  t.equal(await c.request('#!qtestd id=kube -machine virt -device edu'), 'OK', 'a session through the published port');
  t.same(await c.pipeline(['endianness', 'readl 0x4010008000', 'clock_step 10']), [
    'OK little',
    'OK 0x0000000011e81234',
    'OK 10',
  ]);
  c.destroy();

  // readiness fails while the pod is full (--max-sessions): hold that many sessions open
  const max = Number(/"--max-sessions", "(\d+)"/.exec(yaml)?.[1] ?? 0);
  if (max > 0 && max <= 500) {
    const held: LineClient[] = [];
    for (let k = 0; k < max; k++) {
      const h = await LineClient.socket(connect(portOf(3737), ip));
      if ((await h.request('#!qtestd -machine none')) !== 'OK') break;
      held.push(h);
    }
    t.equal(held.length, max, `${max} sessions open`);
    t.not(await exec(probes.readinessProbe!), 0, 'readinessProbe fails at --max-sessions');
    t.equal(await exec(probes.livenessProbe!), 0, 'livenessProbe still passes');
    for (const h of held) h.destroy();
    let ready = false;
    for (let k = 0; k < 120 && !ready; k++) {
      ready = (await exec(probes.readinessProbe!)) === 0;
      if (!ready) await sleep(500);
    }
    t.ok(ready, 'readinessProbe passes again once sessions close');
  }

  const d = await down();
  t.equal(d.code, 0, 'podman kube down');
  const left = await run('podman', ['pod', 'ps', '--filter', `id=${pod}`, '--format', '{{.ID}}']);
  t.equal(left.stdout.trim(), '', 'no pod left behind');
}
