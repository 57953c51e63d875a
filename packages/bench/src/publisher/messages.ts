/** How the publisher reaches the servers under test. */
export type PublisherMode = "nats-event" | "nats-frame" | "nats-envelope" | "redis-emitter";

export interface PublisherSetup {
  mode: PublisherMode;
  natsUrl?: string;
  redisUrl?: string;
  /** nats-frame / nats-envelope: the subject. */
  subject?: string;
  /** Target Socket.IO frame size, bytes. */
  frameBytes: number;
  /** rooms scenario: events go to `notifications:u<random below users>`; otherwise to `job:bench`. */
  users?: number;
}

export type PublisherRequest =
  | { t: "setup"; id: number; setup: PublisherSetup }
  | { t: "run"; id: number; rate: number; durationMs: number }
  | { t: "count"; id: number }
  | { t: "stop" }
  | { t: "exit" };

export type PublisherReply =
  | { t: "ready"; id: number }
  | { t: "ran"; id: number; sent: number; seconds: number; maxLagMs: number }
  | { t: "count"; id: number; sent: number; at: number }
  | { t: "error"; id: number; message: string };
