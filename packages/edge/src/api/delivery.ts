import {
  decodeBusMessage,
  liveSubject,
  socketIoEventFrame,
  type Bus,
  type BusMessageMeta,
  type BusSubscription,
  type History,
  type HistoryEvent,
  type HistoryRead,
} from "@calcbridge/protocol";
import type { Uws } from "../uws.js";
import type { Adapter, BroadcastOptions } from "../socketio/adapter.js";
import { MemoryHistory } from "../history/memory-history.js";
import { rawTopic } from "../topics.js";

const NO_EXCEPT: ReadonlySet<string> = new Set();
const NO_FLAGS = Object.freeze({});
const utf8 = new TextDecoder();

/** Live events kept per subject for the seam between a history read and live delivery. */
const RECENT_PER_SUBJECT = 512;

/** Counters of the delivery path (read by metrics). */
export interface DeliveryStats {
  /** Room events taken from the bus. */
  received: number;
  /** Bus messages that could not be decoded (dropped, counted). */
  malformed: number;
}

/** Told about each hand-off, for metrics (per event, never per client). */
export interface DeliveryObserver {
  delivered(protocol: "socketio" | "raw", frames: number, bytes: number): void;
  /** Seconds from the publisher's clock at publish to the hand-off here. */
  handoff(seconds: number): void;
}

interface Interest {
  count: number;
  sub: BusSubscription;
  /** Settles when the bus has registered `sub`. */
  ready: Promise<void>;
  /** JetStream history only: the latest live events, offset order. */
  recent?: HistoryEvent[];
  /** The recent buffer dropped events since this interest began. */
  overflowed?: boolean;
}

/**
 * Room events from the bus to local clients. A node holds a bus subscription
 * for a room's subject exactly while it has a local member of that room
 * (raw or Socket.IO): interest-based routing. With history, every event
 * carries its offset, and a returning client is caught up without a gap or
 * a duplicate at the seam.
 */
export class Delivery {
  readonly stats: DeliveryStats = { received: 0, malformed: 0 };
  private readonly interest = new Map<string, Interest>();

  constructor(
    private readonly app: Uws.TemplatedApp,
    private readonly bus: Bus,
    /** The Socket.IO main namespace's adapter, where API rooms are named by subject. */
    private readonly sioAdapter: () => Adapter,
    private readonly observer?: DeliveryObserver,
    readonly history?: History,
    private readonly subjectPrefix?: string,
  ) {}

  /** The highest offset this node has seen: where a new Socket.IO session starts. */
  currentOffset(): string | undefined {
    if (this.history instanceof MemoryHistory) return this.history.latest;
    return this.maxSeen === 0 ? undefined : String(this.maxSeen);
  }

  private maxSeen = 0;

  /** Whether this node holds the subject (has local members of its room). */
  has(subject: string): boolean {
    return this.interest.has(subject);
  }

  /**
   * A local member joined the room of `subject` (or a catch-up is about to
   * read it). Resolves once the bus has registered the subscription, so an
   * ack sent after it promises every later event.
   */
  acquire(subject: string): Promise<void> {
    const entry = this.interest.get(subject);
    if (entry !== undefined) {
      entry.count++;
      return entry.ready;
    }
    // With JetStream history the stream republishes each stored event, with
    // its sequence, on the live subject: subscribe there so offsets come along.
    const on =
      this.history?.kind === "jetstream" ? liveSubject(subject, this.subjectPrefix) : subject;
    const sub = this.bus.subscribe(on, (data, _s, _r, meta) => this.onMessage(subject, data, meta));
    const ready = this.bus.flush?.().catch(() => undefined) ?? Promise.resolve();
    const created: Interest = { count: 1, sub, ready };
    if (this.history?.kind === "jetstream") created.recent = [];
    this.interest.set(subject, created);
    return ready;
  }

  /** A local member left the room of `subject`. */
  release(subject: string): void {
    const entry = this.interest.get(subject);
    if (entry === undefined) return;
    if (--entry.count > 0) return;
    entry.sub.unsubscribe();
    this.interest.delete(subject);
  }

  /** Settles when the bus has registered the subject's subscription (at once if none is held). */
  ready(subject: string): Promise<void> {
    return this.interest.get(subject)?.ready ?? Promise.resolve();
  }

  /** Subjects this node is subscribed to. */
  subjects(): string[] {
    return [...this.interest.keys()];
  }

  /**
   * The events of `subject` after `since`, for a returning client. The caller
   * has acquired the subject first (so nothing published from now on is
   * missed) and must subscribe the client synchronously after this settles:
   * the result then joins the live stream with no gap and no duplicate.
   * Synchronous for the embedded history.
   *
   * A JetStream read stops at an end fixed when it starts, after the
   * subject's live subscription reached the server (both go over the bus's
   * connection, in order): what comes after that end arrives live, into the
   * subject's recent buffer until the client is subscribed.
   */
  catchUp(subject: string, since: string, limit: number): HistoryRead | Promise<HistoryRead> {
    const history = this.history;
    if (history === undefined) return { events: [], gap: true };
    if (history instanceof MemoryHistory) return history.readNow(subject, since, limit);
    return history.read(subject, since, limit).then((read) => this.seam(subject, since, read));
  }

  /**
   * `catchUp` of several subjects (a recovered session's rooms), for a
   * client that joins them all in one tick: every seam is taken when the
   * last read settles, so what arrived live for one subject while another
   * was still being read is not missed.
   */
  catchUpAll(
    subjects: readonly string[],
    since: string,
    limit: number,
  ): HistoryRead[] | Promise<HistoryRead[]> {
    const history = this.history;
    if (history === undefined || history instanceof MemoryHistory || subjects.length === 0) {
      return subjects.map((s) => this.catchUp(s, since, limit) as HistoryRead);
    }
    return Promise.all(subjects.map((s) => history.read(s, since, limit))).then((reads) =>
      reads.map((read, i) => this.seam(subjects[i]!, since, read)),
    );
  }

  /**
   * Append the live events the read could not see (JetStream): those after
   * its last event. They are the subject's offsets, as the read's are (the
   * stream sequence, carried live in `Nats-Sequence`).
   */
  private seam(subject: string, since: string, read: HistoryRead): HistoryRead {
    const entry = this.interest.get(subject);
    if (entry?.recent === undefined) return read;
    const last =
      read.events.length > 0 ? Number(read.events[read.events.length - 1]!.offset) : Number(since);
    const later = entry.recent.filter((e) => Number(e.offset) > last);
    const first = later[0];
    // Events older than the buffer's first were dropped from it; the read has
    // every one up to its end. Past that end the buffer lost some: tell, do not guess.
    const covered = read.end === undefined ? last : Math.max(last, Number(read.end));
    const hole =
      entry.overflowed === true &&
      first !== undefined &&
      Number(entry.recent[0]!.offset) > covered + 1;
    return { events: [...read.events, ...later], gap: read.gap || hole };
  }

  /**
   * One bus message: the body is the raw-API envelope, encoded once by the
   * publisher. Raw clients get it as is (with the offset spliced in when
   * JetStream assigned it); Socket.IO clients get it wrapped by concatenation
   * into `42["<type>",<envelope>(,"<offset>")]`. Only the small header is parsed.
   */
  private onMessage(subject: string, data: Uint8Array, meta: BusMessageMeta | undefined): void {
    let header;
    let body;
    try {
      ({ header, body } = decodeBusMessage(data));
    } catch {
      this.stats.malformed++;
      return;
    }
    if (header.kind !== "event" || typeof header.type !== "string") {
      this.stats.malformed++;
      return;
    }
    this.stats.received++;
    let offset: string | undefined = typeof header["o"] === "string" ? header["o"] : undefined;
    let raw: Uint8Array | string = body;
    if (meta?.sequence !== undefined && body.byteLength > 1) {
      // The stream's sequence is the offset: splice it into the envelope, the
      // last byte of which is its closing brace. No parse, one copy per event.
      offset = String(meta.sequence);
      if (meta.sequence > this.maxSeen) this.maxSeen = meta.sequence;
      raw = `${utf8.decode(body.subarray(0, body.byteLength - 1))},"offset":${JSON.stringify(offset)}}`;
      const entry = this.interest.get(subject);
      if (entry?.recent !== undefined) {
        entry.recent.push({ offset, subject, type: header.type, envelope: raw });
        if (entry.recent.length > RECENT_PER_SUBJECT) {
          entry.recent.shift();
          entry.overflowed = true;
        }
      }
    }
    const topic = rawTopic(subject);
    this.app.publish(topic, raw, false);
    const observer = this.observer;
    if (observer !== undefined) {
      const n = this.app.numSubscribers(topic);
      const size = typeof raw === "string" ? Buffer.byteLength(raw) : raw.byteLength;
      if (n > 0) observer.delivered("raw", n, n * size);
    }
    const members = this.sioAdapter().rooms.get(subject);
    if (members !== undefined) {
      const envelope = typeof raw === "string" ? raw : utf8.decode(raw);
      const frame = socketIoEventFrame(header.type, envelope, "/", offset);
      const options: BroadcastOptions = {
        rooms: new Set([subject]),
        except: NO_EXCEPT,
        flags: NO_FLAGS,
      };
      this.sioAdapter().broadcastFrames([frame], options);
      observer?.delivered("socketio", members.size, members.size * Buffer.byteLength(frame));
    }
    const sent = header["t"];
    if (observer !== undefined && typeof sent === "number") {
      observer.handoff(Math.max(0, Date.now() - sent) / 1000);
    }
  }
}
