/**
 * `qtestd`, the package entry: run the multi-session service in-process, or build single sessions.
 *
 *   import { QtestdService, defaultServiceOptions, DEFAULT_PLUGINS } from 'qtestd';
 *   const service = new QtestdService({ ...defaultServiceOptions(DEFAULT_PLUGINS, logger), tcp: { host: '127.0.0.1', port: 0 } });
 *   await service.start(); // service.addresses → ports and paths; await service.stop();
 *
 * The typed qtest/QMP clients live in `qtestd/client`. The drop-in binary is `qemu-system-aarch64`
 * (package bin), the service `qtestd`.
 */
export { QtestdService, defaultServiceOptions } from './service/service.js';
export type { ServiceOptions } from './service/service.js';
export { DEFAULT_PLUGINS } from './machine/default-plugins.js';
export type { MachinePlugins } from './machine/machine.js';
export { Session } from './session/session.js';
export type { SessionDeps } from './session/session.js';
export { parseArgv, ArgvError } from './config/argv.js';
export type { LaunchOptions } from './config/argv.js';
export { parseSessionOptions } from './config/session-options.js';
export type { SessionRequest } from './config/session-options.js';
export type { Logger } from './base/log.js';
export { silentLogger } from './base/log.js';
export type { Limits } from './base/limits.js';
export { DEFAULT_LIMITS } from './base/limits.js';
