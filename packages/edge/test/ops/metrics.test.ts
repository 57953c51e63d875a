/**
 * `/metrics` under a real workload: official socket.io-client sockets
 * (WebSocket and long-polling) and raw `ws` clients subscribe rooms, events
 * are published in-process and over HTTP, some tokens are refused and some
 * clients leave; the deltas between two scrapes must be exactly what was
 * done, and no label may carry a room, subject, tenant, user or token.
 */
import { parseRoom, subjectFor } from "@calcbridge/protocol";
import { freePort, makeToken, once, waitFor } from "@calcbridge/testing";
import t, { type Test } from "tap";
import WebSocket from "ws";
import { HANDOFF_BUCKETS } from "../../src/metrics.js";
import {
  WAIT_MS,
  httpPublish,
  jobPath,
  publishToken,
  rawClient,
  rawOpen,
  samplePayload,
  sioConnect,
  sioRefused,
  startNode,
  tokenFor,
  workbookPath,
  type RawClient,
  type SioClient,
} from "../api-helpers.js";
import {
  delta,
  familyOf,
  httpGet,
  samplesOf,
  scrape,
  valueOf,
  type Scrape,
} from "../ops-helpers.js";

const NODE_ID = "ops-metrics";
// Ids that appear nowhere in the default metrics, so that a leak into a label is unambiguous.
const TENANT = "tnt-zq7";
const USER_A = "usr-zq7-a";
const USER_B = "usr-zq7-b";
const WORKBOOK = "wb-zq7";
const JOB = "job-zq7";
const LONELY_JOB = "job-zq7-nobody";
const ROOM_WB = `workbook:${TENANT}:${WORKBOOK}`;
const ROOM_JOB = `job:${JOB}`;
const ROOM_NOTE = `notifications:${USER_A}`;
const ROOM_LONELY = `job:${LONELY_JOB}`;
const WRONG_SECRET = "not-the-node-secret-but-long-enough-0123456789";

const subjectOf = (room: string): string => subjectFor(TENANT, parseRoom(room));

t.test("metrics account exactly for a mixed workload", async (t) => {
  const metricsPort = await freePort();
  const { node, port } = await startNode(t, { nodeId: NODE_ID, metricsPort });
  t.equal(node.metricsListenPort, metricsPort, "the metrics listener is on METRICS_PORT");

  // /metrics moves to its own port: the main port answers 404 for it.
  const onMain = await httpGet(port, "/metrics");
  t.equal(onMain.status, 404, "the main port has no /metrics when metricsPort is set");
  const plain = await httpGet(metricsPort, "/metrics");
  t.equal(plain.status, 200);
  t.match(plain.contentType, /^text\/plain; version=0\.0\.4/, "Prometheus text format 0.0.4");
  t.equal((await httpGet(metricsPort, "/readyz")).status, 200, "readiness on the metrics port");

  const before = await scrape(metricsPort);
  t.equal(valueOf(before, "calcbridge_ready"), 1, "calcbridge_ready is 1 once listening");
  t.equal(valueOf(before, "calcbridge_bus_connected", { bus: "memory" }), 1, "bus connected");
  t.equal(valueOf(before, "calcbridge_cluster_nodes"), 1, "an embedded node is a cluster of one");
  t.equal(valueOf(before, "calcbridge_connections"), 0, "no connection yet");
  // Series of a fixed label set exist from the start at 0, so that rate() and
  // increase() see their first increment (and an idle node shows 0, not "no data").
  const zeros = (name: string) => Object.values(familyOf(before, name));
  t.strictSame(zeros("calcbridge_connections"), [0, 0, 0, 0, 0, 0], "6 connection series at 0");
  for (const name of [
    "calcbridge_connects_total",
    "calcbridge_events_published_total",
    "calcbridge_frames_delivered_total",
    "calcbridge_bytes_delivered_total",
  ]) {
    t.strictSame(zeros(name), [0, 0], `${name}: both series at 0 before any traffic`);
  }

  const tokenA = await tokenFor(USER_A, TENANT);
  const tokenB = await tokenFor(USER_B, TENANT);
  const pubToken = await publishToken(TENANT);
  const wrongSig = await makeToken({ sub: USER_A, tenant_id: TENANT }, { secret: WRONG_SECRET });
  const expired = await tokenFor(USER_A, TENANT, { expiresIn: -3600 });
  const badPublish = await makeToken(
    { sub: "svc", tenant_id: TENANT, scope: "rt:publish" },
    { secret: WRONG_SECRET },
  );
  const tokens = [tokenA, tokenB, pubToken, wrongSig, expired, badPublish];

  // ---- Socket.IO: four over WebSocket, two over long-polling.
  const sub = async (c: SioClient, ...rooms: string[]) => {
    for (const room of rooms) t.same(await c.ack("subscribe", room), { ok: true, room });
  };
  const s1 = await sioConnect(t, port, { token: tokenA });
  const s2 = await sioConnect(t, port, { token: tokenA });
  const s3 = await sioConnect(t, port, { token: tokenA });
  const s4 = await sioConnect(t, port, { token: tokenB });
  const p1 = await sioConnect(t, port, { token: tokenA, transports: ["polling"] });
  const p2 = await sioConnect(t, port, { token: tokenB, transports: ["polling"] });
  await sub(s1, ROOM_WB, ROOM_JOB);
  await sub(s2, ROOM_WB);
  await sub(s3, ROOM_JOB, ROOM_NOTE);
  await sub(s4, ROOM_WB);
  await sub(p1, ROOM_WB);
  await sub(p2, ROOM_JOB);

  // ---- Raw API: one endpoint of each kind, plus one that leaves.
  const subscribed = async (c: RawClient, room: string) =>
    t.same(await c.request({ type: "subscribe", room }), { type: "subscribed", room });
  const r1 = await rawOpen(t, port, "/ws", { token: tokenA });
  await subscribed(r1, ROOM_WB);
  await subscribed(r1, ROOM_JOB);
  const r2 = await rawOpen(t, port, workbookPath(WORKBOOK), { token: tokenA, header: true });
  const r3 = await rawOpen(t, port, jobPath(JOB), { token: tokenB });
  const r4 = await rawOpen(t, port, "/ws/notifications", { token: tokenA });
  const r5 = await rawOpen(t, port, "/ws", { token: tokenB });
  await subscribed(r5, ROOM_WB);

  // ---- Refused tokens: raw (close 4001) and Socket.IO (CONNECT_ERROR 4001) and HTTP (401).
  const rawRefused = [
    rawClient(t, port, "/ws", { token: "not-a-jwt" }),
    rawClient(t, port, "/ws"),
    rawClient(t, port, "/ws", { token: wrongSig, header: true }),
  ];
  for (const c of rawRefused) t.equal((await c.closed).code, 4001, "raw refusal closes with 4001");
  for (const token of [wrongSig, expired, undefined]) {
    const err = await sioRefused(t, port, token === undefined ? {} : { token });
    t.equal(err.data?.code, 4001, "Socket.IO refusal carries data.code 4001");
  }
  const refusedPublish = await httpPublish(
    port,
    { room: ROOM_WB, type: "workbook.status_changed", payload: {} },
    { token: badPublish },
  );
  t.equal(refusedPublish.status, 401);

  // ---- Two clients leave: a Socket.IO socket and a raw one (close 1000).
  s4.socket.disconnect();
  r5.ws.close(1000);
  await r5.closed;

  // Settled: the refused Socket.IO sessions and the leavers are gone on the server too.
  await waitFor(async () => valueOf(await scrape(metricsPort), "calcbridge_connections") === 9, {
    timeout: WAIT_MS,
    message: "9 open connections",
  });

  // ---- Publish: 4 in-process (one to a room nobody here is in), 3 over HTTP.
  const event = (room: string, tag: string) =>
    room.startsWith("job:")
      ? {
          tenant_id: TENANT,
          room,
          type: "job.progress",
          payload: samplePayload("job.progress", tag),
        }
      : room.startsWith("workbook:")
        ? {
            tenant_id: TENANT,
            room,
            type: "workbook.status_changed",
            payload: samplePayload("workbook.status_changed", tag),
          }
        : {
            tenant_id: TENANT,
            room,
            type: "notification",
            payload: samplePayload("notification", tag),
          };
  t.equal(node.publish(event(ROOM_WB, "i1")).length, 1);
  t.equal(node.publish({ events: [event(ROOM_JOB, "i2"), event(ROOM_NOTE, "i3")] }).length, 2);
  t.equal(node.publish(event(ROOM_LONELY, "i4")).length, 1);
  const published = await httpPublish(
    port,
    { events: [event(ROOM_WB, "h1"), event(ROOM_WB, "h2"), event(ROOM_JOB, "h3")] },
    { token: pubToken },
  );
  t.equal(published.status, 202);
  t.equal(published.body["accepted"], 3);

  // Every subscriber got every event of its rooms (3 workbook, 2 job, 1 notification).
  const expected: [string, RawClient | SioClient, number][] = [
    ["r1", r1, 5],
    ["r2", r2, 3],
    ["r3", r3, 2],
    ["r4", r4, 1],
    ["s1", s1, 5],
    ["s2", s2, 3],
    ["s3", s3, 3],
    ["p1", p1, 3],
    ["p2", p2, 2],
  ];
  for (const [, c, n] of expected) await c.eventCount(n);

  // An Engine.IO session that never sends CONNECT is not a connection yet.
  const pending = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
  t.teardown(() => pending.terminate());
  const [open] = await once<[Buffer]>(pending, "message", WAIT_MS);
  t.match(open.toString(), /^0\{"sid":/, "the pending session is open (Engine.IO open packet)");

  const after = await scrape(metricsPort);
  const d = (name: string, labels: Record<string, string> = {}) =>
    delta(before, after, name, labels);

  t.strictSame(
    familyOf(after, "calcbridge_connections"),
    {
      "endpoint=socketio,protocol=socketio,transport=websocket": 3,
      "endpoint=socketio,protocol=socketio,transport=polling": 2,
      "endpoint=general,protocol=raw,transport=websocket": 1,
      "endpoint=workbook,protocol=raw,transport=websocket": 1,
      "endpoint=job,protocol=raw,transport=websocket": 1,
      "endpoint=notifications,protocol=raw,transport=websocket": 1,
    },
    "connections by protocol, transport and endpoint",
  );
  // A raw connection counts once its token is verified, a Socket.IO one once
  // its CONNECT is accepted: neither the three refused CONNECTs nor the
  // pending session count, as connects, connections or disconnects.
  t.equal(d("calcbridge_connects_total", { protocol: "raw" }), 5, "raw connects");
  t.equal(d("calcbridge_connects_total", { protocol: "socketio" }), 6, "Socket.IO connects");
  t.strictSame(
    familyOf(after, "calcbridge_disconnects_total"),
    { "protocol=raw,reason=1000": 1, "protocol=socketio,reason=transport close": 1 },
    "disconnects by protocol and reason",
  );
  const sessions = node.io.engine.sessions.size;
  pending.terminate();
  await waitFor(() => node.io.engine.sessions.size === sessions - 1, {
    timeout: WAIT_MS,
    message: "the pending session closed",
  });
  t.strictSame(
    familyOf(await scrape(metricsPort), "calcbridge_disconnects_total"),
    familyOf(after, "calcbridge_disconnects_total"),
    "its close is not a disconnect",
  );
  t.equal(valueOf(after, "calcbridge_rooms"), 3, "rooms held: workbook, job, notifications");
  t.equal(valueOf(after, "calcbridge_subscriptions", { protocol: "raw" }), 5);
  t.equal(valueOf(after, "calcbridge_subscriptions", { protocol: "socketio" }), 7);
  t.equal(d("calcbridge_events_published_total", { source: "inprocess" }), 4);
  t.equal(d("calcbridge_events_published_total", { source: "http" }), 3);
  t.equal(d("calcbridge_events_received_total"), 6, "the lonely room's event is never received");
  // frames = events x subscribers: workbook 3 x (2 raw, 3 sio), job 2 x (2, 3), notification 1 x (1, 1).
  t.equal(d("calcbridge_frames_delivered_total", { protocol: "raw" }), 3 * 2 + 2 * 2 + 1);
  t.equal(d("calcbridge_frames_delivered_total", { protocol: "socketio" }), 3 * 3 + 2 * 3 + 1);
  t.ok(d("calcbridge_bytes_delivered_total", { protocol: "raw" }) > 0, "raw bytes delivered");
  t.ok(d("calcbridge_bytes_delivered_total", { protocol: "socketio" }) > 0, "sio bytes delivered");
  t.ok(
    d("calcbridge_bytes_delivered_total", { protocol: "socketio" }) >
      d("calcbridge_bytes_delivered_total", { protocol: "raw" }),
    "more Socket.IO frames, each longer than its raw envelope",
  );

  checkHistogram(t, before, after, 6);

  t.strictSame(
    familyOf(after, "calcbridge_auth_failures_total"),
    {
      "code=4001,reason=ERR_TOKEN_MALFORMED": 1,
      "code=4001,reason=ERR_TOKEN_MISSING": 2,
      "code=4001,reason=ERR_TOKEN_INVALID": 3,
      "code=4001,reason=ERR_TOKEN_EXPIRED": 1,
    },
    "auth failures by close code and reason (raw, Socket.IO and HTTP)",
  );
  t.equal(valueOf(after, "calcbridge_bus_connected", { bus: "memory" }), 1);
  t.equal(valueOf(after, "calcbridge_ready"), 1);
  t.equal(d("calcbridge_slow_consumer_disconnects_total"), 0, "nobody was dropped as slow");
  t.equal(d("calcbridge_backpressure_drops_total"), 0);

  checkLabels(t, after, [
    TENANT,
    USER_A,
    USER_B,
    WORKBOOK,
    JOB,
    LONELY_JOB,
    ROOM_WB,
    ROOM_JOB,
    ROOM_NOTE,
    ROOM_LONELY,
    ...[ROOM_WB, ROOM_JOB, ROOM_NOTE, ROOM_LONELY].map(subjectOf),
    ...tokens,
    "svc-",
    WRONG_SECRET,
  ]);
});

t.test("without metricsPort, /metrics is on the main port", async (t) => {
  const { port } = await startNode(t, { nodeId: "ops-metrics-main" });
  const s = await scrape(port);
  t.equal(valueOf(s, "calcbridge_ready"), 1);
  t.ok(
    s.samples.every((x) => x.labels["node"] === "ops-metrics-main"),
    "every sample carries the node label",
  );
});

function checkHistogram(t: Test, before: Scrape, after: Scrape, received: number): void {
  const name = "calcbridge_publish_to_handoff_seconds";
  t.equal(after.types.get(name), "histogram");
  t.equal(delta(before, after, `${name}_count`), received, "_count grew by the events received");
  const buckets = samplesOf(after, `${name}_bucket`).map((s) => ({
    le: s.labels["le"] === "+Inf" ? Infinity : Number(s.labels["le"]),
    value: s.value,
  }));
  t.same(
    buckets.map((b) => b.le),
    [...HANDOFF_BUCKETS, Infinity],
    "one bucket per boundary, in order, then +Inf",
  );
  for (let i = 1; i < buckets.length; i++) {
    t.ok(buckets[i]!.value >= buckets[i - 1]!.value, `bucket le=${buckets[i]!.le} is cumulative`);
  }
  t.equal(buckets.at(-1)?.value, valueOf(after, `${name}_count`), "+Inf bucket = _count");
  t.ok(delta(before, after, `${name}_sum`) >= 0, "_sum did not shrink");
  t.ok(valueOf(after, `${name}_sum`) < received * 2.5, "each hand-off took under 2.5 s");
}

function checkLabels(t: Test, s: Scrape, forbidden: readonly string[]): void {
  t.ok(s.samples.length > 50, "a full scrape (custom and default metrics)");
  const leaks: string[] = [];
  const nodeless: string[] = [];
  for (const sample of s.samples) {
    if (sample.labels["node"] !== NODE_ID) nodeless.push(sample.name);
    for (const [key, value] of Object.entries(sample.labels)) {
      for (const word of forbidden) {
        if (value.includes(word)) leaks.push(`${sample.name}{${key}="${value}"} has ${word}`);
      }
    }
  }
  t.same(leaks, [], "no label value carries a room, subject, tenant, user or token");
  t.same(nodeless, [], "every sample is labelled with the node");
  // The label sets of the custom metrics are the bounded ones.
  const keys = new Map<string, Set<string>>();
  for (const sample of s.samples) {
    if (!sample.name.startsWith("calcbridge_")) continue;
    const set = keys.get(sample.name) ?? new Set<string>();
    for (const k of Object.keys(sample.labels)) set.add(k);
    keys.set(sample.name, set);
  }
  const labelsOf = (name: string) => [...(keys.get(name) ?? [])].sort();
  t.same(labelsOf("calcbridge_connections"), ["endpoint", "node", "protocol", "transport"]);
  t.same(labelsOf("calcbridge_disconnects_total"), ["node", "protocol", "reason"]);
  t.same(labelsOf("calcbridge_auth_failures_total"), ["code", "node", "reason"]);
  t.same(labelsOf("calcbridge_events_published_total"), ["node", "source"]);
  t.same(labelsOf("calcbridge_publish_to_handoff_seconds_bucket"), ["le", "node"]);
}
