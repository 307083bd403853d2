/**
 * QEMU character-device specs for the sockets we open: the legacy `-qtest`/`-qmp` form
 * (`unix:PATH[,opts]`, `tcp:HOST:PORT[,opts]`, `stdio`, `none`) and `-chardev socket,...`
 * options, reduced to a typed address. Pure.
 */
import { lookup, parseBool, parseKeyVal } from '../base/keyval.js';

export type ChardevAddress =
  | { kind: 'unix'; path: string; server: boolean; wait: boolean }
  | { kind: 'tcp'; host: string; port: number; server: boolean; wait: boolean }
  | { kind: 'fd'; fd: number }
  | { kind: 'stdio' }
  | { kind: 'null' };

export class ChardevError extends Error {}

function flags(kv: ReturnType<typeof parseKeyVal>): { server: boolean; wait: boolean } {
  const serverText = lookup(kv, 'server');
  const server = serverText === undefined ? false : parseBool(serverText);
  if (server === undefined) throw new ChardevError(`Parameter 'server' expects 'on' or 'off'`);
  let wait = true;
  const waitText = lookup(kv, 'wait');
  if (waitText !== undefined) {
    const w = parseBool(waitText);
    if (w === undefined) throw new ChardevError(`Parameter 'wait' expects 'on' or 'off'`);
    wait = w;
  }
  if (kv.pairs.some(([k]) => k === 'nowait')) wait = false;
  return { server, wait };
}

/** Legacy syntax used by -qtest, -qmp, -serial, -monitor. */
export function parseLegacyChardev(spec: string): ChardevAddress {
  if (spec === 'stdio') return { kind: 'stdio' };
  if (spec === 'none' || spec === 'null') return { kind: 'null' };
  if (spec.startsWith('unix:')) {
    const kv = parseKeyVal(spec.slice(5), 'path');
    const path = kv.implied ?? lookup(kv, 'path');
    if (!path) throw new ChardevError(`Failed to parse chardev spec "${spec}"`);
    return { kind: 'unix', path, ...flags(kv) };
  }
  if (spec.startsWith('tcp:')) {
    const kv = parseKeyVal(spec.slice(4), 'host');
    const hostPort = kv.implied ?? '';
    const colon = hostPort.lastIndexOf(':');
    const host = colon >= 0 ? hostPort.slice(0, colon) : '';
    const port = Number(colon >= 0 ? hostPort.slice(colon + 1) : hostPort);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new ChardevError(`Failed to parse chardev spec "${spec}"`);
    return { kind: 'tcp', host: host === '' ? '0.0.0.0' : host, port, ...flags(kv) };
  }
  throw new ChardevError(`'${spec.split(':')[0]}' is not a valid char driver`);
}

/** `-chardev socket,id=X,...` (the backend name already removed from `kv`). */
export function parseSocketChardev(kv: ReturnType<typeof parseKeyVal>): ChardevAddress {
  const path = lookup(kv, 'path');
  const fd = lookup(kv, 'fd');
  const host = lookup(kv, 'host');
  const port = lookup(kv, 'port');
  if ([path, fd, host].filter((v) => v !== undefined).length > 1)
    throw new ChardevError(`None or one of 'path', 'fd' or 'host' option required.`);
  if (path !== undefined) return { kind: 'unix', path, ...flags(kv) };
  if (port !== undefined) {
    const p = Number(port);
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new ChardevError(`Parameter 'port' expects a port number`);
    return { kind: 'tcp', host: host ?? 'localhost', port: p, ...flags(kv) };
  }
  if (fd !== undefined && /^[0-9]+$/.test(fd)) return { kind: 'fd', fd: Number(fd) };
  throw new ChardevError(`Unable to parse FD number ${fd ?? ''}`);
}
