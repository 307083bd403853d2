/**
 * The bulk qtest commands — `read`, `b64read`, `write`, `b64write`, `memset` — moving data between
 * guest memory and the line's bytes in pieces of 48 KiB: RAM is read, encoded, decoded and
 * written piece by piece (the cost per byte does not depend on the size, and no payload becomes
 * one string; a long payload is read from the chunks it arrived in, payload.ts); device memory is
 * read or written in one access, as QEMU does, so device accesses split exactly as there. Where
 * the target runs long requests in slices (the service), transfers past one piece and fills past
 * 1 MiB run as jobs that yield between pieces, with the same accesses and replies.
 */
import { decodeBase64Payload, decodeWriteHexPayload, isCanonicalBase64Payload } from './codecs.js';
import { PENDING, QemuWouldAbort, WROTE } from './grammar.js';
import type { Args, QtestSessionState, Reply } from './grammar.js';
import type { ReplyWriter } from './reply.js';
import type { Staged } from './staged.js';
import type { QtestJobs, QtestMemory } from './target.js';
import type { MemTxAttrs, MemTxResult } from '../../memory/types.js';

/** Bulk transfers go through pieces of this size (a multiple of 3 and of 8). */
const PIECE = 48 * 1024;
const PIECE_BIG = BigInt(PIECE);

/** The reply to a failed access when the command reports them (attributes, or the opt-in). */
export function txFailed(r: MemTxResult): string {
  // QEMU's MemTxResult bits: MEMTX_ERROR 0x1, MEMTX_DECODE_ERROR 0x2.
  return `ERR memory access failed 0x${r === 'decode-error' ? 2 : 1}`;
}

/** Transfers up to this size run at once even where long requests run in slices (they are short). */
const SLICE_MIN = PIECE;
/**
 * In slices, device memory is accessed in parts ending at multiples of this (a power of two: no
 * access of at most 8 bytes is split differently from one big access): a part is at most 1024
 * register dispatches, so a slice (work-meter.ts: SLICE_MS) can end on time.
 */
const DEVICE_PART = 4096;
const DEVICE_PART_BIG = BigInt(DEVICE_PART);

/** The piece buffer bulk transfers stage guest memory in. */
const PIECE_BUF = Buffer.allocUnsafeSlow(PIECE);

/**
 * Read [addr, addr+size) and hand it to `emit` in pieces. RAM is staged piece by piece (a RAM read
 * cannot fail and has no side effects, so pieces are exact); anything else is read in one access,
 * as QEMU does, so device accesses split exactly as they would there. Returns the access result.
 */
function readInPieces(a: Args, addr: bigint, size: number, emit: (buf: Buffer, n: number) => void, piece = PIECE): MemTxResult | undefined {
  const mem = a.memory;
  if (mem.isRam?.(addr, BigInt(size))) {
    for (let off = 0; off < size; off += piece) {
      const n = Math.min(piece, size - off);
      mem.readBytes(addr + BigInt(off), PIECE_BUF.subarray(0, n), a.attrs);
      emit(PIECE_BUF, n);
    }
    return undefined;
  }
  const whole = Buffer.alloc(size);
  const r = mem.readBytes(addr, whole, a.attrs);
  if (a.checkTx && r !== 'ok') return r;
  for (let off = 0; off < size; off += piece) {
    const n = Math.min(piece, size - off);
    emit(whole.subarray(off, off + n), n);
  }
  return undefined;
}

/**
 * RAM pieces of a read whose reply is produced as the peer takes it (QtestSessionState.streamJobs):
 * each piece's text is 64 KiB of hex or of base64 (half a reply slab), so every step hands the
 * link one piece and the runner's check between steps comes before the slab is needed again.
 */
const STREAM_PIECE_HEX = 32 * 1024;
const STREAM_PIECE_B64 = 48 * 1024;
/**
 * Reads up to this size run at once in the launcher, as before: their reply (≤ 2 MiB) is little
 * more than what the kernel's socket buffer and the endpoint's lead take, and waiting for a drain
 * costs them more than it saves (server CPU when streamed: 1.35× for a 64 KiB hex `read`, 1.3×
 * for a 1 MiB `b64read`, whose wall time doubled).
 */
const STREAM_MIN = 1 << 20;

/** Where a read of `size` bytes runs as a job: the target's slices, or a stream past STREAM_MIN. */
function readJobs(s: QtestSessionState, size: number): QtestJobs | undefined {
  if (s.target.jobs) return size > SLICE_MIN ? s.target.jobs : undefined;
  return size > STREAM_MIN ? s.streamJobs : undefined;
}

/** A sliced read encodes about this many bytes of reply per slice (encoding is not metered work). */
const EMIT_PIECES_PER_SLICE = 24;

/**
 * readInPieces as a job in slices (the service: target.jobs): the same accesses and reply bytes,
 * with the event loop running between pieces. Device memory is read in DEVICE_PART-aligned parts: the
 * memory system splits an access at its own alignment only, so the device accesses are the same
 * as in one read. The reply is written once every access is done (a failed one can still be
 * answered with ERR), in pieces, as the job goes.
 */
function readSliced(
  a: Args,
  s: QtestSessionState,
  jobs: QtestJobs,
  size: number,
  emit: (buf: Buffer, n: number) => void,
  ramPiece: number,
): Reply {
  const mem = a.memory;
  const attrs = a.attrs;
  const checkTx = a.checkTx;
  const addr = a.big(0);
  function* steps(): Generator<boolean | void, typeof WROTE | string> {
    if (mem.isRam?.(addr, BigInt(size))) {
      for (let off = 0; off < size; off += ramPiece) {
        const n = Math.min(ramPiece, size - off);
        mem.readBytes(addr + BigInt(off), PIECE_BUF.subarray(0, n), attrs);
        emit(PIECE_BUF, n);
        yield;
      }
      return WROTE;
    }
    const whole = Buffer.alloc(size);
    let result: MemTxResult = 'ok';
    for (let off = 0; off < size; ) {
      const cur = BigInt.asUintN(64, addr + BigInt(off));
      const n = Math.min(DEVICE_PART - Number(cur % DEVICE_PART_BIG), size - off);
      const r = mem.readBytes(cur, whole.subarray(off, off + n), attrs);
      if (r !== 'ok') result = r; // the last failure, as one access reports it
      off += n;
      yield;
    }
    if (checkTx && result !== 'ok') return txFailed(result);
    for (let off = 0, k = 1; off < size; off += PIECE, k++) {
      emit(whole.subarray(off, off + PIECE), Math.min(PIECE, size - off));
      if (k % EMIT_PIECES_PER_SLICE === 0) yield true;
    }
    return WROTE;
  }
  jobs.run({ steps: steps(), streams: true, done: (r) => s.finish(r), settle: () => s.finish(undefined) });
  return PENDING;
}

export function readHex(a: Args, s: QtestSessionState, out: ReplyWriter): Reply {
  const addr = a.big(0);
  const size = a.num(1);
  if (size === 0) throw new QemuWouldAbort('read: size must not be 0');
  // The reply starts only once a failed non-RAM access can still be answered with ERR.
  let started = false;
  const emit = (buf: Buffer, n: number): void => {
    if (!started) {
      out.beginBulk(5);
      out.text('OK 0x');
    }
    started = true;
    out.hex(buf, 0, n);
  };
  const jobs = readJobs(s, size);
  if (jobs) return readSliced(a, s, jobs, size, emit, s.target.jobs ? PIECE : STREAM_PIECE_HEX);
  const r = readInPieces(a, addr, size, emit);
  if (r !== undefined) return txFailed(r);
  return WROTE;
}

export function readBase64(a: Args, s: QtestSessionState, out: ReplyWriter): Reply {
  const addr = a.big(0);
  const size = a.num(1);
  if (size === 0) return 'OK ';
  let started = false;
  const emit = (buf: Buffer, n: number): void => {
    if (!started) {
      out.beginBulk(3);
      out.text('OK ');
    }
    started = true;
    out.base64(buf, 0, n);
  };
  const jobs = readJobs(s, size);
  if (jobs) return readSliced(a, s, jobs, size, emit, s.target.jobs ? PIECE : STREAM_PIECE_B64);
  const r = readInPieces(a, addr, size, emit);
  if (r !== undefined) return txFailed(r);
  return WROTE;
}

/** Fills buf[0, n) with bytes [offset, offset+n) of the data to write (n ≤ PIECE). */
type Fill = (buf: Uint8Array, offset: number, n: number) => void;
/** Bytes [offset, offset+n) of the data to write (n ≤ PIECE), valid until the next call. */
type Source = (offset: number, n: number) => Uint8Array;

/** A Source that fills the piece buffer. */
function filled(fill: Fill): Source {
  return (offset, n) => {
    const buf = PIECE_BUF.subarray(0, n);
    fill(buf, offset, n);
    return buf;
  };
}

/**
 * Write `size` bytes produced piece by piece by `fill`: RAM in pieces; anything else at once, as
 * QEMU does, or, in slices, in DEVICE_PART-aligned parts (the memory system splits an access at its
 * own alignment only, so the device accesses are the same as in one write; the result is the
 * last failure, as one access reports it). Yields between pieces; returns the reply.
 */
function* writeSteps(a: Args, addr: bigint, size: number, data: Source, sliced: boolean): Generator<void | boolean, string> {
  const mem = a.memory;
  const attrs = a.attrs;
  const checkTx = a.checkTx;
  if (mem.isRam?.(addr, BigInt(size))) {
    mem.prepareRam?.(addr, BigInt(size)); // all or nothing: the memory budget refuses before the first piece
    for (let off = 0; off < size; off += PIECE) {
      const n = Math.min(PIECE, size - off);
      mem.writeBytes(addr + BigInt(off), data(off, n), attrs);
      yield;
    }
    return 'OK';
  }
  if (!sliced) {
    const whole = new Uint8Array(size);
    for (let off = 0; off < size; off += PIECE) whole.set(data(off, Math.min(PIECE, size - off)), off);
    const r = mem.writeBytes(addr, whole, attrs);
    return checkTx && r !== 'ok' ? txFailed(r) : 'OK';
  }
  let result: MemTxResult = 'ok';
  for (let off = 0; off < size; ) {
    const cur = BigInt.asUintN(64, addr + BigInt(off));
    const n = Math.min(DEVICE_PART - Number(cur % DEVICE_PART_BIG), size - off);
    const r = mem.writeBytes(cur, data(off, n), attrs);
    if (r !== 'ok') result = r;
    off += n;
    yield;
  }
  return checkTx && result !== 'ok' ? txFailed(result) : 'OK';
}

/** Run a job's steps to their end now (no slicing): its result. */
function runSteps<T>(steps: Generator<void | boolean, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Write in pieces: at once, or as a job in slices where the target has them (the service). */
function writeInPieces(a: Args, s: QtestSessionState, size: number, data: Source, after?: () => void): Reply {
  const addr = a.big(0);
  const jobs = s.target.jobs;
  if (!jobs || size <= SLICE_MIN) {
    try {
      return runSteps(writeSteps(a, addr, size, data, false));
    } finally {
      after?.();
    }
  }
  const finish = (r: string | undefined): void => {
    after?.();
    s.finish(r);
  };
  jobs.run({ steps: writeSteps(a, addr, size, data, true), done: (r) => finish(r), settle: () => finish(undefined) });
  return PENDING;
}

/** Write a payload decoded as it arrived (long-line.ts): its bytes are read where they lie. */
function writeStaged(a: Args, s: QtestSessionState, size: number, staged: Staged): Reply {
  const view: Source = (offset, n) => staged.view(offset, n, PIECE_BUF);
  return writeInPieces(a, s, size, view, () => staged.release());
}

export function writeHex(a: Args, s: QtestSessionState): Reply {
  const size = a.num(1);
  const staged = a.staged(2);
  if (staged) return writeStaged(a, s, size, staged);
  const data = a.payload(2);
  return writeInPieces(a, s, size, filled((out, offset, n) => decodeWriteHexPayload(data, offset, out.subarray(0, n))));
}

export function writeBase64(a: Args, s: QtestSessionState): Reply {
  const size = a.num(1);
  const staged = a.staged(2);
  if (staged) {
    const decoded = staged.decodedLength;
    if (decoded !== size) s.logNote(`b64write: data length mismatch (told ${size}, found ${decoded})\n`);
    return writeStaged(a, s, size, staged);
  }
  const text = a.payload(2);
  const len = text.length;
  if (isCanonicalBase64Payload(text)) {
    // Canonical text decodes 4 characters to 3 bytes everywhere: piece k of the data is
    // characters [4k·PIECE/3, …) of the text, decoded on its own.
    const pad = (text.byteAt(len - 1) === 61 ? 1 : 0) + (text.byteAt(len - 2) === 61 ? 1 : 0);
    const decoded = (len / 4) * 3 - pad;
    if (decoded !== size) s.logNote(`b64write: data length mismatch (told ${size}, found ${decoded})\n`);
    const fill: Fill = (out, offset, n) => {
      let have = 0;
      if (offset < decoded) {
        have = Math.min(n, decoded - offset);
        const from = (offset / 3) * 4;
        const to = Math.min(len, from + Math.ceil(n / 3) * 4);
        // At most PIECE/3·4 characters: a short-lived string well below V8's large-object
        // size, decoded natively.
        const chars = text.view(from, to);
        const str = Buffer.from(chars.buffer, chars.byteOffset, chars.length).toString('latin1');
        Buffer.from(out.buffer, out.byteOffset, n).write(str, 0, have, 'base64');
      }
      // Past the decoded bytes QEMU's buffer holds the rest of the text, a NUL, then heap
      // bytes (protocol/deviations.md: zeros here).
      for (let k = have; k < n; k++) {
        const at = offset + k;
        out[k] = at < len ? text.byteAt(at) : 0;
      }
    };
    return writeInPieces(a, s, size, filled(fill));
  }
  const { decodedLength, buffer } = decodeBase64Payload(text);
  if (decodedLength !== size) s.logNote(`b64write: data length mismatch (told ${size}, found ${decodedLength})\n`);
  const fill: Fill = (out, offset, n) => {
    const avail = Math.max(0, Math.min(n, buffer.length - offset));
    out.set(buffer.subarray(offset, offset + avail));
    out.fill(0, avail, n);
  };
  return writeInPieces(a, s, size, filled(fill));
}

/** A fill over anything but plain RAM whose access result matters: ordinary writes in pieces. */
function fillChecked(mem: QtestMemory, addr: bigint, size: bigint, byte: number, attrs: MemTxAttrs | undefined): MemTxResult {
  const buf = Buffer.alloc(PIECE, byte);
  let result: MemTxResult = 'ok';
  // Pieces end at PIECE-aligned addresses, as the memory system's own fill splits them.
  for (const [cur, n] of alignedParts(addr, size, PIECE_BIG)) {
    const r = mem.writeBytes(cur, buf.subarray(0, Number(n)), attrs);
    if (r !== 'ok' && result === 'ok') result = r;
  }
  return result;
}

/** The parts of [addr, addr + size) (wrapping at 2^64), each ending at a multiple of `step`. */
function* alignedParts(addr: bigint, size: bigint, step: bigint): Generator<[bigint, bigint]> {
  let cur = addr;
  let left = size;
  while (left > 0n) {
    const toBoundary = step - (cur % step);
    const n = left < toBoundary ? left : toBoundary;
    yield [cur, n];
    left -= n;
    cur = BigInt.asUintN(64, cur + n);
  }
}

export function memsetCmd(a: Args, s: QtestSessionState): Reply {
  const addr = a.big(0);
  const size = a.big(1);
  const r = a.nums[2];
  const pattern = r.big === undefined ? r.small % 256 : Number(r.big & 0xffn);
  const mem = a.memory;
  const ram = mem.isRam?.(addr, size) ?? false;
  // A fill of RAM is cheap (page by page, no buffer): any size QEMU accepts. Over device memory
  // every byte is a device access, so the transfer limit applies.
  if (size > BigInt(s.maxTransferBytes) && !ram) {
    throw new QemuWouldAbort(`memset: size ${size} exceeds the limit of ${s.maxTransferBytes} bytes`);
  }
  if (size === 0n) return 'OK';
  if (ram && pattern !== 0) mem.prepareRam?.(addr, size); // all or nothing: the memory budget refuses before any step
  const checked = a.checkTx && !ram;
  const attrs = a.attrs;
  const jobs = s.target.jobs;
  if (jobs && size > (ram ? FILL_STEP : DEVICE_PART_BIG)) {
    jobs.run({ steps: fillSteps(mem, addr, size, pattern, attrs, checked, ram), done: (r) => s.finish(r), settle: () => s.finish(undefined) });
    return PENDING;
  }
  if (checked) {
    const r = fillChecked(mem, addr, size, pattern, attrs);
    return r === 'ok' ? 'OK' : txFailed(r);
  }
  mem.fill(addr, size, pattern, attrs);
  return 'OK';
}

/**
 * A sliced memset fills RAM 1 MiB per step; device memory in DEVICE_PART parts (they divide the
 * memory system's own 1 MiB fill split), or with attributes one piece per step (fillChecked's
 * split), so the accesses are those of one fill. Fills of RAM up to this size (of device memory:
 * up to DEVICE_PART) run at once.
 */
const FILL_STEP = 1n << 20n;

/** memset as a job: FILL_STEP-aligned parts (each a whole number of the fills' own pieces). */
function* fillSteps(mem: QtestMemory, addr: bigint, size: bigint, byte: number, attrs: MemTxAttrs | undefined, checked: boolean, ram: boolean): Generator<void | boolean, string> {
  const step = checked ? PIECE_BIG : ram ? FILL_STEP : DEVICE_PART_BIG;
  let result: MemTxResult = 'ok';
  for (const [cur, n] of alignedParts(addr, size, step)) {
    if (checked) {
      const r = fillChecked(mem, cur, n, byte, attrs);
      if (r !== 'ok' && result === 'ok') result = r;
    } else mem.fill(cur, n, byte, attrs);
    // A fill of untouched RAM with zeros or of unassigned space is not metered: end the slice.
    yield true;
  }
  return result === 'ok' ? 'OK' : txFailed(result);
}

