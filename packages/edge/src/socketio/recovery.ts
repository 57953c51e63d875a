import type { SessionStore, StoredSession } from "@calcbridge/protocol";
import type { Frame } from "../engine/transport.js";
import type { DisconnectReason, Socket } from "./socket.js";

/**
 * Connection state recovery, as socket.io >= 4.6 and its client implement it:
 * the server gives each socket a private id (`pid`) in CONNECT and appends an
 * offset to every event it can replay; a client that comes back presents
 * `{ pid, offset }` in its CONNECT and gets its id, rooms and `data` back,
 * plus what it missed, with `socket.recovered` set.
 */
export interface ConnectionStateRecovery {
  /** How long a disconnected session may be recovered, in ms. */
  maxDisconnectionMs: number;
  /** Where sessions wait (a KV bucket shared by the cluster, or memory). */
  store: SessionStore;
  /** The offset a new socket starts from (the latest the node knows). */
  currentOffset(): string | undefined;
  /**
   * Collect what `socket` missed in `session.rooms` after `offset`; call
   * `deliver` with the frames in order, or with null when they cannot all be
   * replayed (retention, another user's session). `deliver` sends them and
   * joins the rooms in the same tick; interest must be held until it returns.
   */
  replay(
    socket: Socket,
    session: StoredSession,
    offset: string,
    deliver: (frames: Frame[] | null) => void,
  ): void;
}

/** Disconnects after which a session is kept (socket.io's list). */
export const RECOVERABLE_REASONS: ReadonlySet<DisconnectReason> = new Set<DisconnectReason>([
  "transport error",
  "transport close",
  "forced close",
  "ping timeout",
  "server shutting down",
  "forced server close",
]);
