/**
 * The contract between the edge and a message bus. Types only: the embedded
 * `MemoryBus` (edge) and `NatsBus` (bridge-nats) implement it, and the edge's
 * entry point picks one.
 */

/**
 * Receives one message: the bytes are the bus message as published (see
 * `encodeBusMessage`); `reply` is the subject to answer on, when the
 * publisher asked for answers.
 */
export type BusHandler = (
  data: Uint8Array,
  subject: string,
  reply: string | undefined,
  meta?: BusMessageMeta,
) => void;

/** What the bus knows about a message beyond its bytes. */
export interface BusMessageMeta {
  /** The JetStream stream sequence of a republished message (`Nats-Sequence`): the event's offset. */
  sequence?: number;
}

export interface BusSubscription {
  /** Stop receiving; idempotent. */
  unsubscribe(): void;
}

/** Connection state as the edge reports it (readiness, metrics). */
export type BusStatus = "connected" | "disconnected" | "reconnecting" | "closed";

export interface Bus {
  /** What is behind it, for logs and metrics. */
  readonly kind: "memory" | "nats";
  /** Whether a publish can reach the bus now. */
  readonly status: BusStatus;
  /**
   * Publish to a subject. Throws when the message cannot reach the bus (the
   * caller refuses the publish with a clear error; nothing is dropped silently).
   */
  publish(subject: string, data: Uint8Array, options?: { reply?: string }): void;
  /** A fresh subject nobody else uses, to collect replies on. */
  newInbox(): string;
  /** Receive what is published on `subject` (exact subject, no wildcards needed here). */
  subscribe(subject: string, handler: BusHandler): BusSubscription;
  /** Status changes (connected, disconnected, reconnecting, closed). */
  onStatus(listener: (status: BusStatus) => void): void;
  /** Counters for metrics (`reconnects`, published/received messages and bytes). */
  readonly stats?: { readonly reconnects?: number };
  /** Bytes waiting in the client's outbound buffer. */
  pendingBytes?(): number;
  /**
   * Resolves once the server has seen everything sent so far (subscriptions
   * included): after it, a subscription made before receives every later
   * publish. Absent where subscribing is immediate (the embedded bus).
   */
  flush?(): Promise<void>;
  /** Flush and close. */
  close(): Promise<void>;
}

/** One stored room event: its offset and its envelope, already carrying that offset. */
export interface HistoryEvent {
  /** Global, monotonically increasing (a decimal integer as a string, like Socket.IO offsets). */
  offset: string;
  /** The room's subject. */
  subject: string;
  /** The event type (to build the Socket.IO frame without parsing). */
  type: string;
  /** The raw-API envelope JSON, `offset` included. */
  envelope: string;
}

/** What a read found. */
export interface HistoryRead {
  /** Events after `since`, oldest first. */
  events: HistoryEvent[];
  /**
   * Events after `since` may have been dropped by retention: the caller must
   * say so to the client (`recovery_gap`, `recovered: false`) instead of
   * replaying a partial stream.
   */
  gap: boolean;
  /**
   * Where the read stopped, when it stopped at an end fixed as it started
   * (JetStream): every event of the subject up to this offset is in
   * `events` (unless `gap`); later ones are the live subject's.
   */
  end?: string;
}

/** Recent room events, for clients that come back (embedded memory, or JetStream). */
export interface History {
  readonly kind: "memory" | "jetstream";
  /** Events of `subject` with an offset greater than `since`, at most `limit`. */
  read(subject: string, since: string, limit: number): Promise<HistoryRead>;
  close(): Promise<void>;
}

/** A Socket.IO session kept for connection state recovery. */
export interface StoredSession {
  sid: string;
  pid: string;
  nsp: string;
  rooms: string[];
  data: unknown;
  /** When it was stored (ms since epoch). */
  at: number;
  /** The latest offset when the socket connected: where a client that saw no event resumes. */
  offset?: string;
}

/** Where sessions wait for their client to come back (memory, or a JetStream KV bucket shared by the cluster). */
export interface SessionStore {
  save(session: StoredSession): Promise<void>;
  /** Take (read and delete) the session of `pid`, if it has not expired. */
  take(pid: string): Promise<StoredSession | undefined>;
  close(): Promise<void>;
}
