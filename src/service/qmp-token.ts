/**
 * QMP tokens: attaching to a session's QMP over WebSocket (`/qmp?session=ID&token=T`) needs the
 * token of that session, which only its creator knows. Knowing (or guessing) an id is not enough:
 * ids are short and often chosen (`id=job1`). The creator either chooses the token
 * (`qmp-token=T` on the `#!qtestd` line or in the /qtest URL query; 16 to 128 characters of
 * `A-Za-z0-9_-`) or, on a WebSocket, gets one issued in the handshake's `x-qtestd-qmp-token`
 * response header. The session's QMP UNIX socket (<run dir>/<id>.qmp, mode 0600 in a 0700 run
 * dir) needs none: the file system already limits it to the user. Tokens live with their session
 * object, so a later session that reuses the id has a token of its own.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

/** The option word / query key that carries a creator-chosen token. */
export const QMP_TOKEN_OPTION = 'qmp-token';
/** The WebSocket handshake response header that tells the creator its token. */
export const QMP_TOKEN_HEADER = 'x-qtestd-qmp-token';

const TOKEN_RE = /^[A-Za-z0-9_-]{16,128}$/;

/** A fresh token: 128 random bits, base64url (22 characters). */
export function newQmpToken(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * Take a `qmp-token=T` word out of a session's option words. Returns the remaining words and the
 * token (undefined when there was none), or a reason when the token is malformed.
 */
export function takeQmpToken(words: readonly string[]): { words: string[]; token?: string } | { error: string } {
  const rest: string[] = [];
  let token: string | undefined;
  for (const w of words) {
    if (!w.startsWith(QMP_TOKEN_OPTION + '=')) {
      rest.push(w);
      continue;
    }
    const t = w.slice(QMP_TOKEN_OPTION.length + 1);
    if (!TOKEN_RE.test(t)) return { error: `${QMP_TOKEN_OPTION} must be 16 to 128 characters of A-Z a-z 0-9 _ -` };
    token = t;
  }
  return token === undefined ? { words: rest } : { words: rest, token };
}

/** The tokens of the sessions one host serves, keyed by the session object. */
export class QmpTokens {
  private readonly tokens = new WeakMap<object, string>();

  /** A fresh token (to tell before the session exists). */
  fresh(): string {
    return newQmpToken();
  }

  /** Give `session` its token (`chosen`, or a fresh one); returns it. */
  issue(session: object, chosen?: string): string {
    const token = chosen ?? newQmpToken();
    this.tokens.set(session, token);
    return token;
  }

  /** Does `given` open `session`'s QMP? (Constant-time in the token's content.) */
  check(session: object, given: string | null | undefined): boolean {
    const want = this.tokens.get(session);
    if (want === undefined || !given) return false;
    const a = Buffer.from(want);
    const b = Buffer.from(given);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}
