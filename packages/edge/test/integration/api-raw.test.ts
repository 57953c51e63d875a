/**
 * The raw CalcBridge WebSocket API over real sockets (`ws`): `/ws` subscribe
 * and unsubscribe, the auto-subscribing endpoints (ids percent-encoded in the
 * path), 4003 for rooms of others, 4008 heartbeats, malformed input, limits,
 * and 1001 on shutdown.
 */
import { subjectFor, type Room } from "@calcbridge/protocol";
import { delay, waitFor } from "@calcbridge/testing";
import t from "tap";
import {
  QUIET_MS,
  WAIT_MS,
  jobPath,
  rawClient,
  rawOpen,
  startNode,
  tokenFor,
  workbookPath,
  within,
  type RawClient,
} from "../api-helpers.js";

const TENANT = "acme";
const USER = "u1";

/** The subject (and so the delivery interest) of a room of TENANT. */
const subjectOf = (room: Room, tenant = TENANT): string => subjectFor(tenant, room);

/** Publishes an alert whose message is `tag` to `room` of `tenant`. */
function alert(room: string, tag: string, tenant = TENANT) {
  return { tenant_id: tenant, room, type: "alert", payload: { priority: "low", message: tag } };
}

/** The `message` of every alert a raw client received, in order. */
const tags = (client: RawClient): string[] =>
  client.events.map((e) => (JSON.parse(e) as { payload: { message: string } }).payload.message);

t.test("/ws: subscribe, receive, unsubscribe", async (t) => {
  const { node, port } = await startNode(t);
  const token = await tokenFor(USER, TENANT);
  // The Authorization header is the other way to pass the token.
  for (const header of [false, true]) {
    const c = await rawOpen(t, port, "/ws", { token, header });
    const rooms = ["job:j1", `workbook:${TENANT}:wb1`, `notifications:${USER}`];
    for (const room of rooms) {
      t.same(await c.request({ type: "subscribe", room }), { type: "subscribed", room });
    }
    // Subscribing again is idempotent: answered, and events are not doubled.
    t.same(await c.request({ type: "subscribe", room: "job:j1" }), {
      type: "subscribed",
      room: "job:j1",
    });
    t.same(await c.request({ type: "ping" }), { type: "pong" });
    t.ok(node.delivery.subjects().includes(subjectOf({ kind: "job", jobId: "j1" })));

    for (const room of rooms) node.publish(alert(room, room));
    await c.eventCount(3);
    await delay(QUIET_MS);
    t.same(tags(c), rooms, "one event per subscribed room, in publish order");
    for (const [i, text] of c.events.entries()) {
      t.match(JSON.parse(text), { type: "alert", room: rooms[i] });
    }

    t.same(await c.request({ type: "unsubscribe", room: "job:j1" }), {
      type: "unsubscribed",
      room: "job:j1",
    });
    t.notOk(
      node.delivery.subjects().includes(subjectOf({ kind: "job", jobId: "j1" })),
      "the node dropped its interest in the room's subject",
    );
    node.publish(alert("job:j1", "after unsubscribe"));
    node.publish(alert(`workbook:${TENANT}:wb1`, "marker"));
    await c.eventCount(4);
    await delay(QUIET_MS);
    t.same(tags(c).slice(3), ["marker"], "nothing of the unsubscribed room arrives");

    // Unsubscribing a room it is not in is refused.
    t.match(await c.request({ type: "unsubscribe", room: "job:j1" }), {
      type: "error",
      request: "unsubscribe",
      room: "job:j1",
      reason: /not subscribed to job:j1/,
    });
    t.ok(c.isOpen);
    c.ws.close();
    await c.closed;
  }
  await waitFor(() => node.delivery.subjects().length === 0, { message: "interest released" });
});

// Ids that need percent-encoding in a path, that NATS would split or treat
// as wildcards, and that a naive escape could make collide.
const IDS = [
  "wb_1",
  "wb 1",
  "a/b",
  "a.b",
  "a~2Eb",
  "x*",
  "y>",
  "k:v",
  "100%",
  "?q=1#f",
  "ü",
  "📊",
  "日本語",
];

t.test("endpoints subscribe their room on connect", async (t) => {
  const { node, port } = await startNode(t);
  const token = await tokenFor(USER, TENANT);
  const workbooks = await Promise.all(
    IDS.map((id) => rawOpen(t, port, workbookPath(id), { token })),
  );
  const jobs = await Promise.all(IDS.map((id) => rawOpen(t, port, jobPath(id), { token })));
  const notifications = await rawOpen(t, port, "/ws/notifications", { token });
  // Another user's notifications endpoint is that user's own room.
  const other = await rawOpen(t, port, "/ws/notifications", {
    token: await tokenFor("u2", TENANT),
  });

  for (const id of IDS) node.publish(alert(`workbook:${TENANT}:${id}`, `wb ${id}`));
  for (const id of IDS) node.publish(alert(`job:${id}`, `job ${id}`, TENANT));
  node.publish(alert(`notifications:${USER}`, "for u1"));
  node.publish(alert("notifications:u2", "for u2"));

  await Promise.all([...workbooks, ...jobs, notifications, other].map((c) => c.eventCount(1)));
  await delay(QUIET_MS);
  IDS.forEach((id, i) => {
    const wb = workbooks[i]!;
    const job = jobs[i]!;
    t.same(tags(wb), [`wb ${id}`], `/ws/workbooks/${encodeURIComponent(id)} got its room only`);
    t.same(JSON.parse(wb.events[0]!).room, `workbook:${TENANT}:${id}`);
    t.same(tags(job), [`job ${id}`], `/ws/jobs/${encodeURIComponent(id)} got its room only`);
    t.same(JSON.parse(job.events[0]!).room, `job:${id}`);
    t.same(wb.controls, [], "no subscribe message was needed, none was answered");
  });
  t.same(tags(notifications), ["for u1"]);
  t.same(tags(other), ["for u2"]);

  // An endpoint connection may subscribe more rooms like /ws.
  const job = jobs[0]!;
  t.same(await job.request({ type: "subscribe", room: `notifications:${USER}` }), {
    type: "subscribed",
    room: `notifications:${USER}`,
  });
  node.publish(alert(`notifications:${USER}`, "second"));
  await job.eventCount(2);
  t.same(tags(job), ["job wb_1", "second"]);
});

t.test("a path id that is not valid percent-encoding closes with 1008", async (t) => {
  const { port } = await startNode(t);
  const token = await tokenFor(USER, TENANT);
  for (const path of ["/ws/jobs/%E0%A4%A", "/ws/workbooks/%ZZ"]) {
    const c = rawClient(t, port, path, { token });
    const closed = await c.closed;
    t.equal(closed.code, 1008, `${path} closes with 1008`);
    t.match(closed.reason, /percent-encoding/, `${path}: the reason names the problem`);
  }
});

t.test("4003: rooms of another tenant or user are refused, the connection stays", async (t) => {
  const { node, port } = await startNode(t);
  const c = await rawOpen(t, port, "/ws", { token: await tokenFor(USER, TENANT) });
  const refused = [
    ["workbook:globex:wb1", /another tenant/],
    ["notifications:u2", /another user/],
  ] as const;
  for (const [room, reason] of refused) {
    t.match(
      await c.request({ type: "subscribe", room }),
      { type: "error", code: 4003, reason, request: "subscribe", room },
      `subscribe ${room} -> 4003`,
    );
  }
  t.same(await c.request({ type: "ping" }), { type: "pong" }, "still open");
  t.same(node.delivery.subjects(), [], "no subject was subscribed for the refused rooms");

  t.same(await c.request({ type: "subscribe", room: "job:mine" }), {
    type: "subscribed",
    room: "job:mine",
  });
  node.publish({
    room: "workbook:globex:wb1",
    type: "alert",
    payload: { priority: "low", message: "x" },
  });
  node.publish(alert("notifications:u2", "x"));
  node.publish(alert("job:mine", "marker"));
  await c.eventCount(1);
  await delay(QUIET_MS);
  t.same(tags(c), ["marker"]);
});

t.test("4008: a silent client is closed; pings keep a client alive", async (t) => {
  const heartbeatTimeoutMs = 300;
  const { port } = await startNode(t, { raw: { heartbeatTimeoutMs } });
  const token = await tokenFor(USER, TENANT);
  const start = Date.now();
  const [silent, jsonPinger, framePinger] = await Promise.all([
    rawOpen(t, port, "/ws", { token }),
    rawOpen(t, port, "/ws/notifications", { token }),
    rawOpen(t, port, jobPath("j1"), { token }),
  ]);
  const pongs: number[] = [];
  framePinger.ws.on("pong", () => pongs.push(Date.now()));
  const timer = setInterval(() => {
    jsonPinger.send({ type: "ping" });
    framePinger.ws.ping();
  }, heartbeatTimeoutMs / 3);
  t.teardown(() => clearInterval(timer));

  const closed = await silent.closed;
  t.equal(closed.code, 4008, "the silent client is closed with 4008");
  t.equal(closed.reason, "no heartbeat within the timeout");
  const after = closed.at - start;
  t.ok(
    after >= heartbeatTimeoutMs - 50 && after < heartbeatTimeoutMs + 1500,
    `closed after ~${heartbeatTimeoutMs} ms (${after} ms)`,
  );

  await delay(4 * heartbeatTimeoutMs);
  t.ok(jsonPinger.isOpen, '{"type":"ping"} every 100 ms keeps the connection');
  t.ok(framePinger.isOpen, "WebSocket ping frames every 100 ms keep the connection");
  t.ok(jsonPinger.controls.length > 5 && jsonPinger.controls.every((m) => m.type === "pong"));
  t.ok(pongs.length > 5, "ping frames are answered with pong frames");

  clearInterval(timer);
  const stopped = Date.now();
  for (const c of [jsonPinger, framePinger]) {
    const late = await c.closed;
    t.equal(late.code, 4008, "once the pings stop, 4008");
    t.ok(late.at - stopped < heartbeatTimeoutMs + 1500);
  }
});

t.test("malformed input: error envelopes, then 1008 after maxInvalidRequests", async (t) => {
  const maxInvalidRequests = 12;
  const { port } = await startNode(t, { raw: { maxInvalidRequests } });
  const c = await rawOpen(t, port, "/ws", { token: await tokenFor(USER, TENANT) });
  const bad: [string, unknown, RegExp][] = [
    ["non-JSON", "subscribe job:j1", /must be JSON/],
    ["truncated JSON", '{"type":"subscribe","room":', /must be JSON/],
    ["not an object", '["subscribe","job:j1"]', /must be an object/],
    ["no type", { room: "job:j1" }, /"type" must be a string/],
    ["unknown type", { type: "publish", room: "job:j1" }, /unknown request type "publish"/],
    ["missing room", { type: "subscribe" }, /"room" of a subscribe request must be a string/],
    ["room not a string", { type: "unsubscribe", room: 7 }, /"room" of a unsubscribe request/],
    [
      "bad room name",
      { type: "subscribe", room: "sheet:1" },
      /must start with "workbook:", "job:"/,
    ],
    [
      "workbook room without id",
      { type: "subscribe", room: "workbook:acme" },
      /must have the form/,
    ],
    ["empty job id", { type: "subscribe", room: "job:" }, /job_id must not be empty/],
    [
      "oversized message",
      JSON.stringify({ type: "subscribe", room: "job:j1", pad: "x".repeat(5000) }),
      /at most 4096 bytes/,
    ],
  ];
  t.equal(bad.length + 1, maxInvalidRequests, "one short of the limit, plus the binary frame");
  for (const [what, message, reason] of bad) {
    const answer = await c.request(message);
    t.match(answer, { type: "error", reason }, `${what}: error envelope with a reason`);
    t.notOk("code" in answer, `${what}: no close code in a malformed-request error`);
  }
  t.ok(c.isOpen);
  t.same(await c.request({ type: "ping" }), { type: "pong" }, "still served after 11 errors");
  // Refusals that are not malformed requests do not count toward the limit.
  t.match(await c.request({ type: "subscribe", room: "workbook:globex:w" }), { code: 4003 });

  c.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
  t.match(await c.control(), { type: "error", reason: /binary messages are not part of the API/ });
  const closed = await c.closed;
  t.equal(closed.code, 1008, `the ${maxInvalidRequests}th invalid request closes with 1008`);
  t.equal(closed.reason, "too many invalid requests");
});

t.test("a message over maxMessageBytes ends the connection", async (t) => {
  const { port } = await startNode(t, { raw: { maxMessageBytes: 8192 } });
  const c = await rawOpen(t, port, "/ws", { token: await tokenFor(USER, TENANT) });
  c.send("x".repeat(8000));
  t.match(await c.control(), { type: "error", reason: /at most 4096 bytes/ }, "below: an error");
  c.send("x".repeat(9000));
  const closed = await c.closed;
  // uWS drops the connection without a close frame (1006 at the client);
  // 1009 would be the polite answer. Either way the message is never read.
  t.ok([1006, 1009].includes(closed.code), `closed (${closed.code})`);
});

t.test("subscription limit", async (t) => {
  const { port } = await startNode(t, { raw: { maxSubscriptions: 3 } });
  // The endpoint's own room counts.
  const c = await rawOpen(t, port, jobPath("j0"), { token: await tokenFor(USER, TENANT) });
  for (const room of ["job:j1", "job:j2"]) {
    t.same(await c.request({ type: "subscribe", room }), { type: "subscribed", room });
  }
  const refused = await c.request({ type: "subscribe", room: "job:j3" });
  t.match(refused, {
    type: "error",
    reason: /at most 3 rooms/,
    request: "subscribe",
    room: "job:j3",
  });
  t.notOk("code" in refused, "a limit is not a close code: only 4001/4003 travel as codes");
  t.same(
    await c.request({ type: "subscribe", room: "job:j0" }),
    { type: "subscribed", room: "job:j0" },
    "a room it is already in is not a new subscription",
  );
  t.same(await c.request({ type: "unsubscribe", room: "job:j1" }), {
    type: "unsubscribed",
    room: "job:j1",
  });
  t.same(await c.request({ type: "subscribe", room: "job:j3" }), {
    type: "subscribed",
    room: "job:j3",
  });
  t.ok(c.isOpen);
});

t.test("1001 on shutdown and drain", async (t) => {
  const token = await tokenFor(USER, TENANT);
  {
    const { node, port } = await startNode(t);
    const clients = await Promise.all(
      ["/ws", jobPath("j1"), workbookPath("w 1"), "/ws/notifications"].map((p) =>
        rawOpen(t, port, p, { token }),
      ),
    );
    await node.close();
    for (const c of clients) {
      t.same({ ...(await c.closed), at: 0 }, { code: 1001, reason: "server shutting down", at: 0 });
    }
    t.equal(node.rawApi.connections.size, 0);
  }
  {
    const { node, port } = await startNode(t);
    const clients = await Promise.all([1, 2, 3].map(() => rawOpen(t, port, "/ws", { token })));
    await node.drain(150);
    for (const c of clients) {
      t.same({ ...(await c.closed), at: 0 }, { code: 1001, reason: "server draining", at: 0 });
    }
    const late = rawClient(t, port, "/ws", { token });
    const closed = await within(late.closed, WAIT_MS);
    t.equal(closed?.code, 1006, "a drained node takes no new connection (no WebSocket at all)");
  }
});
