import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type JetStreamManager,
  type StoredMsg,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import {
  DEFAULT_SUBJECT_PREFIX,
  decodeBusMessage,
  liveSubjectWildcard,
  subjectWildcard,
  type History,
  type HistoryEvent,
  type HistoryRead,
} from "@calcbridge/protocol";
import { BridgeError } from "./errors.js";
import { readRange } from "./jetstream-range.js";
import type { NatsBus } from "./nats-bus.js";

/** Retention and placement of the history stream. */
export interface JetStreamHistoryOptions {
  /** Stream name. @default "CALCBRIDGE_EVENTS" */
  stream?: string;
  /** Subject prefix of the rooms. @default "rt" */
  prefix?: string;
  /** Events older than this are dropped, in ms. @default 300000 */
  maxAgeMs?: number;
  /** Events kept per room (subject). @default 1000 */
  maxPerRoom?: number;
  /** Bytes kept in all. @default 268435456 */
  maxBytes?: number;
  /** Stream replicas (3 in a 3-server cluster). @default 1 */
  replicas?: number;
  /** @default "file" */
  storage?: "file" | "memory";
  /**
   * Create or update the stream at start-up; when false the stream must exist
   * with a republish to the live subjects, and start-up checks that it does.
   * @default true
   */
  manage?: boolean;
}

export const DEFAULT_HISTORY_STREAM = "CALCBRIDGE_EVENTS";

/** Reads of one subject served by one pass over the stream, at most. */
const MAX_READS_PER_PASS = 1024;
/** Bound on reading one range of a subject, in ms. */
const READ_TIMEOUT_MS = 5000;

const utf8 = new TextDecoder();

/** A read waiting for its pass. */
interface Reader {
  after: number;
  limit: number;
  resolve(read: HistoryRead): void;
  reject(err: unknown): void;
}

/** The reads of one subject: the pass running, and those that wait for the next. */
interface ReadQueue {
  running: boolean;
  waiting: Reader[];
}

/** One stored message of a pass; no event when it is not one (malformed). */
interface Stored {
  seq: number;
  event: HistoryEvent | undefined;
}

/** The stored message as a history event: its envelope with the offset spliced in. */
function eventOf(subject: string, seq: number, data: Uint8Array): HistoryEvent | undefined {
  let header;
  let body;
  try {
    ({ header, body } = decodeBusMessage(data));
  } catch {
    return undefined;
  }
  if (header.kind !== "event" || typeof header.type !== "string" || body.byteLength <= 1) {
    return undefined;
  }
  const offset = String(seq);
  const envelope = `${utf8.decode(body.subarray(0, body.byteLength - 1))},"offset":${JSON.stringify(offset)}}`;
  return { offset, subject, type: header.type, envelope };
}

/** Index of the first message after `after` (binary search: a pass is in sequence order). */
function firstAfter(stored: readonly Stored[], after: number): number {
  let lo = 0;
  let hi = stored.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (stored[mid]!.seq <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The stream's state for the gap checks of one pass, asked for once and only if needed. */
class StreamHead {
  private state: Promise<StreamInfo> | undefined;
  private first: Promise<StoredMsg | null> | undefined;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly subject: string,
    known: StreamInfo | undefined,
  ) {
    if (known !== undefined) this.state = Promise.resolve(known);
  }

  info(): Promise<StreamInfo> {
    return (this.state ??= this.jsm.streams.info(this.stream, { subjects_filter: this.subject }));
  }

  /** The subject's oldest kept message. */
  oldest(): Promise<StoredMsg | null> {
    return (this.first ??= this.jsm.direct.getMessage(this.stream, {
      seq: 1,
      next_by_subj: this.subject,
    }));
  }
}

/**
 * Room-event history in a JetStream stream over `<prefix>.>`. The stream
 * republishes every stored event to `<prefix>-live.>` with its sequence in a
 * header: that sequence is the event's offset, global and monotonic. Nodes
 * subscribe to the live subjects, and read the stream (an ephemeral consumer
 * per pass, see `read`) to catch a returning client up.
 */
export class JetStreamHistory implements History {
  readonly kind = "jetstream";
  private readonly stream: string;
  private readonly prefix: string;
  private readonly maxPerRoom: number;
  private jsm: JetStreamManager | undefined;
  private readonly queues = new Map<string, ReadQueue>();
  /** Reads asked for, and passes over the stream that served them (fewer under a storm). */
  readonly stats = { reads: 0, passes: 0 };

  private constructor(
    private readonly bus: NatsBus,
    private readonly options: JetStreamHistoryOptions,
  ) {
    this.stream = options.stream ?? DEFAULT_HISTORY_STREAM;
    this.prefix = options.prefix ?? DEFAULT_SUBJECT_PREFIX;
    this.maxPerRoom = options.maxPerRoom ?? 1000;
  }

  /**
   * Ensure (or check) the stream now if the bus is connected, else as soon as
   * it connects. Never throws because NATS is away; throws for a stream that
   * exists but cannot serve (no republish) when `manage` is false.
   */
  static async start(
    bus: NatsBus,
    options: JetStreamHistoryOptions = {},
  ): Promise<JetStreamHistory> {
    const history = new JetStreamHistory(bus, options);
    if (bus.status === "connected") await history.ensure();
    bus.onStatus((status) => {
      if (status === "connected") history.ensure().catch(() => undefined);
    });
    return history;
  }

  /** The stream's configuration as this node wants it. */
  config(): Partial<StreamConfig> & { name: string } {
    const o = this.options;
    return {
      name: this.stream,
      subjects: [subjectWildcard(this.prefix)],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      storage: o.storage === "memory" ? StorageType.Memory : StorageType.File,
      num_replicas: o.replicas ?? 1,
      max_age: (o.maxAgeMs ?? 300_000) * 1_000_000,
      max_msgs_per_subject: this.maxPerRoom,
      max_bytes: o.maxBytes ?? 256 * 1024 * 1024,
      allow_direct: true,
      republish: { src: subjectWildcard(this.prefix), dest: liveSubjectWildcard(this.prefix) },
    };
  }

  private async manager(): Promise<JetStreamManager> {
    const nc = this.bus.connection;
    if (nc === undefined) throw new BridgeError("ERR_BUS_UNAVAILABLE", "NATS is not connected");
    this.jsm ??= await jetstreamManager(nc);
    return this.jsm;
  }

  private async ensure(): Promise<void> {
    const jsm = await this.manager();
    const want = this.config();
    let info;
    try {
      info = await jsm.streams.info(this.stream);
    } catch {
      info = undefined;
    }
    if (info === undefined) {
      if (this.options.manage === false) {
        throw new BridgeError(
          "ERR_HISTORY_STREAM",
          `stream ${this.stream} does not exist (HISTORY_MANAGE_STREAM=false)`,
        );
      }
      await jsm.streams.add(want);
      return;
    }
    if (this.options.manage === false) {
      if (info.config.republish?.dest !== want.republish?.dest) {
        throw new BridgeError(
          "ERR_HISTORY_STREAM",
          `stream ${this.stream} must republish to ${want.republish?.dest}`,
        );
      }
      return;
    }
    await jsm.streams.update(this.stream, { ...info.config, ...want });
  }

  /**
   * Events of `subject` after `since`, up to an end fixed when the read
   * starts: the stream's last sequence then (`HistoryRead.end`). Later events
   * are the live subject's: a caller subscribes to it before it calls (on
   * the same connection, so the server has the interest before it fixes the
   * end) and takes what arrives after `end` from there.
   *
   * Reads of one subject are shared: while one reads the stream, the next
   * ones wait and then go together in one pass, from the smallest `since`,
   * each served its own suffix. A pass starts after every read it serves was
   * asked for, so each read's end is still after its call.
   */
  read(subject: string, since: string, limit: number): Promise<HistoryRead> {
    const after = Number(since);
    if (!Number.isSafeInteger(after) || after < 0)
      return Promise.resolve({ events: [], gap: true });
    this.stats.reads++;
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(subject);
      if (queue === undefined) {
        queue = { running: false, waiting: [] };
        this.queues.set(subject, queue);
      }
      queue.waiting.push({ after, limit, resolve, reject });
      // Reads asked for in the same tick share the first pass.
      if (!queue.running && queue.waiting.length === 1) queueMicrotask(() => this.next(subject));
    });
  }

  /** Start a pass for the reads waiting on `subject`, unless one is running. */
  private next(subject: string): void {
    const queue = this.queues.get(subject);
    if (queue === undefined || queue.running) return;
    if (queue.waiting.length === 0) {
      this.queues.delete(subject);
      return;
    }
    const readers = queue.waiting.splice(0, MAX_READS_PER_PASS);
    queue.running = true;
    this.stats.passes++;
    this.pass(subject, readers)
      .catch((err: unknown) => {
        for (const r of readers) r.reject(err);
      })
      .finally(() => {
        queue.running = false;
        this.next(subject);
      });
  }

  /** One pass over the stream for `readers` of `subject`. */
  private async pass(subject: string, readers: readonly Reader[]): Promise<void> {
    const jsm = await this.manager();
    // manager() has thrown if there is none: the connection the live subscriptions are on.
    const nc = this.bus.connection!;
    const before = await jsm.streams.info(this.stream, { subjects_filter: subject });
    const end = before.state.last_seq;
    const from = Math.min(...readers.map((r) => r.after));
    const stored: Stored[] = [];
    let read = false;
    if ((before.state.subjects?.[subject] ?? 0) > 0 && from < end) {
      // Enough for every reader: each needs its `limit` events and one more
      // message (to tell a gap). The stream keeps at most maxPerRoom of the
      // subject anyway; this bounds a pass where a limit is lower.
      const last = Math.max(...readers.map((r) => r.after));
      const want = Math.max(...readers.map((r) => r.limit));
      let counted = 0;
      read = true;
      await readRange(nc, jsm, this.stream, subject, from, end, {
        timeoutMs: READ_TIMEOUT_MS,
        take: (seq, data) => {
          // Once every reader has its events, one more message only tells them there is more.
          const full = seq > last && counted === want;
          const event = eventOf(subject, seq, data);
          stored.push({ seq, event });
          if (seq > last && event !== undefined) counted++;
          return !full;
        },
      });
    }
    // Retention may have trimmed during the pass: the gap check wants the
    // stream as it is after it (when nothing was read, `before` is that).
    const head = new StreamHead(jsm, this.stream, subject, read ? undefined : before);
    await Promise.all(
      readers.map(async (r) => {
        try {
          r.resolve(await this.serve(subject, r, stored, end, head));
        } catch (err) {
          r.reject(err);
        }
      }),
    );
  }

  /** One reader's events out of a pass, and whether it has a gap. */
  private async serve(
    subject: string,
    reader: Reader,
    stored: readonly Stored[],
    end: number,
    head: StreamHead,
  ): Promise<HistoryRead> {
    const { after, limit } = reader;
    const events: HistoryEvent[] = [];
    let i = firstAfter(stored, after);
    const first = stored[i]?.seq;
    for (; i < stored.length; i++) {
      if (events.length === limit) return { events, gap: true };
      const event = stored[i]!.event;
      if (event !== undefined) events.push(event);
    }
    return { events, gap: await this.lost(subject, after, first, head), end: String(end) };
  }

  /**
   * Whether retention may have dropped events of `subject` after `after`:
   * the stream has trimmed past it (age, bytes: both trim the head), or the
   * room is at its per-subject limit and its oldest kept event is later than
   * `after + 1`. The head is read fresh for each pass: a remembered one would
   * hide a trim that happened since.
   */
  private async lost(
    subject: string,
    after: number,
    firstKept: number | undefined,
    head: StreamHead,
  ): Promise<boolean> {
    if (after === 0) return false;
    // The very next sequence is the room's: nothing in between could have been dropped.
    if (firstKept === after + 1) return false;
    const info = await head.info();
    if (after + 1 < info.state.first_seq) return true;
    if (firstKept === undefined) return false;
    const count = info.state.subjects?.[subject] ?? 0;
    if (count < this.maxPerRoom) return false;
    const oldest = await head.oldest();
    return oldest !== null && oldest.seq > after + 1;
  }

  async close(): Promise<void> {
    this.jsm = undefined;
  }
}
