/*
 * The JSON the edge's console API answers with. It mirrors
 * `packages/edge/src/http/console-api.ts` (the edge depends on this package,
 * not the other way round); the browser tests render it end to end.
 */

/** Open connections of one kind, as `calcbridge_connections` labels them. */
export interface ConnectionCount {
  protocol: string;
  transport: string;
  endpoint: string;
  count: number;
}

/** One node's numbers, read from its Prometheus registry (so they agree with `/metrics`). */
export interface NodeStats {
  node: string;
  /** When the numbers were read (ms since the epoch, the node's clock). */
  at: number;
  ready: boolean;
  uptimeSec: number;
  connections: { total: number; byKind: ConnectionCount[] };
  /** API rooms with local members (bus subjects held). */
  rooms: number;
  subscriptions: { socketio: number; raw: number };
  /** Monotonic counters since the node started. */
  totals: {
    published: number;
    received: number;
    framesDelivered: number;
    bytesDelivered: number;
    connects: number;
  };
  slowConsumers: { disconnects: number; volatileDrops: number };
  authFailures: { code: string; reason: string; count: number }[];
  bus: {
    kind: string;
    status: string;
    connected: boolean;
    reconnects: number;
    pendingBytes: number;
  };
  process: { rssBytes: number; heapUsedBytes: number; eventLoopLagSec: number };
}

/** `GET /console/api/overview` */
export interface Overview {
  /** The node that answered. */
  node: string;
  at: number;
  /** This node first, then the others that answered over the bus. */
  nodes: NodeStats[];
  /** Nodes known from heartbeats that did not answer in time. */
  missing: string[];
}

/** `GET /console/api/info` (no credential needed). */
export interface ConsoleInfo {
  /** The overview API wants `Authorization: Bearer <CONSOLE_TOKEN>`. */
  tokenRequired: boolean;
}
