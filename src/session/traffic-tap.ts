/**
 * A session's recent qtest traffic for the inspector's live feed (x-qtestd-traffic,
 * docs/inspector.md): off until the first read, then the last RING_LINES request and reply lines
 * (each cut at MAX_LINE characters). The service wraps every qtest connection's endpoint and link
 * with tapEndpoint/tapLink; while the tap is off they cost one boolean test per chunk.
 */
import { endInput } from '../protocol/link.js';
import type { Endpoint, Link } from '../protocol/link.js';

const RING_LINES = 1000;
const MAX_LINE = 240;

export interface TrafficLine {
  seq: number;
  /** '>' request, '<' reply or IRQ line. */
  dir: '>' | '<';
  text: string;
}

export class TrafficTap {
  /** Recording; set by the first read. */
  active = false;
  private readonly ring: TrafficLine[] = [];
  private nextSeq = 1;
  private readonly partial = { '>': '', '<': '' };

  add(dir: '>' | '<', data: string): void {
    let start = 0;
    for (let nl = data.indexOf('\n'); nl >= 0; nl = data.indexOf('\n', start)) {
      this.push(dir, this.partial[dir] + data.slice(start, Math.min(nl, start + MAX_LINE)));
      this.partial[dir] = '';
      start = nl + 1;
    }
    if (start < data.length && this.partial[dir].length < MAX_LINE)
      this.partial[dir] = (this.partial[dir] + data.slice(start, start + MAX_LINE)).slice(0, MAX_LINE);
  }

  private push(dir: '>' | '<', text: string): void {
    this.ring.push({ seq: this.nextSeq++, dir, text: text.slice(0, MAX_LINE) });
    if (this.ring.length > RING_LINES) this.ring.shift();
  }

  /** Lines after `after` (a seq from an earlier answer); turns recording on. */
  since(after: number): { next: number; started: boolean; lines: TrafficLine[] } {
    const started = !this.active;
    this.active = true;
    return { next: this.nextSeq - 1, started, lines: this.ring.filter((l) => l.seq > after) };
  }
}

/** The endpoint with its input copied to the tap while it records. */
export function tapEndpoint(ep: Endpoint, tap: TrafficTap): Endpoint {
  return {
    input: (chunk) => {
      if (tap.active) tap.add('>', chunk.toString('latin1'));
      ep.input(chunk);
    },
    drained: () => ep.drained(),
    end: () => ep.end(),
    inputEnded: (done) => endInput(ep, done),
  };
}

/** The link with its output copied to the tap while it records. */
export function tapLink(link: Link, tap: TrafficTap): Link {
  return {
    write: (text) => {
      if (tap.active) tap.add('<', text);
      return link.write(text);
    },
    writeBytes: (data) => {
      if (tap.active) tap.add('<', data.toString('latin1'));
      return link.writeBytes(data);
    },
    pause: () => link.pause(),
    resume: () => link.resume(),
    close: () => link.close(),
  };
}
