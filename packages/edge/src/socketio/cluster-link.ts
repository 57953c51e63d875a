import type { Frame } from "../engine/transport.js";
import { EdgeError } from "../errors.js";
import type { Handshake } from "./socket.js";

/** Targeting of a cross-node operation. */
export interface Target {
  rooms: string[];
  except: string[];
}

/** A socket on another node, as `fetchSockets` describes it. */
export interface RemoteSocketData {
  id: string;
  node: string;
  handshake: Handshake;
  rooms: string[];
  data: unknown;
}

/**
 * Some nodes did not answer in time. `partial` holds what did arrive;
 * `missing` names the nodes that stayed silent.
 */
export class ClusterTimeoutError<T = unknown> extends EdgeError {
  override name = "ClusterTimeoutError";
  constructor(
    readonly partial: T[],
    readonly missing: string[],
  ) {
    super(
      "ERR_CLUSTER_TIMEOUT",
      `timeout reached: ${missing.length} node(s) did not answer (${missing.join(", ")})`,
    );
  }
}

/**
 * What the Socket.IO layer asks of the cluster: socket.io's adapter
 * operations, run on every other node. Absent on a single node.
 */
export interface ClusterLink {
  fetchSockets(nsp: string, target: Target, timeoutMs: number): Promise<RemoteSocketData[]>;
  socketsJoin(nsp: string, target: Target, rooms: string[]): void;
  socketsLeave(nsp: string, target: Target, rooms: string[]): void;
  disconnectSockets(nsp: string, target: Target, close: boolean): void;
  /** Remote part of a broadcast with acks: the responses of the other nodes' clients. */
  broadcastWithAck(
    nsp: string,
    frames: readonly Frame[],
    target: Target & { flags: { volatile?: boolean } },
    ackId: number,
    timeoutMs: number,
  ): Promise<unknown[]>;
  /** Emit to the other nodes' namespace listeners; with `timeoutMs`, collect their acks. */
  serverSideEmit(
    nsp: string,
    event: string,
    args: unknown[],
    timeoutMs?: number,
  ): Promise<unknown[]>;
}
