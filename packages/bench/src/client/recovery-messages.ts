import type { OpenReply, PreparedReply, StartRequest } from "./messages.js";
import type { RecoveryRecord } from "./recovery-client.js";

/** The recovery scenario's worker protocol (`recovery-worker.ts`). */

/** A worker's share of the clients (prepared, then connected on `start`: messages.ts). */
export interface RecoveryOpenRequest {
  t: "prepare";
  id: number;
  host: string;
  /** Node A (first connection) and node B (reconnection). */
  portA: number;
  portB: number;
  /** Global index of this worker's first client, and how many it opens. */
  firstIndex: number;
  count: number;
  room: string;
  /** Tokens: HS256 JWTs `{sub: user with {i} replaced, tenant_id}`, one user per client. */
  auth: { secret: string; tenant: string; user: string; ttlSec: number };
  concurrency: number;
  /** Give up on connections not ready on A by then. */
  timeoutMs: number;
  /** Per client: from A's close to being back (and subscribed) on B. */
  reconnectTimeoutMs: number;
}

export type RecoveryWorkerRequest =
  | RecoveryOpenRequest
  | StartRequest
  | { t: "stats"; id: number }
  | { t: "report"; id: number }
  | { t: "exit" };

/** The generator's own answer to `open`. */
export type RecoveryOpenReply = OpenReply;

/** Counters of one worker's clients now. */
export interface RecoveryStatsReply {
  t: "stats";
  id: number;
  at: number;
  /** Ready on node A and not closed yet. */
  onA: number;
  /** Closed by node A. */
  closed: number;
  /** CONNECT reply from node B received. */
  back: number;
  recovered: number;
  failed: number;
  events: number;
  /** Lowest and highest last offset of the clients not failed (0 when none). */
  minOffset: number;
  maxOffset: number;
  cpuUs: number;
}

export interface RecoveryReportReply {
  t: "report";
  id: number;
  records: RecoveryRecord[];
}

export type RecoveryWorkerReply =
  PreparedReply | RecoveryOpenReply | RecoveryStatsReply | RecoveryReportReply;
