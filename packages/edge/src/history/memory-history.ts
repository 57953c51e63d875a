import type { History, HistoryEvent, HistoryRead } from "@calcbridge/protocol";

/** Retention of the history, whatever keeps it. */
export interface HistoryLimits {
  /** Events older than this are dropped, in ms. @default 300000 */
  maxAgeMs: number;
  /** Events kept per room. @default 1000 */
  maxPerRoom: number;
  /** Bytes of envelopes kept in all. @default 67108864 */
  maxBytes: number;
}

export const DEFAULT_HISTORY_LIMITS: Readonly<HistoryLimits> = Object.freeze({
  maxAgeMs: 300_000,
  maxPerRoom: 1000,
  maxBytes: 64 * 1024 * 1024,
});

interface Stored extends HistoryEvent {
  seq: number;
  at: number;
  bytes: number;
}

interface RoomLog {
  events: Stored[];
  /** Highest offset this room lost to retention: a read since an older offset has a gap. */
  evictedUpTo: number;
}

/**
 * The embedded history: one global offset counter and a bounded log per room.
 * Offsets are assigned here, at publish, so the envelope is encoded once with
 * its offset in it.
 */
export class MemoryHistory implements History {
  readonly kind = "memory";
  private seq = 0;
  private readonly rooms = new Map<string, RoomLog>();
  /** Every stored event in offset order, for age and byte eviction across rooms. */
  private order: Stored[] = [];
  private head = 0;
  private bytes = 0;

  constructor(
    private readonly limits: Readonly<HistoryLimits> = DEFAULT_HISTORY_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The latest offset assigned. */
  get latest(): string {
    return String(this.seq);
  }

  /** Assign the next offset and keep the event; `encode` builds the envelope with that offset. */
  append(subject: string, type: string, encode: (offset: string) => string): HistoryEvent {
    const seq = ++this.seq;
    const offset = String(seq);
    const envelope = encode(offset);
    const event: Stored = {
      offset,
      subject,
      type,
      envelope,
      seq,
      at: this.now(),
      bytes: envelope.length,
    };
    let log = this.rooms.get(subject);
    if (log === undefined) {
      log = { events: [], evictedUpTo: 0 };
      this.rooms.set(subject, log);
    }
    log.events.push(event);
    this.order.push(event);
    this.bytes += event.bytes;
    while (log.events.length > this.limits.maxPerRoom) this.evictFront(log);
    this.evict();
    return event;
  }

  read(subject: string, since: string, limit: number): Promise<HistoryRead> {
    return Promise.resolve(this.readNow(subject, since, limit));
  }

  /** The same, synchronously: the embedded seam needs no waiting. */
  readNow(subject: string, since: string, limit: number): HistoryRead {
    this.evict();
    const after = Number(since);
    if (!Number.isSafeInteger(after) || after < 0) return { events: [], gap: true };
    // An offset from the future (another process's counter): nothing can be trusted.
    if (after > this.seq) return { events: [], gap: true };
    const log = this.rooms.get(subject);
    if (log === undefined) return { events: [], gap: false };
    const gap = log.evictedUpTo > after;
    const events: HistoryEvent[] = [];
    for (const e of log.events) {
      if (e.seq <= after) continue;
      if (events.length === limit) return { events, gap: true };
      events.push({ offset: e.offset, subject: e.subject, type: e.type, envelope: e.envelope });
    }
    return { events, gap };
  }

  async close(): Promise<void> {
    this.rooms.clear();
    this.order = [];
    this.head = 0;
    this.bytes = 0;
  }

  private evictFront(log: RoomLog): void {
    const e = log.events.shift();
    if (e === undefined) return;
    log.evictedUpTo = Math.max(log.evictedUpTo, e.seq);
    this.bytes -= e.bytes;
    e.bytes = 0; // marks it gone for the global order
  }

  /** Drop by age and total bytes, oldest first across rooms. */
  private evict(): void {
    const oldest = this.now() - this.limits.maxAgeMs;
    while (this.head < this.order.length) {
      const e = this.order[this.head]!;
      if (e.bytes !== 0 && e.at >= oldest && this.bytes <= this.limits.maxBytes) break;
      this.head++;
      if (e.bytes === 0) continue;
      const log = this.rooms.get(e.subject);
      if (log !== undefined && log.events[0] === e) this.evictFront(log);
      // An emptied log stays: its `evictedUpTo` is what tells a reader since
      // an older offset that it missed events (a missing log reads as "none").
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }
}
