import type { ClientMode } from "./connection.js";

/** Where and how a worker opens its share of the connections. */
export interface OpenRequest {
  t: "open";
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
  /** Handshakes in flight at once. */
  concurrency: number;
  /** Give up on connections not ready by then. */
  timeoutMs: number;
}

export type WorkerRequest =
  | OpenRequest
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
  /** From the first connect to the last connection ready, ms (token signing excluded). */
  ms: number;
  /** Worker CPU over the same span, µs. */
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

export type WorkerReply = OpenReply | StatsReply | HistReply | { t: "closed"; id: number };
