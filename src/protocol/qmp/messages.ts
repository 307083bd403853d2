/**
 * QMP wire messages: the error type handlers throw, and builders for greeting, reply, error and
 * event objects (member order on the wire comes from the writer, not from these builders).
 */
import type { QmpErrorBody, QmpErrorClass, QmpEvent } from './host.js';
import { emptyJsonObject, type JsonObject, type JsonValue } from './json-value.js';
import { JsonTextWriter, writeJson } from './json-writer.js';

/** Thrown by handlers and checks; the endpoint's single error boundary turns it into a reply. */
export class QmpError extends Error {
  constructor(
    readonly errorClass: QmpErrorClass,
    readonly desc: string,
  ) {
    super(desc);
    this.name = 'QmpError';
  }

  static generic(desc: string): QmpError {
    return new QmpError('GenericError', desc);
  }

  static from(body: QmpErrorBody): QmpError {
    return new QmpError(body.class, body.desc);
  }
}

export interface WallTime {
  seconds: number;
  microseconds: number;
}

/** One message as sent: compact JSON plus CRLF. */
export function frame(message: JsonValue): string {
  return writeJson(message) + '\r\n';
}

/**
 * One message as sent, in pieces of about `limit` characters: every piece but the last goes to
 * `piece` as it is made; the rest (ending in CRLF, which is never split) is returned. A message
 * shorter than `limit` is returned whole and `piece` is not called.
 */
export function frameInPieces(message: JsonValue, limit: number, piece: (text: string) => void): string {
  const w = new JsonTextWriter(limit, piece);
  w.value(message);
  return w.text() + '\r\n';
}

export function greetingMessage(version: { major: number; minor: number; micro: number; package: string }, capabilities: readonly string[]): JsonObject {
  return {
    QMP: {
      version: { qemu: { major: version.major, minor: version.minor, micro: version.micro }, package: version.package },
      capabilities: [...capabilities],
    },
  };
}

export function returnMessage(value: JsonValue, id: JsonValue | undefined): JsonObject {
  const msg = emptyJsonObject();
  msg.return = value;
  if (id !== undefined) msg.id = id;
  return msg;
}

export function errorMessage(error: QmpErrorBody, id: JsonValue | undefined): JsonObject {
  const msg = emptyJsonObject();
  msg.error = { class: error.class, desc: error.desc };
  if (id !== undefined) msg.id = id;
  return msg;
}

export function eventMessage(event: QmpEvent, at: WallTime): JsonObject {
  const msg = emptyJsonObject();
  msg.event = event.event;
  if (event.data !== undefined) msg.data = event.data;
  msg.timestamp = { seconds: at.seconds, microseconds: at.microseconds };
  return msg;
}
