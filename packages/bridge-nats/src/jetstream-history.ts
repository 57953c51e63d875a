import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type JetStreamManager,
  type StreamConfig,
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

const utf8 = new TextDecoder();

/**
 * Room-event history in a JetStream stream over `<prefix>.>`. The stream
 * republishes every stored event to `<prefix>-live.>` with its sequence in a
 * header: that sequence is the event's offset, global and monotonic. Nodes
 * subscribe to the live subjects, and read the stream (direct get, next by
 * subject) to catch a returning client up.
 */
export class JetStreamHistory implements History {
  readonly kind = "jetstream";
  private readonly stream: string;
  private readonly prefix: string;
  private readonly maxPerRoom: number;
  private jsm: JetStreamManager | undefined;

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

  async read(subject: string, since: string, limit: number): Promise<HistoryRead> {
    const after = Number(since);
    if (!Number.isSafeInteger(after) || after < 0) return { events: [], gap: true };
    const jsm = await this.manager();
    const events: HistoryEvent[] = [];
    let cursor = after + 1;
    let first: number | undefined;
    for (;;) {
      const msg = await jsm.direct.getMessage(this.stream, { seq: cursor, next_by_subj: subject });
      if (msg === null) break;
      first ??= msg.seq;
      if (events.length === limit) return { events, gap: true };
      let header;
      let body;
      try {
        ({ header, body } = decodeBusMessage(msg.data));
      } catch {
        cursor = msg.seq + 1;
        continue;
      }
      if (header.kind === "event" && typeof header.type === "string" && body.byteLength > 1) {
        const offset = String(msg.seq);
        const envelope = `${utf8.decode(body.subarray(0, body.byteLength - 1))},"offset":${JSON.stringify(offset)}}`;
        events.push({ offset, subject, type: header.type, envelope });
      }
      cursor = msg.seq + 1;
    }
    return { events, gap: await this.lost(subject, after, first) };
  }

  /**
   * Whether retention may have dropped events of `subject` after `after`:
   * the stream has trimmed past it (age, bytes: both trim the head), or the
   * room is at its per-subject limit and its oldest kept event is later than
   * `after + 1`. The head is read fresh each time: a remembered one would
   * hide a trim that happened since.
   */
  private async lost(
    subject: string,
    after: number,
    firstKept: number | undefined,
  ): Promise<boolean> {
    if (after === 0) return false;
    // The very next sequence is the room's: nothing in between could have been dropped.
    if (firstKept === after + 1) return false;
    const jsm = await this.manager();
    const info = await jsm.streams.info(this.stream, { subjects_filter: subject });
    if (after + 1 < info.state.first_seq) return true;
    if (firstKept === undefined) return false;
    const count = info.state.subjects?.[subject] ?? 0;
    if (count < this.maxPerRoom) return false;
    const oldest = await jsm.direct.getMessage(this.stream, { seq: 1, next_by_subj: subject });
    return oldest !== null && oldest.seq > after + 1;
  }

  async close(): Promise<void> {
    this.jsm = undefined;
  }
}
