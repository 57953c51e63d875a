/**
 * The CalcBridge API for the official socket.io-client: `subscribe` /
 * `unsubscribe` with acks, events named after their type, 4003 acks, bad
 * requests, the subscription limit, connect_error 4001 and shutdown.
 */
import { subjectFor } from "@calcbridge/protocol";
import { delay, waitFor } from "@calcbridge/testing";
import t from "tap";
import {
  QUIET_MS,
  WAIT_MS,
  sioConnect,
  sioRefused,
  startNode,
  tokenFor,
  within,
  type SioClient,
} from "../api-helpers.js";

const TENANT = "acme";
const USER = "u1";

function alert(room: string, tag: string, tenant = TENANT) {
  return { tenant_id: tenant, room, type: "alert", payload: { priority: "low", message: tag } };
}

/** The `message` of every alert a Socket.IO client received, in order. */
const tags = (client: SioClient): string[] =>
  client.events.map(([, env]) => (env as { payload: { message: string } }).payload.message);

for (const transport of ["websocket", "polling"] as const) {
  t.test(`subscribe, receive, unsubscribe over ${transport}`, async (t) => {
    const { node, port } = await startNode(t);
    const c = await sioConnect(t, port, {
      token: await tokenFor(USER, TENANT),
      transports: [transport],
    });
    t.equal(c.socket.io.engine.transport.name, transport);
    const rooms = ["job:j1", `workbook:${TENANT}:wb 1`, `notifications:${USER}`];
    for (const room of rooms) {
      t.same(await c.ack("subscribe", room), { ok: true, room }, `subscribe ${room}`);
    }
    t.same(await c.ack("subscribe", "job:j1"), { ok: true, room: "job:j1" }, "idempotent");
    t.ok(node.delivery.subjects().includes(subjectFor(TENANT, { kind: "job", jobId: "j1" })));

    for (const room of rooms) node.publish(alert(room, room));
    await c.eventCount(3);
    await delay(QUIET_MS);
    t.same(tags(c), rooms, "one event per room, in publish order, none doubled");
    c.events.forEach(([name, env], i) => {
      t.equal(name, "alert", "the event is named after the envelope's type");
      t.match(env, { type: "alert", room: rooms[i], payload: { priority: "low" } });
    });

    t.same(await c.ack("unsubscribe", "job:j1"), { ok: true, room: "job:j1" });
    t.notOk(
      node.delivery.subjects().includes(subjectFor(TENANT, { kind: "job", jobId: "j1" })),
      "the node dropped its interest",
    );
    node.publish(alert("job:j1", "after unsubscribe"));
    node.publish(alert(`notifications:${USER}`, "marker"));
    await c.eventCount(4);
    await delay(QUIET_MS);
    t.same(tags(c).slice(3), ["marker"], "nothing of the unsubscribed room arrives");

    c.socket.disconnect();
    await waitFor(() => node.delivery.subjects().length === 0, { message: "interest released" });
  });
}

t.test("4003: rooms of another tenant or user are refused in the ack", async (t) => {
  const { node, port } = await startNode(t);
  const c = await sioConnect(t, port, { token: await tokenFor(USER, TENANT) });
  for (const [room, reason] of [
    ["workbook:globex:wb1", /another tenant/],
    ["notifications:u2", /another user/],
  ] as const) {
    t.match(await c.ack("subscribe", room), { ok: false, code: 4003, reason }, `subscribe ${room}`);
    t.match(await c.ack("unsubscribe", room), { ok: false, code: 4003, reason });
  }
  t.equal(c.socket.connected, true, "the socket stays connected");
  t.same(node.delivery.subjects(), []);
  t.same(await c.ack("subscribe", "job:mine"), { ok: true, room: "job:mine" });
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

t.test("bad requests are answered with reasons", async (t) => {
  const { node, port } = await startNode(t);
  const c = await sioConnect(t, port, { token: await tokenFor(USER, TENANT) });
  const cases: [string, unknown[], object][] = [
    ["subscribe", [42], { ok: false, reason: "room must be a string" }],
    ["subscribe", [{ room: "job:j1" }], { ok: false, reason: "room must be a string" }],
    ["subscribe", ["sheet:1"], { ok: false, reason: /must start with "workbook:", "job:"/ }],
    ["subscribe", ["workbook:acme"], { ok: false, reason: /must have the form/ }],
    ["subscribe", ["job:"], { ok: false, reason: /job_id must not be empty/ }],
    ["unsubscribe", ["job:never"], { ok: false, reason: /not subscribed to job:never/ }],
    ["refresh", [42], { ok: false, code: 4001, reason: /refresh takes a token string/ }],
    ["refresh", [""], { ok: false, code: 4001 }],
    ["refresh", ["not-a-jwt"], { ok: false, code: 4001, reason: /malformed/ }],
  ];
  for (const [event, args, expected] of cases) {
    t.match(await c.ack(event, ...args), expected, `${event} ${JSON.stringify(args)}`);
  }
  t.equal(c.socket.connected, true);

  // Without an ack callback the request still works.
  c.socket.emit("subscribe", "job:no-ack");
  await waitFor(() =>
    node.delivery.subjects().includes(subjectFor(TENANT, { kind: "job", jobId: "no-ack" })),
  );
  node.publish(alert("job:no-ack", "arrived"));
  await c.eventCount(1);
  t.same(tags(c), ["arrived"]);
});

t.test("subscription limit", async (t) => {
  const { port } = await startNode(t, { raw: { maxSubscriptions: 2 } });
  const c = await sioConnect(t, port, { token: await tokenFor(USER, TENANT) });
  t.same(await c.ack("subscribe", "job:j1"), { ok: true, room: "job:j1" });
  t.same(await c.ack("subscribe", "job:j2"), { ok: true, room: "job:j2" });
  t.match(await c.ack("subscribe", "job:j3"), { ok: false, reason: /at most 2 rooms/ });
  t.same(await c.ack("subscribe", "job:j2"), { ok: true, room: "job:j2" }, "already in: ok");
  t.same(await c.ack("unsubscribe", "job:j1"), { ok: true, room: "job:j1" });
  t.same(await c.ack("subscribe", "job:j3"), { ok: true, room: "job:j3" });
});

t.test("connect_error with data.code 4001 for a missing or bad token", async (t) => {
  const { port } = await startNode(t);
  for (const [what, token] of [
    ["no token", undefined],
    ["empty token", ""],
    ["garbage", "garbage"],
  ] as const) {
    const err = await sioRefused(t, port, token === undefined ? {} : { token });
    t.equal(err.data?.code, 4001, `${what}: data.code 4001`);
    t.type(err.data?.reason, "string", `${what}: with a reason`);
    t.equal(err.message, err.data?.reason);
  }
});

t.test("shutdown disconnects Socket.IO clients; the WebSocket closes with 1001", async (t) => {
  const { node, port } = await startNode(t);
  const c = await sioConnect(t, port, { token: await tokenFor(USER, TENANT) });
  t.same(await c.ack("subscribe", "job:j1"), { ok: true, room: "job:j1" });
  const disconnected = new Promise<[string, unknown]>((resolve) =>
    c.socket.once("disconnect", (reason, description) => resolve([reason, description])),
  );
  await node.close();
  const got = await within(disconnected, WAIT_MS);
  t.ok(got, "disconnect event");
  const [reason, description] = got!;
  t.equal(reason, "transport close");
  t.match(description, { context: { code: 1001 } }, "close code 1001");
});

t.test(
  "a verified token is not kept: claims in socket.data, no token in handshake.auth",
  async (t) => {
    const { node, port } = await startNode(t);
    const token = await tokenFor(USER, TENANT);
    const c = await sioConnect(t, port, { token });
    const [socket] = await node.io.sockets.fetchSockets();
    t.ok(socket, "the socket is on the node");
    t.match(socket!.data, { claims: { sub: USER, tenant_id: TENANT } });
    t.same(socket!.handshake.auth, {}, "the bearer token is gone from handshake.auth");
    t.notOk(JSON.stringify(socket!.handshake).includes(token), "nor anywhere in the handshake");
    t.equal(socket!.handshake.query["EIO"], "4", "the rest of the handshake is there");
    c.socket.disconnect();
  },
);

t.test("handshake.address is known after the client has gone", async (t) => {
  const { node, port } = await startNode(t);
  const c = await sioConnect(t, port, { token: await tokenFor(USER, TENANT) });
  const [socket] = await node.io.sockets.fetchSockets();
  const gone = new Promise<string>((resolve) =>
    (socket as { on(e: string, f: () => void): void }).on("disconnect", () =>
      resolve(socket!.handshake.address),
    ),
  );
  c.socket.disconnect();
  t.equal(await within(gone, WAIT_MS), "127.0.0.1", "read in the disconnect listener");
  t.equal(socket!.handshake.address, "127.0.0.1", "and later");
});
