/*
 * The JSON of the edge's console API (`/console/api/*`): one shape for the
 * edge that answers it and the console that renders it. Types only.
 */

/** Open connections of one kind, as `calcbridge_connections` labels them. */
export interface ConnectionCount {
  protocol: string;
  transport: string;
  endpoint: string;
  count: number;
}

/**
 * One node's numbers for the console, read from its Prometheus registry so
 * that they agree with `/metrics` by construction.
 */
export interface NodeStats {
  node: string;
  /** When the numbers were read (ms since the epoch, this node's clock). */
  at: number;
  ready: boolean;
  uptimeSec: number;
  /** `calcbridge_connections`, summed and by label set. */
  connections: { total: number; byKind: ConnectionCount[] };
  /** `calcbridge_rooms` */
  rooms: number;
  /** `calcbridge_subscriptions` */
  subscriptions: { socketio: number; raw: number };
  /** Monotonic counters since the node started; the console derives rates. */
  totals: {
    /** `calcbridge_events_published_total`, every source. */
    published: number;
    /** `calcbridge_events_received_total` */
    received: number;
    /** `calcbridge_frames_delivered_total`, every protocol. */
    framesDelivered: number;
    /** `calcbridge_bytes_delivered_total`, every protocol. */
    bytesDelivered: number;
    /** `calcbridge_connects_total`, every protocol. */
    connects: number;
  };
  slowConsumers: {
    /** `calcbridge_slow_consumer_disconnects_total` */
    disconnects: number;
    /** `calcbridge_backpressure_drops_total` */
    volatileDrops: number;
  };
  /** `calcbridge_auth_failures_total` by close code and reason. */
  authFailures: { code: string; reason: string; count: number }[];
  bus: {
    kind: string;
    /** The bus's own state word (`connected`, `reconnecting`, ...): not a metric. */
    status: string;
    /** `calcbridge_bus_connected` */
    connected: boolean;
    /** `calcbridge_bus_reconnects_total` */
    reconnects: number;
    /** `calcbridge_bus_pending_bytes` */
    pendingBytes: number;
  };
  process: { rssBytes: number; heapUsedBytes: number; eventLoopLagSec: number };
}

/** `GET /console/api/overview` */
export interface ConsoleOverview {
  /** The node that answered. */
  node: string;
  at: number;
  /** This node first, then every other node that answered over the bus. */
  nodes: NodeStats[];
  /** Nodes known from heartbeats that did not answer within the timeout. */
  missing: string[];
}

/** `GET /console/api/info` (no credential needed). */
export interface ConsoleInfo {
  /** The overview API wants `Authorization: Bearer <CONSOLE_TOKEN>`. */
  tokenRequired: boolean;
}
