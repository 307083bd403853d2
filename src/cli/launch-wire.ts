/**
 * The wire format between the native shim (native/launcher.c) and the launch daemon: frames of
 * u32 length (LE, including the type byte), a one-letter type, and a payload; the launch request is
 * NUL-separated text (`QTD1`, pid, cwd, argc, argv…, KEY=VALUE…). Pure.
 */

/** Version tag at the start of a launch request. */
const MAGIC = 'QTD1';
/** Largest frame accepted from a shim. */
export const MAX_REQUEST = 1 << 20;

export function frame(type: string, payload: Buffer | string = ''): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const out = Buffer.allocUnsafe(5 + body.length);
  out.writeUInt32LE(body.length + 1, 0);
  out.write(type, 4, 'latin1');
  body.copy(out, 5);
  return out;
}

/** Incremental frame reader. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly maxFrame: number) {}

  /** Append bytes; returns the complete frames. Throws on an oversized frame. */
  push(chunk: Buffer): Array<{ type: string; payload: Buffer }> {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Array<{ type: string; payload: Buffer }> = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32LE(0);
      if (len === 0 || len > this.maxFrame) throw new Error(`bad frame length ${len}`);
      if (this.buf.length < 4 + len) break;
      out.push({ type: String.fromCharCode(this.buf[4]!), payload: this.buf.subarray(5, 4 + len) });
      this.buf = this.buf.subarray(4 + len);
    }
    return out;
  }
}

export interface LaunchRequest {
  pid: number;
  cwd: string;
  argv: string[];
  env: Record<string, string>;
}

export function parseRequest(payload: Buffer): LaunchRequest {
  const parts = payload.toString('utf8').split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  if (parts[0] !== MAGIC) throw new Error(`unknown launch request version ${JSON.stringify(parts[0])}`);
  const pid = Number(parts[1]);
  const cwd = parts[2] || '/';
  const argc = Number(parts[3]);
  if (!Number.isInteger(argc) || argc < 0 || 4 + argc > parts.length) throw new Error('malformed launch request');
  const argv = parts.slice(4, 4 + argc);
  const env: Record<string, string> = {};
  for (const kv of parts.slice(4 + argc)) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return { pid, cwd, argv, env };
}

/**
 * A launch request frame as the shim builds it (native/launcher.c build_request): the inverse of
 * parseRequest. The daemon's workers run samples of it through the launch path to warm it up.
 */
export function requestFrame(req: LaunchRequest): Buffer {
  const env = Object.entries(req.env).map(([k, v]) => `${k}=${v}`);
  const strings = [MAGIC, String(req.pid), req.cwd, String(req.argv.length), ...req.argv, ...env];
  return frame('L', Buffer.from(strings.map((x) => x + '\0').join(''), 'utf8'));
}
