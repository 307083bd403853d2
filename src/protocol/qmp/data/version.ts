/**
 * The QEMU version qtestd answers as (greeting, query-version, `info version`): 10.2.2, empty
 * package string — protocol/captures/qemu-10.2.2/qmp/greeting.raw and query-version.json.
 */
export const QEMU_VERSION = Object.freeze({ major: 10, minor: 2, micro: 2, package: '' });

/** Capabilities advertised in the greeting (we accept `enable: ["oob"]`). */
export const QMP_CAPABILITIES: readonly string[] = Object.freeze(['oob']);

/** query-target. */
export const TARGET_ARCH = 'aarch64';
