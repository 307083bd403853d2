/**
 * The one place tests and benchmarks start qtestd from, and how they talk to it:
 *
 *   - the drop-in (bin/qemu-system-aarch64, cold) or the QEMU oracle, listening on UNIX sockets:
 *     launchClient() gives the typed src/client QtestClient + QmpClient; launch() (launch.ts)
 *     gives the raw, IRQ-ordered line view the differential tests compare byte for byte;
 *   - the drop-in started libqtest's way (we listen, it dials in), cold or through the warm shim
 *     of a private install (warm-install.ts): startDialIn();
 *   - the service (bin/qtestd): startQtestd().
 *
 * Raw clients stay raw where the exact bytes are the point (LineClient, QtestLines).
 */
import { QmpClient } from '../../src/client/qmp-client.js';
import { QtestClient } from '../../src/client/qtest-client.js';
import { socketTransport } from '../../src/client/transport.js';
import { QTESTD_BINARY } from './paths.js';
import { startServerSockets } from './processes.js';
import type { ExitStatus } from './processes.js';

export { bytesHex, hex, hex16, hexU64 } from './bytes.js';
export { connectLines, LineClient } from './line-client.js';
export type { CloseKind } from './line-client.js';
export { DIST, QTESTD_BINARY, QTESTD_SERVICE_BINARY, REPO_ROOT } from './paths.js';
export {
  Child,
  connectWithRetry,
  describeExit,
  LaunchError,
  sleep,
  spawnChild,
  startDialIn,
  startServerSockets,
  waitFor,
  within,
} from './processes.js';
export type { DialIn, ExitStatus, ServerSockets } from './processes.js';
export { httpGet, QtestdProcess, startQtestd, TEST_MACHINE_ARGS } from './service-process.js';
export type { ExitInfo, ServiceOptions } from './service-process.js';
export { alive, daemonPid, exeOf, findCc, killQuietly, makeInstall, processState } from './warm-install.js';
export type { Install } from './warm-install.js';

/** The machine most sessions use: the virt board with GICv3 and the SMMU. */
export const VIRT_SMMU_ARGS: readonly string[] = [
  '-machine',
  'virt,acpi=off,gic-version=3,iommu=smmuv3',
  '-cpu',
  'max',
  '-smp',
  '1',
  '-m',
  '512',
  '-net',
  'none',
];

export interface TypedInstance {
  qtest: QtestClient;
  /** the QMP socket path (nothing connected yet unless `qmp` was asked for) */
  qmpPath: string;
  /** negotiated QMP client, when `qmp: true` */
  qmp: QmpClient | null;
  stderr(): string;
  /** SIGTERM, wait, close the clients; resolves with the exit status */
  stop(graceMs?: number): Promise<ExitStatus>;
}

/**
 * Start the drop-in (or `binary`) with `args` and connect the typed clients. With `qmp: true` the
 * QMP client is connected and capabilities negotiated; otherwise connect to `qmpPath` later.
 * Throws LaunchError (with stderr and exit status) when it does not come up.
 */
export async function launchClient(opts: {
  args: readonly string[];
  qmp?: boolean;
  binary?: string;
  env?: NodeJS.ProcessEnv;
}): Promise<TypedInstance> {
  const s = await startServerSockets({
    binary: opts.binary ?? QTESTD_BINARY,
    args: opts.args,
    connectQmp: opts.qmp === true,
    env: opts.env,
  });
  const qtest = new QtestClient(socketTransport(s.qtest));
  let qmp: QmpClient | null = null;
  if (s.qmp) {
    qmp = new QmpClient(socketTransport(s.qmp));
    try {
      await qmp.negotiate();
    } catch (e) {
      await s.teardown();
      throw e;
    }
  }
  return {
    qtest,
    qmpPath: s.qmpPath,
    qmp,
    stderr: () => s.child.stderr(),
    stop: async (graceMs?: number) => {
      const st = await s.teardown(graceMs);
      qtest.close();
      qmp?.close();
      return st;
    },
  };
}
