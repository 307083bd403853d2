/**
 * The contract between a transport (UNIX/TCP socket, WebSocket, in-process) and a protocol
 * endpoint. The endpoint writes through `write`/`writeBytes` (false = the peer is not draining:
 * stop producing until `drained()`), and asks the transport to stop/restart reading with
 * pause/resume.
 */

export interface Link {
  /** Send text (latin1 for qtest, UTF-8 for QMP is the transport's choice per endpoint). */
  write(text: string): boolean;
  /**
   * Send bytes as they are (qtest replies). The link owns `data` from now on: the caller never
   * writes into it again. A qtest reply may arrive in several pieces; its LF ends it.
   */
  writeBytes(data: Buffer): boolean;
  /**
   * Optional: everything given to writeBytes so far has left the process (handed to the kernel),
   * so the caller may write into those Buffers again. A link that cannot tell leaves it out (the
   * caller then never reuses a Buffer it handed over).
   */
  sent?(): boolean;
  /** Stop delivering input until resume(). */
  pause(): void;
  resume(): void;
  /** Close the connection after flushing what was written. */
  close(): void;
}

export interface Endpoint {
  /**
   * Bytes from the peer. `borrowed` (only for an endpoint with `acceptsBorrowed`): the chunk's
   * memory is reused once the call returns, so the endpoint copies whatever of it it keeps.
   */
  input(chunk: Buffer, borrowed?: boolean): void;
  /** The endpoint copies what it keeps of a borrowed chunk: a transport may lend it its read memory. */
  readonly acceptsBorrowed?: boolean;
  /** The transport's output buffer drained after write() returned false. */
  drained(): void;
  /** The peer closed the connection. */
  end(): void;
  /**
   * Optional: the peer ended its input (a half-close: it shuts its sending side and may still
   * read) — answer what it sent, then call `done` once the last reply is written (the transport
   * then closes). QEMU answers every line sent before the end of input. An endpoint without it
   * answers its input as it arrives, so the transport can close at once.
   */
  inputEnded?(done: () => void): void;
}

/** Tell `endpoint` the peer's input ended: `done` when it has answered it (at once without inputEnded). */
export function endInput(endpoint: Endpoint, done: () => void): void {
  if (endpoint.inputEnded) endpoint.inputEnded(done);
  else done();
}
