import type { ClientMode } from "./connection.js";

/**
 * Where and how a worker opens its share of the connections. The worker
 * signs the tokens and answers `prepared`; it connects on `start`, so every
 * worker connects at the same time and no token signing overlaps setup.
 */
export interface OpenRequest {
  t: "prepare";
  id: number;
  /** Servers; client `i` (global index) goes to `targets[i % targets.length]`. */
  targets: { host: string; port: number }[];
  mode: ClientMode;
  /** Global index of this worker's first client, and how many it opens. */
  firstIndex: number;
  count: number;
  /** Path and query; `{token}` and `{user}` are replaced per client. */
  path: string;
  /** Rooms to subscribe after connecting; `{user}` is replaced per client. */
  rooms: string[];
  /** Tokens: HS256 JWTs `{sub, tenant_id, exp}`; `user` may contain `{i}` (the global index). */
  auth?: { secret: string; tenant: string; user: string; ttlSec: number };
  /** Handshakes in flight at once, this worker. */
  concurrency: number;
  /** Give up on connections not ready by then. */
  timeoutMs: number;
}

/** Connect the clients of the last `prepare`; answered with an {@link OpenReply}. */
export interface StartRequest {
  t: "start";
  id: number;
}

export interface PreparedReply {
  t: "prepared";
  id: number;
}

export type WorkerRequest =
  | OpenRequest
  | StartRequest
  | { t: "stats"; id: number }
  | { t: "hist"; id: number; reset: boolean }
  | { t: "close"; id: number }
  | { t: "exit" };

export interface OpenReply {
  t: "opened";
  id: number;
  ready: number;
  failed: number;
  /** The first few failure reasons, for the report. */
  failures: string[];
  /** The first connect and the last connection ready, ms since the epoch. */
  startedAt: number;
  lastReadyAt: number;
  /** Worker CPU from the first connect to the answer, µs. */
  cpuUs: number;
}

export interface StatsReply {
  t: "stats";
  id: number;
  /** Worker clock when read (ms since the epoch). */
  at: number;
  events: number;
  unsampled: number;
  open: number;
  closed: number;
  /** Close codes of connections the server closed after they were ready. */
  closeCodes: Record<string, number>;
  /** Process CPU time, µs (user + system), for the generator's own load. */
  cpuUs: number;
}

export interface HistReply {
  t: "hist";
  id: number;
  histogram: string;
}

export type WorkerReply =
  PreparedReply | OpenReply | StatsReply | HistReply | { t: "closed"; id: number };
