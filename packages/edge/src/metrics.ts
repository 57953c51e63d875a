import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { EdgeNode } from "./node.js";

/** Buckets of the publish -> hand-off histogram, in seconds (0.1 ms .. 2.5 s). */
export const HANDOFF_BUCKETS = [
  0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/** Counters the hot path bumps as plain numbers; the registry reads them on scrape. */
export interface EdgeCounters {
  eventsPublished: Record<"http" | "inprocess", number>;
  framesDelivered: Record<"socketio" | "raw", number>;
  bytesDelivered: Record<"socketio" | "raw", number>;
  connects: Record<"socketio" | "raw", number>;
  /** `protocol|reason` -> count. Reasons are a fixed set (Socket.IO reasons, close codes). */
  disconnects: Map<string, number>;
  /** `close code|error code` -> count. */
  authFailures: Map<string, number>;
  volatileDrops: number;
}

export function newCounters(): EdgeCounters {
  return {
    eventsPublished: { http: 0, inprocess: 0 },
    framesDelivered: { socketio: 0, raw: 0 },
    bytesDelivered: { socketio: 0, raw: 0 },
    connects: { socketio: 0, raw: 0 },
    disconnects: new Map(),
    authFailures: new Map(),
    volatileDrops: 0,
  };
}

export function bump(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

/** `protocol|transport|endpoint` of every `calcbridge_connections` series. */
const CONNECTION_SERIES = [
  "socketio|websocket|socketio",
  "socketio|polling|socketio",
  "raw|websocket|general",
  "raw|websocket|workbook",
  "raw|websocket|job",
  "raw|websocket|notifications",
];

function entries(
  record: Record<string, number>,
  label: string,
): [Record<string, string>, number][] {
  return Object.entries(record).map(([k, v]) => [{ [label]: k }, v]);
}

/**
 * A counter whose value is read from our own tallies at scrape time. Every
 * series `read` yields is exposed, zeros included: a series that first
 * appears at 1 hides that increment from `rate()` and `increase()`.
 */
function mirrored(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: () => Iterable<[Record<string, string>, number]>,
): Counter {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

function gauge(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: () => Iterable<[Record<string, string>, number]>,
): Gauge {
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

/**
 * The node's Prometheus metrics. Labels are bounded: protocol, transport,
 * endpoint kind, reason and code — never a room, user or tenant id.
 */
export class EdgeMetrics {
  readonly registry = new Registry();
  readonly handoff: Histogram;

  constructor(node: EdgeNode) {
    const r = this.registry;
    r.setDefaultLabels({ node: node.nodeId });
    collectDefaultMetrics({ register: r, prefix: "calcbridge_", eventLoopMonitoringPrecision: 20 });
    const c = node.counters;

    gauge(
      r,
      "calcbridge_connections",
      "Open client connections.",
      ["protocol", "transport", "endpoint"],
      () => {
        // Every known series, zeros included: an idle node shows 0, not "no data".
        const counts = new Map<string, number>(CONNECTION_SERIES.map((k) => [k, 0]));
        for (const s of node.io.acceptedSessions())
          bump(counts, `socketio|${s.transport.name}|socketio`);
        for (const conn of node.rawApi.connections)
          bump(counts, `raw|websocket|${conn.endpoint.kind}`);
        return [...counts].map(([k, v]) => {
          const [protocol, transport, endpoint] = k.split("|") as [string, string, string];
          return [{ protocol, transport, endpoint }, v];
        });
      },
    );
    mirrored(r, "calcbridge_connects_total", "Accepted connections.", ["protocol"], () =>
      entries(c.connects, "protocol"),
    );
    mirrored(
      r,
      "calcbridge_disconnects_total",
      "Closed connections by reason.",
      ["protocol", "reason"],
      () =>
        [...c.disconnects].map(([k, v]) => {
          const [protocol, reason] = k.split("|") as [string, string];
          return [{ protocol, reason }, v];
        }),
    );
    gauge(r, "calcbridge_rooms", "API rooms with local members (bus subjects held).", [], () => [
      [{}, node.delivery.subjects().length],
    ]);
    gauge(
      r,
      "calcbridge_subscriptions",
      "Room subscriptions of local clients.",
      ["protocol"],
      () => {
        let raw = 0;
        for (const conn of node.rawApi.connections) raw += conn.subscriptions.size;
        let sio = 0;
        for (const [room, members] of node.io.sockets.adapter.rooms)
          if (node.delivery.has(room)) sio += members.size;
        return [
          [{ protocol: "raw" }, raw],
          [{ protocol: "socketio" }, sio],
        ];
      },
    );
    mirrored(
      r,
      "calcbridge_events_published_total",
      "Events accepted for publishing on this node.",
      ["source"],
      () => entries(c.eventsPublished, "source"),
    );
    mirrored(r, "calcbridge_events_received_total", "Room events taken from the bus.", [], () => [
      [{}, node.delivery.stats.received],
    ]);
    mirrored(
      r,
      "calcbridge_bus_malformed_total",
      "Bus messages that could not be decoded.",
      [],
      () => [[{}, node.delivery.stats.malformed + (node.cluster?.stats.malformed ?? 0)]],
    );
    mirrored(
      r,
      "calcbridge_frames_delivered_total",
      "Frames handed to client sockets.",
      ["protocol"],
      () => entries(c.framesDelivered, "protocol"),
    );
    mirrored(
      r,
      "calcbridge_bytes_delivered_total",
      "Bytes handed to client sockets.",
      ["protocol"],
      () => entries(c.bytesDelivered, "protocol"),
    );
    this.handoff = new Histogram({
      name: "calcbridge_publish_to_handoff_seconds",
      help: "Time from an event's publish to its hand-off to the client sockets of this node.",
      buckets: HANDOFF_BUCKETS,
      registers: [r],
    });
    mirrored(
      r,
      "calcbridge_auth_failures_total",
      "Refused tokens by close code and reason.",
      ["code", "reason"],
      () =>
        [...c.authFailures].map(([k, v]) => {
          const [code, reason] = k.split("|") as [string, string];
          return [{ code, reason }, v];
        }),
    );
    mirrored(
      r,
      "calcbridge_backpressure_drops_total",
      "Volatile packets dropped for slow clients.",
      [],
      () => {
        let n = c.volatileDrops;
        for (const s of node.io.engine.sessions.values())
          n += (s.transport as { droppedVolatile?: number }).droppedVolatile ?? 0;
        return [[{}, n]];
      },
    );
    mirrored(
      r,
      "calcbridge_slow_consumer_disconnects_total",
      "WebSockets closed abnormally (1006): over the backpressure limit, or the peer vanished.",
      [],
      () => [[{}, node.io.engine.abnormalCloses + node.rawApi.abnormalCloses]],
    );
    gauge(r, "calcbridge_bus_connected", "1 when the bus can take publishes.", ["bus"], () => [
      [{ bus: node.bus.kind }, node.bus.status === "connected" ? 1 : 0],
    ]);
    mirrored(r, "calcbridge_bus_reconnects_total", "Bus reconnections.", [], () => [
      [{}, node.bus.stats?.["reconnects"] ?? 0],
    ]);
    gauge(
      r,
      "calcbridge_bus_pending_bytes",
      "Bytes waiting in the bus client's outbound buffer.",
      [],
      () => [[{}, node.bus.pendingBytes?.() ?? 0]],
    );
    gauge(
      r,
      "calcbridge_cluster_nodes",
      "Nodes of the cluster this node knows, itself included.",
      [],
      () => [[{}, (node.cluster?.nodes.size ?? 0) + 1]],
    );
    gauge(r, "calcbridge_ready", "1 when the node is ready for new connections.", [], () => [
      [{}, node.notReadyReasons().length === 0 ? 1 : 0],
    ]);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
