import { createHash, timingSafeEqual } from "node:crypto";
import type { Bus, ConnectionCount, ConsoleOverview, NodeStats } from "@calcbridge/protocol";

export type { ConnectionCount, ConsoleOverview, NodeStats };
import type { Cluster } from "../cluster/cluster.js";
import type { EdgeMetrics } from "../metrics.js";
import type { Uws } from "../uws.js";
import { sendJson } from "./body.js";

/** How long the overview waits for the other nodes' stats over the bus. */
export const DEFAULT_CONSOLE_CLUSTER_TIMEOUT_MS = 1000;

/** What the console API reads of a node. */
export interface ConsoleSource {
  readonly nodeId: string;
  readonly metrics: EdgeMetrics;
  readonly bus: Bus;
  readonly cluster: Cluster | undefined;
}

type Sample = { value: number; labels: Record<string, string | number | undefined> };

/** One node's stats, from the same registry `/metrics` renders. */
export async function readNodeStats(source: ConsoleSource): Promise<NodeStats> {
  const json = await source.metrics.registry.getMetricsAsJSON();
  const byName = new Map<string, Sample[]>();
  for (const metric of json) byName.set(metric.name, metric.values as Sample[]);
  const samples = (name: string) => byName.get(name) ?? [];
  const sum = (name: string, where?: (labels: Sample["labels"]) => boolean) =>
    samples(name).reduce((a, s) => (where === undefined || where(s.labels) ? a + s.value : a), 0);
  const label = (s: Sample, key: string) => String(s.labels[key] ?? "");
  const byKind = samples("calcbridge_connections").map((s) => ({
    protocol: label(s, "protocol"),
    transport: label(s, "transport"),
    endpoint: label(s, "endpoint"),
    count: s.value,
  }));
  const start = sum("calcbridge_process_start_time_seconds");
  const at = Date.now();
  return {
    node: source.nodeId,
    at,
    ready: sum("calcbridge_ready") === 1,
    uptimeSec: start > 0 ? Math.max(0, Math.round(at / 1000 - start)) : 0,
    connections: { total: byKind.reduce((a, k) => a + k.count, 0), byKind },
    rooms: sum("calcbridge_rooms"),
    subscriptions: {
      socketio: sum("calcbridge_subscriptions", (l) => l["protocol"] === "socketio"),
      raw: sum("calcbridge_subscriptions", (l) => l["protocol"] === "raw"),
    },
    totals: {
      published: sum("calcbridge_events_published_total"),
      received: sum("calcbridge_events_received_total"),
      framesDelivered: sum("calcbridge_frames_delivered_total"),
      bytesDelivered: sum("calcbridge_bytes_delivered_total"),
      connects: sum("calcbridge_connects_total"),
    },
    slowConsumers: {
      disconnects: sum("calcbridge_slow_consumer_disconnects_total"),
      volatileDrops: sum("calcbridge_backpressure_drops_total"),
    },
    authFailures: samples("calcbridge_auth_failures_total").map((s) => ({
      code: label(s, "code"),
      reason: label(s, "reason"),
      count: s.value,
    })),
    bus: {
      kind: source.bus.kind,
      status: source.bus.status,
      connected: sum("calcbridge_bus_connected") === 1,
      reconnects: sum("calcbridge_bus_reconnects_total"),
      pendingBytes: sum("calcbridge_bus_pending_bytes"),
    },
    process: {
      rssBytes: sum("calcbridge_process_resident_memory_bytes"),
      heapUsedBytes: sum("calcbridge_nodejs_heap_size_used_bytes"),
      eventLoopLagSec: sum("calcbridge_nodejs_eventloop_lag_seconds"),
    },
  };
}

/** A reply of another node that has the shape of {@link NodeStats} where the console reads it. */
function isNodeStats(x: unknown): x is NodeStats {
  if (typeof x !== "object" || x === null) return false;
  const s = x as Partial<NodeStats>;
  return (
    typeof s.node === "string" &&
    typeof s.at === "number" &&
    typeof s.connections?.total === "number" &&
    Array.isArray(s.connections.byKind) &&
    typeof s.totals?.received === "number" &&
    typeof s.bus?.status === "string" &&
    Array.isArray(s.authFailures)
  );
}

/** This node's stats and every other node's, gathered over the bus. */
export async function readOverview(
  source: ConsoleSource,
  clusterTimeoutMs = DEFAULT_CONSOLE_CLUSTER_TIMEOUT_MS,
): Promise<ConsoleOverview> {
  const cluster = source.cluster;
  const gathered: Promise<{ stats: unknown[]; missing: string[] }> =
    cluster === undefined
      ? Promise.resolve({ stats: [], missing: [] })
      : // The bus is down: this node's numbers are what the operator needs most.
        cluster
          .nodeStats(clusterTimeoutMs)
          .catch(() => ({ stats: [], missing: [...cluster.nodes.keys()] }));
  const [self, others] = await Promise.all([readNodeStats(source), gathered]);
  const nodes = others.stats.filter(isNodeStats).sort((a, b) => a.node.localeCompare(b.node));
  return { node: source.nodeId, at: Date.now(), nodes: [self, ...nodes], missing: others.missing };
}

/** Checks `Authorization: Bearer <console token>` in constant time. */
export function consoleAuthorizer(token: string | undefined): (authorization: string) => boolean {
  if (token === undefined) return () => true;
  const expected = createHash("sha256").update(token).digest();
  return (authorization) => {
    const given = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)?.[1];
    if (given === undefined) return false;
    // Compare digests: equal lengths, and the time does not depend on the token.
    return timingSafeEqual(createHash("sha256").update(given).digest(), expected);
  };
}

const NO_STORE = [["Cache-Control", "no-store"]] as const;

/**
 * The console's JSON endpoints:
 * - `GET /console/api/info`: what the page needs before any credential;
 * - `GET /console/api/overview`: this node and the cluster, behind the console
 *   token when one is configured (`Authorization: Bearer <CONSOLE_TOKEN>`).
 */
export function attachConsoleApi(
  app: Uws.TemplatedApp,
  source: ConsoleSource,
  options: { token?: string; clusterTimeoutMs?: number } = {},
): void {
  const authorized = consoleAuthorizer(options.token);
  app.get("/console/api/info", (res) => {
    sendJson(res, "200 OK", { tokenRequired: options.token !== undefined }, NO_STORE);
  });
  app.get("/console/api/overview", (res, req) => {
    // Copy request data now: req is only valid in this callback.
    if (!authorized(req.getHeader("authorization"))) {
      sendJson(
        res,
        "401 Unauthorized",
        {
          error: "unauthorized",
          reasons: ["the console token is required: Authorization: Bearer <CONSOLE_TOKEN>"],
        },
        [...NO_STORE, ["WWW-Authenticate", 'Bearer realm="calcbridge-console"']],
      );
      return;
    }
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    readOverview(source, options.clusterTimeoutMs).then(
      (overview) => {
        if (!aborted) sendJson(res, "200 OK", overview, NO_STORE);
      },
      () => {
        if (!aborted)
          sendJson(res, "500 Internal Server Error", {
            error: "internal",
            reasons: ["the overview could not be read"],
          });
      },
    );
  });
  app.get("/console/api/*", (res) => {
    sendJson(res, "404 Not Found", { error: "not_found", reasons: ["no such console endpoint"] });
  });
}
