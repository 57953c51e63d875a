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
export type BusHandler = (data: Uint8Array, subject: string, reply: string | undefined) => void;

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
  /** Flush and close. */
  close(): Promise<void>;
}
